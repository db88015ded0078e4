"""The EPIX client against a partner Party's simulated service: real responses, faults and broken partners."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.epix import (
    EpixClient,
    FaultCode,
    MalformedResponse,
    PartnerFault,
    PermitReference,
    Position,
    QuantitiesConfirmation,
    TlsIdentity,
)
from adapters.epix.certificates import loopback_certificates
from adapters.epix.client import LocalSchemaTransport, RequestHeaders
from adapters.epix.simulator import PartnerService
from hub.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from mappings import cbfship, citesepermit
from signing.keys import KeyStore, new_key_pair
from signing.signer import Signer
from tests.factories import make_permit

V2 = "epix_v2_GetNonFinalCitesCertificateResponse_CITESEPermit.xml"
V1 = "epix_v1_GetNonFinalCitesCertificateResponse_CBFShip.xml"
SOAP = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:v2="urn:CitesDataExchange/v2/"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>')
TIMEOUT_SECONDS = 0.5
MARGIN_SECONDS = 1.0


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return loopback_certificates(tmp_path_factory.mktemp("tls"), parties=("XB",))


@pytest.fixture
def partner(tls):
    service = PartnerService("FR", cert=tls.server.cert, key=tls.server.key, ca=tls.ca)
    service.start()
    service.store.add(citesepermit.to_xml(make_permit(number="FR2026000123")))
    yield service
    service.stop()


@pytest.fixture
def client(tls, partner):
    identity = TlsIdentity(cert=tls.parties["XB"].cert, key=tls.parties["XB"].key, ca=tls.ca)
    client = EpixClient(partner.url, identity, timeout_seconds=TIMEOUT_SECONDS)
    yield client
    client.close()


FR_PERMIT = PermitReference("FR", "FR2026000123", "S0042")


# -- real responses --------------------------------------------------------------------------------


def test_real_v2_response_is_read(client, partner, shared_data: Path):
    real = (shared_data / "epix" / V2).read_bytes()
    partner.respond_next(real)

    fetched = client.get_certificate(PermitReference("XA", "XA000000"))

    assert fetched.version == 2
    assert fetched.signed is False
    assert citesepermit.from_bytes(fetched.document) == citesepermit.from_bytes(real)


def test_real_v1_response_is_read_as_cbfship(client, partner, shared_data: Path):
    real = (shared_data / "epix" / V1).read_bytes()
    partner.respond_next(real)

    fetched = client.get_certificate(PermitReference("XA", "XA000000"))

    assert fetched.version == 1
    assert cbfship.from_bytes(fetched.document) == cbfship.from_bytes(real)


def test_permit_from_the_partner_store_is_read(client):
    fetched = client.get_certificate(FR_PERMIT)

    assert citesepermit.from_bytes(fetched.document) == make_permit(number="FR2026000123")


def test_permit_number_must_be_the_one_asked_for(client, partner, shared_data: Path):
    partner.respond_next((shared_data / "epix" / V2).read_bytes())

    with pytest.raises(PermanentDeliveryError, match="'XA000000'; expected 'XA999'"):
        client.get_certificate(PermitReference("XA", "XA999"))


def test_confirmation_receipt_carries_the_message_id_sent(client, partner):
    confirmation = QuantitiesConfirmation(FR_PERMIT, (Position("A", Decimal("12")),))

    receipt = client.confirm_quantities(confirmation, headers=RequestHeaders(message_id="7b0c8f3e-5d8e-4a4b-9c53-0b1f2f0e8a11"))

    assert receipt.status == "accepted"
    assert receipt.message_id == "7b0c8f3e-5d8e-4a4b-9c53-0b1f2f0e8a11"
    assert partner.store.confirmations[0][0] == "party-fr"


# -- faults -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, transient", [
    ("AdapterNotAvailable", True),
    ("CertificateMissing", False),
    ("CallerNotFound", False),
    ("CalleeNotFound", False),
])
def test_epix_fault_is_read_from_its_faultstring(client, partner, code, transient):
    fault = (b"<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>%s</faultstring>"
             b"</soapenv:Fault>" % code.encode())
    partner.respond_next(SOAP % fault, status=500)

    with pytest.raises(PartnerFault, match=code) as caught:
        client.get_certificate(FR_PERMIT)

    assert caught.value.code == code
    assert caught.value.transient is transient


def test_unknown_server_fault_is_transient(client, partner):
    fault = b"<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>Something went wrong</faultstring></soapenv:Fault>"
    partner.respond_next(SOAP % fault, status=500)

    with pytest.raises(PartnerFault, match="Something went wrong") as caught:
        client.get_certificate(FR_PERMIT)

    assert caught.value.code == "Server"
    assert caught.value.transient is True


def test_unknown_client_fault_is_permanent(client, partner):
    fault = (b"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>XML structure is not valid. "
             b"ID must be a token</faultstring></soapenv:Fault>")
    partner.respond_next(SOAP % fault, status=500)

    with pytest.raises(PartnerFault, match="ID must be a token") as caught:
        client.get_certificate(FR_PERMIT)

    assert caught.value.transient is False


def test_unsigned_fault_to_signed_request(client, partner, tmp_path):
    keys = KeyStore()
    keys.add("XB", *new_key_pair("XB", tmp_path / "keys"))
    confirmation = QuantitiesConfirmation(FR_PERMIT, (Position("A", Decimal("12")),))
    signed = Signer(keys).sign(confirmation.to_xml(), "XB")
    fault = b"<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>CallerNotFound</faultstring></soapenv:Fault>"
    partner.respond_next(SOAP % fault, status=500)

    with pytest.raises(PartnerFault) as caught:
        client.confirm_quantities(confirmation, headers=RequestHeaders(signed_document=signed))

    assert caught.value.code == FaultCode.CALLER_NOT_FOUND.value
    assert caught.value.transient is False


# -- broken partners ----------------------------------------------------------------------------------


def test_partner_down_is_transient(client, partner):
    partner.fail_next(1, 503, b"<html>Service Unavailable</html>")

    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        client.get_certificate(FR_PERMIT)


def test_partner_up_again_serves_the_retry(client, partner):
    partner.fail_next(1, 502)
    with pytest.raises(TransientDeliveryError):
        client.get_certificate(FR_PERMIT)

    fetched = client.get_certificate(FR_PERMIT)

    assert fetched.version == 2


def test_stopped_partner_is_transient(client, partner):
    partner.stop()

    with pytest.raises(TransientDeliveryError, match="failed"):
        client.get_certificate(FR_PERMIT)


def test_slow_partner_times_out_promptly(client, partner):
    partner.delay_seconds = TIMEOUT_SECONDS + 2 * MARGIN_SECONDS

    started = time.monotonic()
    with pytest.raises(TransientDeliveryError, match="no response within 0.5 s"):
        client.get_certificate(FR_PERMIT)

    assert time.monotonic() - started < TIMEOUT_SECONDS + MARGIN_SECONDS


@pytest.mark.parametrize("body, status", [
    (b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body>", 200),
    (b"not xml at all", 200),
    (b"", 200),
    (b"<html><body>hello</body></html>", 200),
    (b"<env:Envelope xmlns:env='http://www.w3.org/2003/05/soap-envelope'><env:Body/></env:Envelope>", 200),
    (SOAP % b"<v2:ServiceStateResponse><State>available</State></v2:ServiceStateResponse>", 200),
    (SOAP % b"<v2:GetNonFinalCitesCertificateResponse><Composite>false</Composite>"
            b"</v2:GetNonFinalCitesCertificateResponse>", 200),
    (SOAP % b"<v2:GetNonFinalCitesCertificateResponse><CITESEPermit/><Unexpected/>"
            b"</v2:GetNonFinalCitesCertificateResponse>", 200),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', 200),
], ids=["truncated", "not-xml", "empty", "html", "soap-1.2", "other-operation", "no-permit", "unexpected-element",
        "dtd"])
def test_malformed_response_is_rejected(client, partner, body, status):
    partner.respond_next(body, status=status)

    with pytest.raises(MalformedResponse):
        client.get_certificate(FR_PERMIT)


def test_oversized_response_is_rejected_unread(tls, partner):
    identity = TlsIdentity(cert=tls.parties["XB"].cert, key=tls.parties["XB"].key, ca=tls.ca)
    small = EpixClient(partner.url, identity, timeout_seconds=5, max_response_bytes=1024)

    with pytest.raises(MalformedResponse, match="exceeds 1024 bytes"):
        small.get_certificate(FR_PERMIT)
    small.close()


def test_server_certificate_from_another_ca_is_rejected(tls, partner, tmp_path):
    other = loopback_certificates(tmp_path / "other", parties=("XB",))
    identity = TlsIdentity(cert=tls.parties["XB"].cert, key=tls.parties["XB"].key, ca=other.ca)
    client = EpixClient(partner.url, identity, timeout_seconds=5)

    with pytest.raises(PermanentDeliveryError, match="TLS handshake"):
        client.get_certificate(FR_PERMIT)
    client.close()


# -- configuration ----------------------------------------------------------------------------------


def test_plain_http_url_is_rejected(tls):
    identity = TlsIdentity(cert=tls.parties["XB"].cert, key=tls.parties["XB"].key, ca=tls.ca)

    with pytest.raises(ConfigError, match="https://"):
        EpixClient("http://127.0.0.1:9/cites-data-exchange/v2", identity)


@pytest.mark.parametrize("location", [
    "https://schemas.example.org/CitesDataExchange_2.wsdl",
    "http://127.0.0.1:9/CITESEPermit_2.xsd",
    "ftp://127.0.0.1/x.xsd",
    "/etc/hostname",
    "file:///etc/hostname",
])
def test_schemas_load_from_the_schema_folder_only(location):
    transport = LocalSchemaTransport(None, timeout_seconds=1, max_response_bytes=1024)

    with pytest.raises(ConfigError, match="schema"):
        transport.load(location)
