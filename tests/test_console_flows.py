"""The overview's numbers: counts per window, p95 latency from routed to delivered, and destinations up or down."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from adapters.stub import StubAdapter
from hub.broker import wait_for
from hub.envelope import utcnow
from hub.journal.tables import events
from monitoring.console import flows
from tests.factories import permit_xml


def send(hub, number):
    result = hub.ingress.receive(permit_xml(number=number), message_type="permit.issued", sender="permit-store",
                                 channel="test")
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    return result.message_id


def age_events(hub, message_id, hours):
    with hub.journal.engine.begin() as connection:
        rows = connection.execute(select(events.c.event_id, events.c.at).where(events.c.message_id == message_id))
        for event_id, at in rows.all():
            connection.execute(update(events).where(events.c.event_id == event_id)
                               .values(at=at - timedelta(hours=hours)))


def flow_of(hub):
    (flow,) = flows.flows(hub)
    return flow


def outcome_of(hub, destination="customs-stub"):
    return next(outcome for outcome in flows.last_outcomes(hub) if outcome.destination == destination)


def test_percentile_is_nearest_rank():
    values = [float(n) for n in range(1, 101)]

    assert flows.percentile(values, 95) == 95.0
    assert flows.percentile([3.0], 95) == 3.0
    assert flows.percentile([], 95) is None


def test_configured_route_shows_with_no_traffic(make_hub):
    hub = make_hub()

    flow = flow_of(hub)

    assert (flow.destination, flow.adapter, flow.route) == ("customs-stub", "stub", "permits")
    assert flow.windows["hour"].received == 0
    assert flow.windows["day"].p95_seconds is None


def test_counts_fall_in_their_window(make_hub):
    hub = make_hub()
    send(hub, "FR2026000001")
    old = send(hub, "FR2026000002")
    age_events(hub, old, hours=3)

    flow = flow_of(hub)

    assert (flow.windows["hour"].received, flow.windows["hour"].delivered) == (1, 1)
    assert (flow.windows["day"].received, flow.windows["day"].delivered) == (2, 2)


def test_failures_and_parked_are_counted(make_hub):
    hub = make_hub()
    StubAdapter.fail_next("customs-stub", 1, transient=True)
    send(hub, "FR2026000001")
    StubAdapter.fail_next("customs-stub", 1, transient=False)
    send(hub, "FR2026000002")

    counts = flow_of(hub).windows["hour"]

    assert (counts.received, counts.delivered, counts.failed, counts.parked) == (2, 1, 1, 1)


def test_p95_latency_runs_from_routed_to_delivered(make_hub):
    hub = make_hub()
    message_id = send(hub, "FR2026000001")
    with hub.journal.engine.begin() as connection:
        connection.execute(update(events).where(events.c.message_id == message_id, events.c.action == "routed")
                           .values(at=utcnow() - timedelta(seconds=90)))

    p95 = flow_of(hub).windows["hour"].p95_seconds

    assert 89 < p95 < 100


def test_destination_up_then_down_after_parking(make_hub):
    hub = make_hub()
    send(hub, "FR2026000001")
    up = outcome_of(hub)
    StubAdapter.fail_next("customs-stub", 1, transient=False)
    send(hub, "FR2026000002")

    down = outcome_of(hub)

    assert (up.destination, up.status, up.error) == ("customs-stub", "up", None)
    assert down.status == "down"
    assert "was told to fail" in down.error


def test_destination_without_deliveries_is_unknown(make_hub):
    hub = make_hub()

    outcome = outcome_of(hub)

    assert outcome.status == "unknown"


@pytest.mark.integration
def test_counts_and_latency_on_postgresql(make_hub, postgres_url):
    hub = make_hub(journal_url=postgres_url)
    send(hub, "FR2026000001")

    counts = flow_of(hub).windows["hour"]

    assert (counts.received, counts.delivered) == (1, 1)
    assert counts.p95_seconds is not None
    assert outcome_of(hub).status == "up"
