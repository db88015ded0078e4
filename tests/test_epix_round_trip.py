"""Two hubs exchange one permit through the EPIX conduit simulator, over real SOAP and mutual TLS on loopback.

Hub A is the exporting Party XA: it issues the permit, Customs endorses it, and A's national
service listens on its own TLS port. Hub B is the importing Party XB: its permit store requests
the final certificate and later confirms the quantities inspected. Every call goes
B → conduit → A. Both Parties sign: A signs the permits it serves to XB, B signs its requests,
and each verifies the other with its pinned signing certificate.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from adapters.epix import CertificateRequest, PermitReference, Position, QuantitiesConfirmation
from adapters.epix.exchange import NUMBER, TOKEN, Exchange, endorsed_permit, export_permit, make_material
from adapters.stub import StubAdapter
from hub.broker import wait_for
from hub.journal import MessageStatus
from mappings import citesepermit


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    return make_material(tmp_path_factory.mktemp("epix"))


@pytest.fixture
def exchange(tmp_path, material):
    """The conduit, hub A serving XA's national service, and hub B; all stopped after the test."""
    StubAdapter.reset()
    running = Exchange(tmp_path, material)
    try:
        yield running.start()
    finally:
        running.stop()
        StubAdapter.reset()


def send(hub, document, message_type, sender):
    result = hub.ingress.receive(document, message_type=message_type, sender=sender, channel="test")
    assert result.accepted, result.findings
    return result


def test_final_certificate_and_confirmation_cross_the_conduit(exchange):
    hub_a, hub_b, conduit = exchange.hub_a, exchange.hub_b, exchange.conduit
    started = time.monotonic()
    permit = PermitReference("XA", NUMBER, TOKEN)

    send(hub_a, citesepermit.to_xml(export_permit()), "permit.issued", "permit-store")
    send(hub_a, citesepermit.to_xml(endorsed_permit()), "permit.endorsed", "customs")
    request = send(hub_b, CertificateRequest(permit, final=True).to_xml(), "permit.requested", "permit-store")
    assert wait_for(lambda: hub_b.journal.permit_state("XA", NUMBER) == "endorsed", timeout=15)
    confirmation = QuantitiesConfirmation(permit, (Position("A", Decimal("12")),))
    send(hub_b, confirmation.to_xml(), "permit.quantities_confirmed", "permit-store")
    assert wait_for(lambda: hub_a.journal.permit_state("XA", NUMBER) == "quantities_confirmed", timeout=15)
    assert wait_for(lambda: hub_b.unsettled() == 0, timeout=5)

    fetched = [m for m in hub_b.journal.messages_for_permit("XA", NUMBER) if m.envelope.sender == "party-xa"]
    assert [m.envelope.message_type.value for m in fetched] == ["permit.endorsed"]
    assert fetched[0].envelope.signature_state == "verified"
    assert fetched[0].envelope.correlation_id == request.correlation_id
    assert citesepermit.from_bytes(fetched[0].payload).items[0].exported_quantity.value == Decimal("12")
    assert wait_for(lambda: len(StubAdapter.received("inbox-xb")) == 1, timeout=5)

    confirmed = [m for m in hub_a.journal.messages_for_permit("XA", NUMBER)
                 if m.envelope.message_type.value == "permit.quantities_confirmed"]
    assert [m.envelope.sender for m in confirmed] == ["party-xb"]
    assert confirmed[0].envelope.signature_state == "verified"
    assert confirmed[0].status != MessageStatus.REJECTED
    assert [(c.caller, c.callee, c.operation) for c in conduit.calls()] == [
        ("XB", "XA", "GetFinalCitesCertificate"), ("XB", "XA", "ConfirmQuantities")]
    assert time.monotonic() - started < 30
