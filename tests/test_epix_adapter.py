"""The EPIX adapter: options, mapping, and deliveries to a partner Party's simulated service."""

from __future__ import annotations

import logging
from decimal import Decimal
from types import SimpleNamespace

import pytest

from adapters.base import AdapterContext
from adapters.conformance import make_job
from adapters.epix import (
    CertificateRequest,
    EpixAdapter,
    FaultCode,
    PartnerFault,
    PermitReference,
    Position,
    QuantitiesConfirmation,
)
from adapters.epix.certificates import loopback_certificates
from adapters.epix.simulator import PartnerService
from hub.envelope import MessageType
from hub.errors import ConfigError, PermanentDeliveryError
from hub.permit import Quantity
from mappings import citesepermit
from tests.factories import make_item, make_permit

NUMBER = "FR2026000123"
PERMIT = PermitReference("FR", NUMBER, "S0042")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return loopback_certificates(tmp_path_factory.mktemp("tls"), parties=("XB",))


@pytest.fixture
def partner(tls):
    service = PartnerService("FR", cert=tls.server.cert, key=tls.server.key, ca=tls.ca)
    service.start()
    service.store.add(citesepermit.to_xml(make_permit(number=NUMBER)))
    yield service
    service.stop()


class Submitted:
    """A stand-in for the hub's ingress: keeps what the adapter submits and returns accepted or rejected."""

    def __init__(self, status="accepted", findings=()):
        self.calls = []
        self.status = status
        self.findings = list(findings)

    def __call__(self, payload, message_type, sender, *, message_id=None, correlation_id=None):
        self.calls.append(SimpleNamespace(payload=payload, message_type=message_type, sender=sender,
                                          message_id=message_id, correlation_id=correlation_id))
        return SimpleNamespace(accepted=self.status != "rejected", status=self.status, message_id=message_id,
                               findings=self.findings)


def options(tls, url, **changes):
    client = tls.parties["XB"]
    return {"url": url, "cert": str(client.cert), "key": str(client.key), "ca": str(tls.ca), "timeout_seconds": 5,
            **changes}


@pytest.fixture
def make_adapter(tls, partner):
    built = []

    def make(submit=None, **changes):
        context = AdapterContext(logger=logging.getLogger("test.epix"), submit=submit)
        adapter = EpixAdapter("epix", options(tls, partner.url, **changes), context)
        built.append(adapter)
        return adapter

    yield make
    for adapter in built:
        adapter.close()


def request_job(final=False, **changes):
    return make_job(CertificateRequest(PERMIT, final=final).to_xml(), MessageType.PERMIT_REQUESTED,
                    destination="epix", **changes)


def confirmation_job(**changes):
    confirmation = QuantitiesConfirmation(PERMIT, (Position("A", Decimal("12")),))
    return make_job(confirmation.to_xml(), MessageType.PERMIT_QUANTITIES_CONFIRMED, destination="epix", **changes)


def deliver(adapter, job):
    return adapter.send(adapter.map_out(job), job)


# -- options ---------------------------------------------------------------------------------------


def test_url_without_certificate_is_rejected(tls):
    with pytest.raises(ConfigError, match="missing: cert, key, ca"):
        EpixAdapter("epix", {"url": "https://127.0.0.1:9/cites-data-exchange/v2"})


def test_plain_http_url_is_rejected(tls):
    with pytest.raises(ConfigError, match="https://"):
        EpixAdapter("epix", options(tls, "http://127.0.0.1:9/cites-data-exchange/v2"))


def test_unknown_option_is_rejected_naming_it(tls):
    with pytest.raises(ConfigError, match="no_such_option"):
        EpixAdapter("epix", options(tls, "https://127.0.0.1:9/x", no_such_option=1))


def test_unset_key_password_variable_is_named(tls, monkeypatch):
    monkeypatch.delenv("EPIX_KEY_PASSWORD", raising=False)

    with pytest.raises(ConfigError, match="EPIX_KEY_PASSWORD"):
        EpixAdapter("epix", options(tls, "https://127.0.0.1:9/x", key_password_env="EPIX_KEY_PASSWORD"))


def test_partner_without_url_receives_but_cannot_send():
    adapter = EpixAdapter("party-xb", {})

    with pytest.raises(PermanentDeliveryError, match="has no url"):
        deliver(adapter, confirmation_job())


def test_capabilities_name_the_two_message_types():
    capabilities = EpixAdapter.capabilities()

    assert capabilities["name"] == "epix"
    assert capabilities["message_types"] == ["permit.quantities_confirmed", "permit.requested"]
    assert capabilities["signs"] is True


# -- mapping ----------------------------------------------------------------------------------------


def test_request_document_is_sent_unchanged(make_adapter):
    job = request_job()

    outbound = make_adapter().map_out(job)

    assert outbound.body == job.payload


def test_foreign_payload_is_permanent(make_adapter):
    job = make_job(citesepermit.to_xml(make_permit()), MessageType.PERMIT_REQUESTED, destination="epix")

    with pytest.raises(PermanentDeliveryError, match="not a valid request document"):
        make_adapter().map_out(job)


# -- fetching a permit ------------------------------------------------------------------------------


def test_fetched_permit_is_submitted_as_issued(make_adapter):
    submit = Submitted()
    adapter = make_adapter(submit, party_partners={"FR": "party-fr"})
    job = request_job()

    receipt = deliver(adapter, job)

    call = submit.calls[0]
    assert (call.message_type, call.sender) == ("permit.issued", "party-fr")
    assert citesepermit.from_bytes(call.payload) == make_permit(number=NUMBER)
    assert call.correlation_id == job.envelope.correlation_id
    assert receipt.reference == call.message_id


def test_final_certificate_is_submitted_as_endorsed(make_adapter, partner):
    endorsed = make_permit(number=NUMBER, items=[make_item(exported_quantity=Quantity(value=Decimal("12")))])
    partner.store.add(citesepermit.to_xml(endorsed), final=True)
    submit = Submitted()

    deliver(make_adapter(submit), request_job(final=True))

    assert (submit.calls[0].message_type, submit.calls[0].sender) == ("permit.endorsed", "epix")


def test_retried_fetch_submits_the_same_message_id(make_adapter):
    submit = Submitted()
    adapter = make_adapter(submit)
    job = request_job()

    deliver(adapter, job)
    deliver(adapter, job)

    assert submit.calls[0].message_id == submit.calls[1].message_id


def test_permit_rejected_by_the_hub_is_permanent(make_adapter):
    finding = {"severity": "error", "path": "/Signature", "message": "signature rejected: missing"}
    adapter = make_adapter(Submitted(status="rejected", findings=[finding]))

    with pytest.raises(PermanentDeliveryError, match="signature rejected: missing"):
        deliver(adapter, request_job())


def test_fetch_without_submit_callback_is_permanent(make_adapter):
    with pytest.raises(PermanentDeliveryError, match="no submit callback"):
        deliver(make_adapter(), request_job())


def test_partner_fault_reaches_the_hub_with_its_code(make_adapter):
    job = make_job(CertificateRequest(PermitReference("FR", "FR-UNKNOWN")).to_xml(), MessageType.PERMIT_REQUESTED,
                   destination="epix")

    with pytest.raises(PartnerFault) as caught:
        deliver(make_adapter(Submitted()), job)

    assert caught.value.code == FaultCode.CERTIFICATE_NOT_FOUND.value
    assert caught.value.transient is False


# -- confirming quantities --------------------------------------------------------------------------


def test_confirmation_reaches_the_issuing_party(make_adapter, partner):
    receipt = deliver(make_adapter(), confirmation_job())

    sender, document = partner.store.confirmations[0]
    assert b"<x:ID>A</x:ID>" in document
    assert receipt.reference is not None


def test_retried_confirmation_carries_the_same_message_id(make_adapter):
    adapter = make_adapter()
    job = confirmation_job()

    first = deliver(adapter, job)
    again = deliver(adapter, job)

    assert first.reference == again.reference


# -- serving ---------------------------------------------------------------------------------------


def test_adapter_without_serve_option_serves_nothing(make_adapter):
    assert make_adapter().start_service(hub=None) is None
