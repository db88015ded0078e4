"""Certificate expiry gauge: computed at scrape time, the last-expiring certificate counts."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from signing import metrics
from signing.trust import TrustStore
from tests.signing_corpus import NOW, Material, material


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return material(tmp_path_factory.mktemp("signing-keys"))


def test_expiry_follows_last_expiring_certificate(keys: Material) -> None:
    metrics.observe_expiry("test-rotation", keys.old.certificate())
    metrics.observe_expiry("test-rotation", keys.new.certificate())

    seconds = metrics.seconds_until_expiry("test-rotation", now=NOW)

    assert seconds == (keys.new.certificate().not_valid_after_utc - NOW).total_seconds()


def test_expiry_gauge_is_exported_per_partner(keys: Material) -> None:
    TrustStore().pin_certificates("test-export", keys.ecdsa.cert)

    value = REGISTRY.get_sample_value("cites_hub_certificate_expiry_seconds", {"partner": "test-export"})

    assert timedelta(days=363).total_seconds() < value < timedelta(days=365).total_seconds()


def test_partner_without_certificate_has_no_expiry() -> None:
    seconds = metrics.seconds_until_expiry("test-nobody")

    assert math.isnan(seconds)
