"""The journal on SQLite and on a real PostgreSQL."""

import pytest

from hub.envelope import Envelope, MessageType, new_id
from hub.errors import Finding, Severity
from hub.journal import DeliveryState, Journal, MessageStatus, PlannedDelivery


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def journal(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    journal = Journal(url)
    journal.upgrade()
    yield journal
    journal.close()


def record(journal, number="00123", destinations=("customs",), status=MessageStatus.ACCEPTED, findings=()):
    envelope = Envelope.for_payload(b"<p/>", message_type=MessageType.PERMIT_ISSUED, sender="permit-store",
                                    permit=f"FR/{number}")
    planned = [PlannedDelivery(new_id(), d, "stub", "r", f"{envelope.message_id}:{d}")
               for d in destinations]
    assert journal.record_message(envelope, b"<p/>", status=status, findings=findings, planned=planned,
                                  republish_after=0).written
    return envelope, planned


def test_message_and_deliveries_are_written_together(journal):
    envelope, planned = record(journal, destinations=("customs", "epix"))

    stored = journal.get_message(envelope.message_id)

    assert stored.payload == b"<p/>"
    assert stored.envelope.permit == "FR/00123"
    assert sorted(d.destination for d in stored.deliveries) == ["customs", "epix"]
    assert {d.state for d in stored.deliveries} == {DeliveryState.PENDING}


def test_same_message_id_is_written_once(journal):
    envelope, _ = record(journal)

    again = journal.record_message(envelope, b"<p/>", status=MessageStatus.ACCEPTED, findings=[])

    assert again.written is False


def test_rejected_message_keeps_its_findings_as_evidence(journal):
    finding = Finding(Severity.ERROR, "items[0].term", "term 'XYZ' is unknown", value="XYZ", expected="SKI")
    envelope, _ = record(journal, destinations=(), status=MessageStatus.REJECTED, findings=[finding])

    stored = journal.get_message(envelope.message_id)

    assert stored.status == MessageStatus.REJECTED
    assert stored.findings[0]["path"] == "items[0].term"
    assert stored.findings[0]["value"] == "XYZ"


def test_a_delivery_is_claimed_by_one_worker_only(journal):
    _, planned = record(journal)
    delivery_id = planned[0].delivery_id

    first = journal.claim_delivery(delivery_id, worker="w1", lease_seconds=30)
    second = journal.claim_delivery(delivery_id, worker="w2", lease_seconds=30)

    assert first.state == DeliveryState.IN_FLIGHT and first.attempts == 1
    assert second is None


def test_delivered_delivery_is_never_claimed_again(journal):
    _, planned = record(journal)
    delivery_id = planned[0].delivery_id
    journal.claim_delivery(delivery_id, worker="w1", lease_seconds=30)
    journal.settle_delivery(delivery_id, DeliveryState.DELIVERED, worker="w1", reference="R1")

    assert journal.claim_delivery(delivery_id, worker="w2", lease_seconds=30) is None
    assert delivery_id not in [d.delivery_id for d in journal.due_deliveries()]


def test_lapsed_lease_makes_a_delivery_due_again(journal):
    _, planned = record(journal)
    delivery_id = planned[0].delivery_id
    journal.claim_delivery(delivery_id, worker="w1", lease_seconds=0)

    due = [d.delivery_id for d in journal.due_deliveries()]

    assert delivery_id in due
    assert journal.claim_delivery(delivery_id, worker="w2", lease_seconds=30).attempts == 2


def test_timeline_lists_every_hop_in_order(journal):
    envelope, planned = record(journal, number="0099")
    delivery_id = planned[0].delivery_id
    journal.claim_delivery(delivery_id, worker="w1", lease_seconds=30)
    journal.settle_delivery(delivery_id, DeliveryState.DELIVERED, worker="w1", reference="R1")

    actions = [e.action for e in journal.timeline("FR", "0099")]

    assert actions == ["received", "validated", "routed", "sending", "delivered"]


def test_permit_number_keeps_leading_zeros(journal):
    record(journal, number="000042")

    assert journal.timeline("FR", "000042")
    assert journal.timeline("FR", "42") == []
