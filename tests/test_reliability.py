"""Retries, per-partner policies, poison messages and unroutable jobs, on both brokers."""

import pytest

from adapters.stub import StubAdapter
from hub.broker import wait_for
from hub.config import RetryPolicy
from hub.journal import DeliveryState
from hub.delivery import Deliverer
from tests.factories import permit_xml


def send(hub, payload=None):
    payload = payload or permit_xml()
    return hub.ingress.receive(payload, message_type="permit.issued", sender="permit-store", channel="test")


def delivery_of(hub, result):
    return hub.journal.get_message(result.message_id).deliveries[0]


def test_backoff_grows_and_stays_under_the_cap():
    policy = RetryPolicy(backoff_initial_seconds=1, backoff_max_seconds=10)

    delays = [Deliverer.backoff(attempt, policy) for attempt in (1, 2, 3, 4, 5, 6)]

    assert 0.5 <= delays[0] <= 1
    assert 4 <= delays[3] <= 8
    assert all(d <= 10 for d in delays)


def test_partner_retry_policy_overrides_the_default(make_hub):
    hub = make_hub(destinations={"customs-stub": {"adapter": "stub", "retry": {"max_attempts": 1}}},
                   delivery={"max_attempts": 9})
    StubAdapter.fail_next("customs-stub", 1, transient=True)

    result = send(hub)

    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    delivery = delivery_of(hub, result)
    assert delivery.state == DeliveryState.PARKED
    assert delivery.last_error.startswith("gave up after 1 attempts")


def test_embedded_retry_uses_the_scheduler_not_the_sweep(make_hub):
    hub = make_hub(delivery={"sweep_interval_seconds": 60, "lease_seconds": 60})
    StubAdapter.fail_next("customs-stub", 1, transient=True)

    result = send(hub)

    assert wait_for(lambda: delivery_of(hub, result).state == DeliveryState.DELIVERED, timeout=10)
    assert delivery_of(hub, result).attempts == 2


@pytest.mark.integration
def test_rabbitmq_retry_goes_through_a_delay_queue(make_hub, rabbitmq_url):
    hub = make_hub(broker_url=rabbitmq_url, delivery={"sweep_interval_seconds": 60, "lease_seconds": 60})
    StubAdapter.fail_next("customs-stub", 1, transient=True)

    result = send(hub)

    assert wait_for(lambda: delivery_of(hub, result).state == DeliveryState.DELIVERED, timeout=15)
    assert delivery_of(hub, result).attempts == 2
    assert hub.scheduler is None


@pytest.mark.integration
def test_poison_job_is_parked_after_the_delivery_limit(make_hub, rabbitmq_url, monkeypatch):
    # A job that makes its worker die is never acknowledged; RabbitMQ counts each redelivery.
    monkeypatch.setattr(Deliverer, "on_message", lambda self, body, message: message.reject(requeue=True))
    hub = make_hub(broker_url=rabbitmq_url, broker={"delivery_limit": 3})

    result = send(hub)

    assert wait_for(lambda: delivery_of(hub, result).state == DeliveryState.PARKED, timeout=60)
    assert "poison message" in delivery_of(hub, result).last_error


def test_worker_lost_too_often_parks_the_delivery(make_hub):
    hub = make_hub(delivery={"max_attempts": 2})
    result = send(hub)
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    delivery = delivery_of(hub, result)
    # Simulate two attempts whose worker vanished: the lease lapsed each time.
    hub.journal.engine.dispose()
    from sqlalchemy import update

    from hub.journal.tables import deliveries
    with hub.journal.engine.begin() as connection:
        connection.execute(update(deliveries).where(deliveries.c.delivery_id == delivery.delivery_id)
                           .values(state=DeliveryState.PENDING, attempts=2))

    state = hub.deliverer.deliver(delivery.delivery_id, permit_xml(), {
        "x-cites-message-id": result.message_id, "x-cites-message-type": "permit.issued",
        "x-cites-sender": "permit-store", "x-cites-payload-sha256": "0" * 64})

    assert state == DeliveryState.PARKED
    assert "exceeds the limit of 2" in hub.journal.get_delivery(delivery.delivery_id).last_error


@pytest.mark.integration
def test_unroutable_job_is_counted(make_hub, rabbitmq_url):
    from monitoring import metrics

    hub = make_hub(broker_url=rabbitmq_url)
    before = metrics.UNROUTABLE._value.get()

    hub.broker.publish_delivery("nobody", b"<lost/>", {"x-cites-delivery-id": "none"})

    assert wait_for(lambda: metrics.UNROUTABLE._value.get() == before + 1, timeout=10)
