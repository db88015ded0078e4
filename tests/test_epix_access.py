"""The access list of our national service: which calling Parties may call which operations."""

from __future__ import annotations

import pytest

from adapters.epix import AccessList, FaultCode, Operation
from adapters.epix.soap import EpixFault
from hub.errors import ConfigError

CONFIG = {
    "callers": {
        "XB": {"partner": "party-xb"},
        "XC": {"operations": ["ServiceState"]},
    },
    "blanket": ["ServiceState"],
}


@pytest.fixture
def access():
    return AccessList.from_config(CONFIG, default_partner="epix")


def test_listed_party_gets_its_partner(access):
    rule = access.check("XB", Operation.CONFIRM_QUANTITIES)

    assert rule.partner == "party-xb"


def test_party_without_partner_gets_the_default(access):
    assert access.check("XC", Operation.SERVICE_STATE).partner == "epix"


def test_unlisted_party_is_caller_not_found(access):
    with pytest.raises(EpixFault, match="'XD'") as caught:
        access.check("XD", Operation.GET_NON_FINAL)

    assert caught.value.code is FaultCode.CALLER_NOT_FOUND


def test_blanket_operation_admits_any_party(access):
    rule = access.check("XD", Operation.SERVICE_STATE)

    assert (rule.country, rule.partner) == ("XD", "epix")


def test_operation_not_granted_is_rejected(access):
    with pytest.raises(EpixFault, match="may call: ServiceState") as caught:
        access.check("XC", Operation.GET_FINAL)

    assert caught.value.code is FaultCode.OPERATION_NOT_ALLOWED


def test_unknown_operation_in_the_config_is_rejected():
    with pytest.raises(ConfigError, match="GetEverything"):
        AccessList.from_config({"callers": {"XB": {"operations": ["GetEverything"]}}}, default_partner="epix")


def test_caller_not_iso_code_is_rejected():
    with pytest.raises(ConfigError, match="'France'"):
        AccessList.from_config({"callers": {"France": {}}}, default_partner="epix")
