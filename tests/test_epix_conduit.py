"""The EPIX conduit simulator: caller and callee checks, access, and forwarding to a Party's national service."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.epix import (
    EpixClient,
    FaultCode,
    PartnerFault,
    PermitReference,
    Position,
    QuantitiesConfirmation,
    SubjectHeader,
    TlsIdentity,
)
from adapters.epix.certificates import CONDUIT_COMMON_NAME, loopback_certificates
from adapters.epix.simulator import EpixConduit, PartnerService, one_line_dn
from mappings import citesepermit
from tests.factories import make_permit

PERMIT = PermitReference("FR", "FR2026000123", "S0042")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return loopback_certificates(tmp_path_factory.mktemp("tls"), parties=("XB", "XC", "XD"))


def partner_service(tls, subject_header=True):
    header = SubjectHeader(proxy_common_names=frozenset({CONDUIT_COMMON_NAME})) if subject_header else None
    service = PartnerService("FR", cert=tls.server.cert, key=tls.server.key, ca=tls.ca, subject_header=header)
    service.start()
    service.store.add(citesepermit.to_xml(make_permit(number=PERMIT.number)))
    return service


@pytest.fixture
def conduit(tls):
    service = partner_service(tls)
    conduit = EpixConduit(cert=tls.server.cert, key=tls.server.key, ca=tls.ca, client_cert=tls.conduit.cert,
                          client_key=tls.conduit.key)
    conduit.start()
    conduit.register("FR", service.url, callers=["XB"])
    conduit.register("XB")
    conduit.register("XC")
    yield conduit, service
    conduit.stop()
    service.stop()


def client_of(tls, conduit, party="XB"):
    identity = TlsIdentity(cert=tls.parties[party].cert, key=tls.parties[party].key, ca=tls.ca)
    return EpixClient(conduit.url, identity, timeout_seconds=5)


def test_call_is_forwarded_to_the_callee(tls, conduit):
    conduit, service = conduit

    fetched = client_of(tls, conduit).get_certificate(PERMIT)

    assert citesepermit.from_bytes(fetched.document).number == PERMIT.number
    assert [(c.caller, c.callee, c.operation, c.status) for c in conduit.calls()] == [
        ("XB", "FR", "GetNonFinalCitesCertificate", 200)]


def test_callee_learns_the_calling_party(tls, conduit):
    conduit, service = conduit
    confirmation = QuantitiesConfirmation(PERMIT, (Position("A", Decimal("12")),))

    client_of(tls, conduit).confirm_quantities(confirmation)

    assert b"<x:InspectingCountryID>XB</x:InspectingCountryID>" in service.store.confirmations[0][1]


def test_unregistered_caller_is_caller_not_found(tls, conduit):
    conduit, service = conduit

    with pytest.raises(PartnerFault) as caught:
        client_of(tls, conduit, party="XD").get_certificate(PERMIT)

    assert caught.value.code == FaultCode.CALLER_NOT_FOUND.value
    assert caught.value.transient is False


def test_party_without_a_service_is_callee_not_found(tls, conduit):
    conduit, service = conduit

    with pytest.raises(PartnerFault) as caught:
        client_of(tls, conduit).get_certificate(PermitReference("XC", "XC1"))

    assert caught.value.code == FaultCode.CALLEE_NOT_FOUND.value
    assert caught.value.transient is False


def test_caller_without_access_is_adapter_not_available(tls, conduit):
    conduit, service = conduit

    with pytest.raises(PartnerFault) as caught:
        client_of(tls, conduit, party="XC").get_certificate(PERMIT)

    assert caught.value.code == FaultCode.ADAPTER_NOT_AVAILABLE.value
    assert caught.value.transient is True


def test_callee_down_is_adapter_not_available(tls, conduit):
    conduit, service = conduit
    service.stop()

    with pytest.raises(PartnerFault) as caught:
        client_of(tls, conduit).get_certificate(PERMIT)

    assert caught.value.code == FaultCode.ADAPTER_NOT_AVAILABLE.value
    assert caught.value.transient is True


def test_callee_without_subject_header_sees_no_party(tls):
    service = partner_service(tls, subject_header=False)
    conduit = EpixConduit(cert=tls.server.cert, key=tls.server.key, ca=tls.ca, client_cert=tls.conduit.cert,
                          client_key=tls.conduit.key)
    conduit.start()
    conduit.register("FR", service.url)
    conduit.register("XB")

    with pytest.raises(PartnerFault) as caught:
        client_of(tls, conduit).get_certificate(PERMIT)
    conduit.stop()
    service.stop()

    assert caught.value.code == FaultCode.CERTIFICATE_MISSING.value


def test_subject_is_forwarded_in_openssl_one_line_form():
    assert one_line_dn({"CN": "Management Authority of XB", "C": "XB"}) == "/C=XB/CN=Management Authority of XB"
