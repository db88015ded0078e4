"""The whole message path in one process: ingress, journal, broker, delivery through the stub adapter."""

import pytest

from adapters.stub import StubAdapter
from hub.broker import wait_for
from hub.errors import AuthenticationError, InvalidMessage
from hub.journal import DeliveryState, MessageStatus
from tests.factories import make_item, permit_xml


def send(hub, payload, message_type="permit.issued", sender="permit-store", **kwargs):
    return hub.ingress.receive(payload, message_type=message_type, sender=sender, channel="test", **kwargs)


def settled(hub):
    return lambda: hub.unsettled() == 0


def test_accepted_permit_is_journaled_then_delivered(make_hub):
    hub = make_hub()

    result = send(hub, permit_xml(number="FR2026000777"))

    assert result.status == MessageStatus.ACCEPTED
    assert wait_for(settled(hub), timeout=10)
    received = StubAdapter.received("customs-stub")
    assert [job.permit.number for job in received] == ["FR2026000777"]
    assert received[0].idempotency_key == f"{result.message_id}:customs-stub"


def test_delivered_payload_is_the_bytes_received(make_hub):
    hub = make_hub()
    payload = permit_xml()

    send(hub, payload)

    assert wait_for(settled(hub), timeout=10)
    assert StubAdapter.received("customs-stub")[0].payload == payload


def test_rejected_permit_stays_in_the_journal_with_findings(make_hub):
    hub = make_hub()
    payload = permit_xml(items=[make_item(term="XYZ")])

    result = send(hub, payload)

    assert result.status == MessageStatus.REJECTED
    stored = hub.journal.get_message(result.message_id)
    assert stored.payload == payload
    assert stored.deliveries == []
    assert any("XYZ" == f["value"] for f in stored.findings)


def test_malformed_xml_is_rejected_and_kept(make_hub):
    hub = make_hub()

    result = send(hub, b"<CITESEPermit><unclosed>")

    assert result.status == MessageStatus.REJECTED
    assert hub.journal.get_message(result.message_id).payload == b"<CITESEPermit><unclosed>"


def test_duplicate_message_id_gets_the_first_answer(make_hub):
    hub = make_hub()
    first = send(hub, permit_xml(), message_id="0b9f3c3e-9d1b-4a55-9a39-2f0d8d3c1a10")

    again = send(hub, permit_xml(), message_id="0b9f3c3e-9d1b-4a55-9a39-2f0d8d3c1a10")

    assert again.duplicate is True
    assert again.status == first.status
    assert wait_for(settled(hub), timeout=10)
    assert len(StubAdapter.received("customs-stub")) == 1


def test_message_id_must_be_a_uuid(make_hub):
    hub = make_hub()

    with pytest.raises(InvalidMessage, match="message_id 'abc'"):
        send(hub, permit_xml(), message_id="abc")


def test_unknown_message_type_is_refused(make_hub):
    hub = make_hub()

    with pytest.raises(InvalidMessage, match="message_type 'permit.stolen'"):
        send(hub, permit_xml(), message_type="permit.stolen")


def test_partner_may_send_only_its_allowed_types(make_hub):
    hub = make_hub()

    with pytest.raises(AuthenticationError, match="may not send seizure.reported"):
        send(hub, permit_xml(), message_type="seizure.reported")


def test_transient_failure_is_retried_until_delivered(make_hub):
    hub = make_hub()
    StubAdapter.fail_next("customs-stub", 2, transient=True)

    result = send(hub, permit_xml())

    assert wait_for(settled(hub), timeout=20)
    delivery = hub.journal.get_message(result.message_id).deliveries[0]
    assert delivery.state == DeliveryState.DELIVERED
    assert delivery.attempts == 3


def test_permanent_failure_parks_the_delivery_with_its_reason(make_hub):
    hub = make_hub()
    StubAdapter.fail_next("customs-stub", 1, transient=False)

    result = send(hub, permit_xml())

    assert wait_for(settled(hub), timeout=10)
    delivery = hub.journal.get_message(result.message_id).deliveries[0]
    assert delivery.state == DeliveryState.PARKED
    assert "told to fail" in delivery.last_error


def test_transient_failures_past_the_last_attempt_park(make_hub):
    hub = make_hub(delivery={"max_attempts": 2})
    StubAdapter.fail_next("customs-stub", 5, transient=True)

    result = send(hub, permit_xml())

    assert wait_for(settled(hub), timeout=20)
    delivery = hub.journal.get_message(result.message_id).deliveries[0]
    assert delivery.state == DeliveryState.PARKED
    assert delivery.last_error.startswith("gave up after 2 attempts")


def test_lost_publish_is_recovered_by_the_sweep(make_hub):
    hub = make_hub(delivery={"lease_seconds": 0.2})
    hub.ingress.publish = lambda *args: None  # the broker "loses" the job

    send(hub, permit_xml())

    assert wait_for(settled(hub), timeout=10)
    assert len(StubAdapter.received("customs-stub")) == 1


def test_no_route_is_a_warning_and_the_message_is_kept(make_hub):
    hub = make_hub(routes=[{"name": "only-seizures", "match": {"message_type": ["seizure.reported"]},
                            "to": ["customs-stub"]}])

    result = send(hub, permit_xml())

    assert result.status == MessageStatus.ACCEPTED_WITH_WARNINGS
    assert "no route" in result.findings[-1]["message"]


def test_timeline_shows_each_hop_of_a_delivered_permit(make_hub):
    hub = make_hub()
    send(hub, permit_xml(number="FR2026000555"))
    assert wait_for(settled(hub), timeout=10)

    actions = [e.action for e in hub.journal.timeline("FR", "FR2026000555")]

    assert actions == ["received", "validated", "routed", "sending", "delivered"]


@pytest.mark.integration
def test_production_mode_delivers_over_rabbitmq_and_postgresql(make_hub, rabbitmq_url, postgres_url):
    hub = make_hub(broker_url=rabbitmq_url, journal_url=postgres_url)

    results = [send(hub, permit_xml(number=f"FR2026{n:06d}")) for n in range(20)]

    assert all(r.status == MessageStatus.ACCEPTED for r in results)
    assert wait_for(settled(hub), timeout=30)
    numbers = sorted(job.permit.number for job in StubAdapter.received("customs-stub"))
    assert numbers == [f"FR2026{n:06d}" for n in range(20)]
