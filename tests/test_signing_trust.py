"""Partner trust: pinned certificates and CAs loaded from files, and what is rejected as config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from hub.errors import ConfigError
from signing.trust import TrustStore
from tests.signing_corpus import Material, material


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return material(tmp_path_factory.mktemp("signing-keys"))


def test_folder_pins_certificates_skips_keys(keys: Material, tmp_path: Path) -> None:
    shutil.copy(keys.old.cert, tmp_path / "old.cert.pem")
    shutil.copy(keys.new.cert, tmp_path / "new.crt")
    shutil.copy(keys.new.key, tmp_path / "new.key.pem")
    store = TrustStore()

    pinned = store.pin_certificates("KE", tmp_path)

    assert pinned == 2
    assert store.get("KE").find_pinned([keys.new.certificate()]) == keys.new.certificate()


def test_der_certificate_file_is_pinned(keys: Material, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    der = tmp_path / "fr.der"
    der.write_bytes(keys.ecdsa.certificate().public_bytes(Encoding.DER))
    store = TrustStore()

    store.pin_certificates("FR", der)

    assert store.get("FR").find_pinned([keys.ecdsa.certificate()]) is not None


def test_file_without_certificate_is_rejected(keys: Material) -> None:
    with pytest.raises(ConfigError, match="not a valid PEM or DER certificate"):
        TrustStore().pin_certificates("GH", keys.rsa.key)


def test_empty_folder_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="contains no certificate"):
        TrustStore().pin_certificates("GH", tmp_path)


def test_fingerprint_ignores_colons_and_case(keys: Material) -> None:
    certificate = keys.rsa.certificate()
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    store = TrustStore()

    store.pin_fingerprint("GH", fingerprint)

    assert store.get("GH").find_pinned([certificate]) is certificate


def test_short_fingerprint_is_rejected() -> None:
    with pytest.raises(ConfigError, match="partner GH fingerprint 'ab:cd'"):
        TrustStore().pin_fingerprint("GH", "ab:cd")


def test_ca_without_expected_subject_is_rejected(keys: Material) -> None:
    with pytest.raises(ConfigError, match="partner TZ CA has no expected_subject"):
        TrustStore().add_ca("TZ", keys.ca.cert, expected_subject={})


def test_unknown_subject_attribute_is_rejected(keys: Material) -> None:
    with pytest.raises(ConfigError, match=r"unknown attribute\(s\) \['Org'\]"):
        TrustStore().add_ca("TZ", keys.ca.cert, expected_subject={"Org": "Wildlife Division"})


def test_ca_file_with_a_signer_certificate_is_rejected(keys: Material) -> None:
    with pytest.raises(ConfigError, match="non-CA certificate"):
        TrustStore().add_ca("TZ", keys.issued.cert, expected_subject={"C": "TZ"})


def test_ca_vouches_only_for_the_expected_subject(keys: Material) -> None:
    store = TrustStore()
    store.add_ca("TZ", keys.ca.cert, expected_subject={"C": "TZ", "O": "Wildlife Division"})
    trust = store.get("TZ")

    issued = trust.find_issued_leaf([keys.issued.certificate()])
    other = trust.find_issued_leaf([keys.issued_other.certificate()])

    assert issued == keys.issued.certificate()
    assert other is None


def test_ca_certificate_is_never_the_signer(keys: Material) -> None:
    store = TrustStore()
    store.add_ca("TZ", keys.ca.cert, expected_subject={"C": "TZ"})

    leaf = store.get("TZ").find_issued_leaf([keys.ca.certificate()])

    assert leaf is None
