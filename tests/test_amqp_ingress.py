"""The AMQP ingress queue: the same pipeline as the HTTP API, answered on reply_to."""

import json
import uuid

import pytest
from kombu import Connection, Consumer, Producer, Queue

from adapters.stub import StubAdapter
from hub.broker import wait_for
from tests.factories import make_item, permit_xml


def call(hub, url, payload, *, message_type="permit.issued", sender="permit-store", user_id=None):
    """Publish to the hub's ingress exchange and wait for the answer on an exclusive reply queue."""
    answers = []
    with Connection(url) as connection:
        reply = Queue(f"reply-{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True)
        with Consumer(connection, queues=[reply], callbacks=[lambda body, m: (answers.append(body), m.ack())],
                      accept=["json"]):
            properties = {"reply_to": reply.name, "correlation_id": str(uuid.uuid4())}
            if user_id:
                properties["user_id"] = user_id
            Producer(connection.default_channel).publish(
                payload, exchange=hub.broker.topology.ingress, routing_key="ingress",
                headers={"x-cites-message-type": message_type, "x-cites-sender": sender}, **properties)
            wait_for(lambda: _drain(connection) or answers, timeout=15)
    answer = answers[0]
    return json.loads(answer) if isinstance(answer, (bytes, str)) else answer


def _drain(connection):
    try:
        connection.drain_events(timeout=0.2)
    except TimeoutError:
        pass
    return False


def test_permit_sent_over_amqp_is_accepted_and_delivered(make_hub):
    hub = make_hub()

    answer = call(hub, hub.config.broker.url, permit_xml(number="FR2026000900"))

    assert answer["status"] == "accepted"
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    assert [job.permit.number for job in StubAdapter.received("customs-stub")] == ["FR2026000900"]


def test_bad_permit_over_amqp_is_rejected_with_findings(make_hub):
    hub = make_hub()

    answer = call(hub, hub.config.broker.url, permit_xml(items=[make_item(appendix="IV")]))

    assert answer["status"] == "rejected"
    assert any(f["value"] == "IV" for f in answer["findings"])
    assert hub.journal.get_message(answer["message_id"]).status == "rejected"


def test_unknown_sender_over_amqp_is_refused(make_hub):
    hub = make_hub()

    answer = call(hub, hub.config.broker.url, permit_xml(), sender="somebody")

    assert answer["status"] == "rejected"
    assert "somebody" in answer["error"]


@pytest.mark.integration
def test_rabbitmq_ingress_checks_the_amqp_user(make_hub, rabbitmq_url, tmp_path):
    hub = make_hub(broker_url=rabbitmq_url)
    hub.config.partners["permit-store"].amqp_user = "guest"

    accepted = call(hub, rabbitmq_url, permit_xml(), user_id="guest")
    refused = call(hub, rabbitmq_url, permit_xml())

    assert accepted["status"] == "accepted"
    assert refused["status"] == "rejected"
    assert "user_id" in refused["error"]
