"""Our national EPIX service serving a hub's journal, called by our client over mutual TLS on loopback."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lxml import etree

from adapters.epix import (
    SERVICE_PATH,
    AccessList,
    CallerRule,
    EpixClient,
    FaultCode,
    Operation,
    PartnerFault,
    PermitReference,
    Position,
    QuantitiesConfirmation,
    TlsIdentity,
    create_service,
    serve_tls,
)
from adapters.epix.certificates import loopback_certificates
from adapters.epix.client import RequestHeaders
from adapters.epix.service import unqualified_permit
from adapters.epix.soap import schema_errors
from adapters.epix.tls import client_ssl_context
from hub import safexml
from hub.config import from_dict
from hub.errors import ConfigError
from hub.permit import Address, Endorsement, Quantity, Signatory, TradeParty
from hub.runtime import Hub
from mappings import cbfship, citesepermit
from signing.keys import KeyStore, new_key_pair
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import Verifier
from tests.factories import make_item, make_permit

PERMIT_TYPES = ["permit.issued", "permit.amended", "permit.cancelled", "permit.replaced"]
NUMBER = "XA2026000002"
TOKEN = "S7731"


def xa_permit(number=NUMBER, token=TOKEN, **changes):
    authority = TradeParty(name="Management Authority of XA", address=Address(country="XA"))
    values = dict(
        exporter=TradeParty(name="Exporter XA", address=Address(country="XA")),
        importer=TradeParty(name="Importer XB", address=Address(country="XB")),
        signatories=[Signatory(role="A", id=token, party=authority)],
        items=[make_item("A"), make_item("B", term="LIV")],
    )
    return make_permit(number=number, **{**values, **changes})


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return loopback_certificates(tmp_path_factory.mktemp("tls"), parties=("XA", "XB", "XC", "XD"))


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signing")
    return {"XA": new_key_pair("XA", folder / "xa"), "XB": new_key_pair("XB", folder / "xb")}


def service_config(tmp_path, signing, *, party_xb=None, permit_store=None):
    partners = {
        "permit-store": {"adapter": "stub", "may_send": PERMIT_TYPES, **(permit_store or {})},
        "customs": {"adapter": "stub", "may_send": ["permit.endorsed"]},
        "party-xb": {"adapter": "stub", "party": "XB", "may_send": ["permit.quantities_confirmed"], **(party_xb or {})},
    }
    return from_dict({
        "party": "XA",
        "data_dir": str(tmp_path / "data"),
        "broker": {"url": "memory://", "namespace": f"t{uuid.uuid4().hex[:12]}"},
        "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite3'}"},
        "keys": [{"party": "XA", "key": str(signing["XA"][0]), "cert": str(signing["XA"][1])}],
        "partners": partners,
        "routes": [],
    })


@pytest.fixture
def make_service(tmp_path, tls, signing):
    """Start a hub of Party XA and its service; XB may call everything, XC only ServiceState, XD nothing."""
    started = []

    def make(**profiles):
        hub = Hub(service_config(tmp_path, signing, **profiles))
        hub.start(deliver=False, sweep=False, amqp_ingress=False)
        access = AccessList([CallerRule("XB", frozenset(Operation), "party-xb"),
                             CallerRule("XC", frozenset({Operation.SERVICE_STATE}), "party-xb")])
        server = serve_tls(create_service(hub, access), "127.0.0.1", 0, cert=tls.server.cert, key=tls.server.key,
                           ca=tls.ca)
        started.append((hub, server))
        return hub, server.url + SERVICE_PATH

    yield make
    for hub, server in started:
        server.stop()
        hub.stop()


@pytest.fixture
def service(make_service):
    return make_service()


def client_of(tls, url, party="XB"):
    identity = TlsIdentity(cert=tls.parties[party].cert, key=tls.parties[party].key, ca=tls.ca)
    return EpixClient(url, identity, timeout_seconds=5)


def seed(hub, payload, message_type="permit.issued", sender="permit-store"):
    result = hub.ingress.receive(payload, message_type=message_type, sender=sender, channel="test")
    assert result.accepted, result.findings
    return result


def permit_element(shared_data: Path, name: str, root: str, namespace: str) -> bytes:
    document = safexml.parse((shared_data / "epix" / name).read_bytes())
    return etree.tostring(citesepermit.find_root_element(document, root, namespace))


def exclusive_c14n(document: bytes) -> bytes:
    return etree.tostring(safexml.parse(document), method="c14n", exclusive=True)


def fault_code(call) -> str:
    with pytest.raises(PartnerFault) as caught:
        call()
    return caught.value.code


# -- the real EPIX messages ---------------------------------------------------------------------


def test_real_v2_permit_is_served_and_read_back(service, tls, shared_data):
    hub, url = service
    real = "epix_v2_GetNonFinalCitesCertificateResponse_CITESEPermit.xml"
    seed(hub, permit_element(shared_data, real, "CITESEPermit", citesepermit.NAMESPACE))

    fetched = client_of(tls, url).get_certificate(PermitReference("XA", "XA000000"))

    assert fetched.version == 2
    assert citesepermit.from_bytes(fetched.document) == citesepermit.from_bytes((shared_data / "epix" / real).read_bytes())


def test_real_v1_permit_is_served_as_v2(service, tls, shared_data):
    hub, url = service
    real = "epix_v1_GetNonFinalCitesCertificateResponse_CBFShip.xml"
    seed(hub, permit_element(shared_data, real, "CBFShip", cbfship.NAMESPACE))

    fetched = client_of(tls, url).get_certificate(PermitReference("XA", "XA000000"))

    assert fetched.version == 2
    assert citesepermit.from_bytes(fetched.document) == cbfship.from_bytes((shared_data / "epix" / real).read_bytes())


def test_response_is_valid_against_the_wsdl_types(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))
    request = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
               b'xmlns:v2="urn:CitesDataExchange/v2/"><soapenv:Body><v2:GetNonFinalCitesCertificateRequest>'
               b'<CertificateNumber>' + NUMBER.encode() + b'</CertificateNumber><TokenId>' + TOKEN.encode() +
               b'</TokenId><IsoCountryCode>XA</IsoCountryCode></v2:GetNonFinalCitesCertificateRequest>'
               b'</soapenv:Body></soapenv:Envelope>')

    response = post(tls, url, request, "urn:GetNonFinalCitesCertificate")

    assert response.status_code == 200
    body = safexml.parse(response.content).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert schema_errors(body[0]) == []


def post(tls, url, body, action, party="XB"):
    context = client_ssl_context(tls.ca, tls.parties[party].cert, tls.parties[party].key)
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action}
    return httpx.post(url, content=body, headers=headers, verify=context, timeout=5)


# -- certificates ---------------------------------------------------------------------------------


def test_stamped_permit_served_with_token(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))

    fetched = client_of(tls, url).get_certificate(PermitReference("XA", NUMBER, TOKEN))

    assert fetched.final is False
    assert safexml.localname(safexml.parse(fetched.document)) == "CITESEPermit"
    assert safexml.namespace(safexml.parse(fetched.document)) is None
    assert citesepermit.from_bytes(fetched.document) == xa_permit()


def test_unknown_permit_is_certificate_not_found(service, tls):
    hub, url = service

    with pytest.raises(PartnerFault, match="XA/XA-NOT-ISSUED") as caught:
        client_of(tls, url).get_certificate(PermitReference("XA", "XA-NOT-ISSUED"))

    assert caught.value.code == FaultCode.CERTIFICATE_NOT_FOUND.value
    assert caught.value.transient is False


def test_wrong_token_is_rejected(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))

    with pytest.raises(PartnerFault, match="TokenId does not match") as caught:
        client_of(tls, url).get_certificate(PermitReference("XA", NUMBER, "S0000"))

    assert caught.value.code == FaultCode.INVALID_TOKEN.value
    assert caught.value.transient is False


def test_missing_token_is_rejected(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))

    with pytest.raises(PartnerFault, match="TokenId is missing"):
        client_of(tls, url).get_certificate(PermitReference("XA", NUMBER))


def test_final_certificate_is_missing_before_endorsement(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))

    with pytest.raises(PartnerFault, match="no final certificate yet") as caught:
        client_of(tls, url).get_certificate(PermitReference("XA", NUMBER, TOKEN), final=True)

    assert caught.value.code == FaultCode.CERTIFICATE_MISSING.value


def test_final_certificate_is_the_latest_endorsement(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))
    endorsed = xa_permit(items=[make_item("A", exported_quantity=Quantity(value=Decimal("7"))), make_item("B", term="LIV")],
                         endorsement=Endorsement(port="XAPRT"))
    seed(hub, citesepermit.to_xml(endorsed), "permit.endorsed", "customs")

    fetched = client_of(tls, url).get_certificate(PermitReference("XA", NUMBER, TOKEN), final=True)

    assert fetched.final is True
    assert citesepermit.from_bytes(fetched.document) == endorsed


def test_cancelled_permit_is_not_served(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))
    seed(hub, citesepermit.to_xml(xa_permit()), "permit.cancelled")

    with pytest.raises(PartnerFault, match="cancelled") as caught:
        client_of(tls, url).get_certificate(PermitReference("XA", NUMBER, TOKEN))

    assert caught.value.code == FaultCode.CERTIFICATE_NOT_VALID.value


def test_permit_of_another_party_is_callee_not_found(service, tls):
    hub, url = service

    code = fault_code(lambda: client_of(tls, url).get_certificate(PermitReference("XZ", NUMBER)))

    assert code == FaultCode.CALLEE_NOT_FOUND.value


def test_served_permit_signed_for_signing_partner(make_service, tls, signing):
    hub, url = make_service(party_xb={"sign_outbound": True})
    seed(hub, citesepermit.to_xml(xa_permit()))
    trust = TrustStore()
    trust.pin_certificates("XA", signing["XA"][1])

    fetched = client_of(tls, url).get_certificate(PermitReference("XA", NUMBER, TOKEN))

    assert fetched.signed is True
    assert Verifier(trust).verify(fetched.document, "XA").signer_subject.endswith("C=XA")


def test_journaled_signed_permit_is_served_as_received(make_service, tls, signing):
    hub, url = make_service(permit_store={"verify_inbound": True, "trust": {"certificates": [str(signing["XA"][1])]}})
    keys = KeyStore()
    keys.add("XA", *signing["XA"])
    signed = Signer(keys).sign(citesepermit.to_xml(xa_permit()), "XA")
    seed(hub, signed)
    trust = TrustStore()
    trust.pin_certificates("XA", signing["XA"][1])

    fetched = client_of(tls, url).get_certificate(PermitReference("XA", NUMBER, TOKEN))

    assert fetched.signed is True
    assert fetched.document == signed


# -- access -----------------------------------------------------------------------------------------


def test_unlisted_caller_is_caller_not_found(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))

    with pytest.raises(PartnerFault, match="'XD'") as caught:
        client_of(tls, url, party="XD").get_certificate(PermitReference("XA", NUMBER, TOKEN))

    assert caught.value.code == FaultCode.CALLER_NOT_FOUND.value
    assert caught.value.transient is False


def test_operation_not_granted_is_rejected(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))

    with pytest.raises(PartnerFault, match="may call: ServiceState") as caught:
        client_of(tls, url, party="XC").get_certificate(PermitReference("XA", NUMBER, TOKEN))

    assert caught.value.code == FaultCode.OPERATION_NOT_ALLOWED.value


def test_service_state_is_available(service, tls):
    hub, url = service

    report = client_of(tls, url, party="XC").service_state("XA")

    assert report.state == "available"
    assert report.party == "XA"


def test_service_needs_our_party(tmp_path, signing):
    config = service_config(tmp_path, signing)
    config.party = None
    hub = Hub(config)

    with pytest.raises(ConfigError, match="party"):
        create_service(hub, AccessList([]))
    hub.stop()


# -- requests ---------------------------------------------------------------------------------------


def test_malformed_request_is_invalid_request(service, tls):
    hub, url = service

    response = post(tls, url, b"<soapenv:Envelope><unclosed>", "urn:ServiceState")

    assert response.status_code == 500
    assert b"InvalidRequest" in response.content


def test_request_with_a_dtd_is_invalid_request(service, tls):
    hub, url = service
    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><soapenv:Envelope '
            b'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&e;</soapenv:Body>'
            b'</soapenv:Envelope>')

    response = post(tls, url, body, "urn:ServiceState")

    assert response.status_code == 500
    assert b"InvalidRequest" in response.content
    assert b"boom" not in response.content


def test_soap_action_must_match_the_body(service, tls):
    hub, url = service
    body = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            b'xmlns:v2="urn:CitesDataExchange/v2/"><soapenv:Body><v2:ServiceStateRequest/></soapenv:Body>'
            b'</soapenv:Envelope>')

    response = post(tls, url, body, "urn:ConfirmQuantities")

    assert response.status_code == 500
    assert b"SOAPAction" in response.content


# -- quantities ---------------------------------------------------------------------------------------


def test_confirmed_quantities_are_journaled_from_the_callers_partner(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))
    confirmation = QuantitiesConfirmation(PermitReference("XA", NUMBER, TOKEN), (Position("A", Decimal("11.5")),))

    receipt = client_of(tls, url).confirm_quantities(confirmation)

    record = hub.journal.get_message(receipt.message_id)
    assert record.envelope.message_type.value == "permit.quantities_confirmed"
    assert record.envelope.sender == "party-xb"
    assert record.envelope.permit == f"XA/{NUMBER}"
    assert b"<x:InspectingCountryID>XB</x:InspectingCountryID>" in record.payload
    assert hub.journal.permit_state("XA", NUMBER) == "quantities_confirmed"


def test_repeated_confirmation_recorded_once(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))
    confirmation = QuantitiesConfirmation(PermitReference("XA", NUMBER, TOKEN), (Position("B", Decimal("3")),))
    headers = RequestHeaders(message_id=str(uuid.uuid4()))
    client = client_of(tls, url)

    first = client.confirm_quantities(confirmation, headers=headers)
    again = client.confirm_quantities(confirmation, headers=headers)

    assert first.message_id == again.message_id == headers.message_id
    confirmations = [m for m in hub.journal.messages_for_permit("XA", NUMBER)
                     if m.envelope.message_type.value == "permit.quantities_confirmed"]
    assert len(confirmations) == 1


def test_unknown_position_is_rejected(service, tls):
    hub, url = service
    seed(hub, citesepermit.to_xml(xa_permit()))
    confirmation = QuantitiesConfirmation(PermitReference("XA", NUMBER, TOKEN), (Position("Q", Decimal("1")),))

    with pytest.raises(PartnerFault, match="'Q' is not a position") as caught:
        client_of(tls, url).confirm_quantities(confirmation)

    assert caught.value.code == FaultCode.UNKNOWN_POSITION.value


def test_unsigned_confirmation_is_rejected_when_required(make_service, tls, signing):
    hub, url = make_service(party_xb={"verify_inbound": True, "trust": {"certificates": [str(signing["XB"][1])]}})
    seed(hub, citesepermit.to_xml(xa_permit()))
    confirmation = QuantitiesConfirmation(PermitReference("XA", NUMBER, TOKEN), (Position("A", Decimal("1")),))

    with pytest.raises(PartnerFault, match="SignedDocument") as caught:
        client_of(tls, url).confirm_quantities(confirmation)

    assert caught.value.code == FaultCode.SIGNATURE_REJECTED.value
    assert hub.journal.permit_state("XA", NUMBER) == "issued"


def test_signed_confirmation_is_journaled_as_signed(make_service, tls, signing):
    hub, url = make_service(party_xb={"verify_inbound": True, "trust": {"certificates": [str(signing["XB"][1])]}})
    seed(hub, citesepermit.to_xml(xa_permit()))
    confirmation = QuantitiesConfirmation(PermitReference("XA", NUMBER, TOKEN), (Position("A", Decimal("1")),))
    keys = KeyStore()
    keys.add("XB", *signing["XB"])
    signed = Signer(keys).sign(confirmation.to_xml(), "XB")

    receipt = client_of(tls, url).confirm_quantities(confirmation, headers=RequestHeaders(signed_document=signed))

    record = hub.journal.get_message(receipt.message_id)
    assert record.envelope.signature_state == "verified"
    assert exclusive_c14n(record.payload) == exclusive_c14n(signed)


def test_signed_document_must_match_the_body(make_service, tls, signing):
    hub, url = make_service(party_xb={"verify_inbound": True, "trust": {"certificates": [str(signing["XB"][1])]}})
    seed(hub, citesepermit.to_xml(xa_permit()))
    signed_positions = QuantitiesConfirmation(PermitReference("XA", NUMBER, TOKEN), (Position("A", Decimal("99")),))
    keys = KeyStore()
    keys.add("XB", *signing["XB"])
    signed = Signer(keys).sign(signed_positions.to_xml(), "XB")
    sent = QuantitiesConfirmation(PermitReference("XA", NUMBER, TOKEN), (Position("A", Decimal("1")),))

    with pytest.raises(PartnerFault, match="other positions") as caught:
        client_of(tls, url).confirm_quantities(sent, headers=RequestHeaders(signed_document=signed))

    assert caught.value.code == FaultCode.SIGNATURE_REJECTED.value


# -- serving a permit ------------------------------------------------------------------------------


def test_default_namespace_permit_keeps_its_children_qualified():
    document = (b'<CITESEPermit xmlns="urn:un:unece:uncefact:data:standard:CITESEPermit:2">'
                b'<HeaderExchangedDocument/></CITESEPermit>')

    served = safexml.parse(unqualified_permit(document, xa_permit()))

    assert served.tag == "CITESEPermit"
    assert served[0].tag == "{urn:un:unece:uncefact:data:standard:CITESEPermit:2}HeaderExchangedDocument"
