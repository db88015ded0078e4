"""The permit lifecycle only moves forward, on the message path and in the state machine itself."""

import pytest

from adapters.stub import StubAdapter
from hub.broker import wait_for
from hub.envelope import MessageType
from hub.journal import MessageStatus
from hub.lifecycle import PermitState, next_state
from tests.factories import make_permit, permit_xml


@pytest.mark.parametrize("current, event, expected", [
    (None, MessageType.PERMIT_ISSUED, PermitState.ISSUED),
    (PermitState.ISSUED, MessageType.PERMIT_AMENDED, PermitState.ISSUED),
    (PermitState.ISSUED, MessageType.PERMIT_ENDORSED, PermitState.ENDORSED),
    (PermitState.ENDORSED, MessageType.PERMIT_QUANTITIES_CONFIRMED, PermitState.CONFIRMED),
    (PermitState.ENDORSED, MessageType.PERMIT_CANCELLED, PermitState.CANCELLED),
    (PermitState.CANCELLED, MessageType.PERMIT_ISSUED, None),
    (PermitState.CANCELLED, MessageType.PERMIT_CANCELLED, None),
    (PermitState.REPLACED, MessageType.PERMIT_ENDORSED, None),
    (PermitState.CONFIRMED, MessageType.PERMIT_ENDORSED, None),
    (PermitState.ISSUED, MessageType.PERMIT_ISSUED, None),
    (PermitState.ENDORSED, MessageType.SEIZURE_REPORTED, PermitState.ENDORSED),
])
def test_next_state(current, event, expected):
    assert next_state(current, event) == expected


def send(hub, payload, message_type="permit.issued"):
    return hub.ingress.receive(payload, message_type=message_type, sender="permit-store", channel="test")


def test_cancelled_permit_is_never_reopened_by_a_late_issue(make_hub):
    hub = make_hub()
    send(hub, permit_xml(make_permit(purpose="T")), "permit.cancelled")

    late = send(hub, permit_xml(make_permit(purpose="Z")), "permit.issued")

    assert late.status == MessageStatus.ACCEPTED_WITH_WARNINGS
    assert late.deliveries == []
    assert "already cancelled" in late.findings[-1]["message"]
    assert hub.journal.permit_state("FR", "FR2026000123") == PermitState.CANCELLED
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    assert [job.envelope.message_type for job in StubAdapter.received("customs-stub")] == [
        MessageType.PERMIT_CANCELLED]


def test_late_event_is_recorded_in_the_timeline(make_hub):
    hub = make_hub()
    send(hub, permit_xml(), "permit.cancelled")

    send(hub, permit_xml(make_permit(purpose="Z")), "permit.amended")

    actions = [event.action for event in hub.journal.timeline("FR", "FR2026000123")]
    assert actions.count("not_applied") == 1


def test_issue_then_amend_then_cancel_all_reach_customs(make_hub):
    hub = make_hub()

    send(hub, permit_xml(), "permit.issued")
    send(hub, permit_xml(make_permit(purpose="Z")), "permit.amended")
    send(hub, permit_xml(make_permit(purpose="S")), "permit.cancelled")

    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    assert hub.journal.permit_state("FR", "FR2026000123") == PermitState.CANCELLED
    assert len(StubAdapter.received("customs-stub")) == 3


def test_same_permit_version_twice_is_accepted_once(make_hub):
    hub = make_hub()
    payload = permit_xml()

    first = send(hub, payload)
    again = send(hub, payload)

    assert again.duplicate is True
    assert again.message_id == first.message_id
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    assert len(StubAdapter.received("customs-stub")) == 1


def test_rejected_message_does_not_move_the_permit(make_hub):
    from tests.factories import make_item

    hub = make_hub()

    send(hub, permit_xml(items=[make_item(term="XYZ")]), "permit.cancelled")

    assert hub.journal.permit_state("FR", "FR2026000123") is None
