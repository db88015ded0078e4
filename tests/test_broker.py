"""The broker topology and publishing on a real RabbitMQ (and the in-process transport)."""

import subprocess
import threading
import uuid

import pytest
from kombu import Connection

from hub.broker import Broker, wait_for
from hub.config import BrokerConfig


def make_broker(url, destinations=("customs",)):
    broker = Broker(BrokerConfig(url=url, namespace=f"t{uuid.uuid4().hex[:10]}"), list(destinations))
    broker.declare()
    return broker


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.integration)])
def broker_url(request):
    return "memory://" if request.param == "memory" else request.getfixturevalue("rabbitmq_url")


def test_published_job_reaches_its_destination_queue_with_headers(broker_url):
    broker = make_broker(broker_url)
    received, stop = [], threading.Event()

    def handle(body, message):
        received.append((body, message.headers))
        message.ack()

    consumer = threading.Thread(target=broker.consume, args=(broker.topology.delivery_queues["customs"], handle, stop),
                                kwargs={"name": "test"}, daemon=True)
    consumer.start()
    broker.publish_delivery("customs", b"<permit/>", {"x-cites-delivery-id": "d1"})

    assert wait_for(lambda: received, timeout=10)
    stop.set()
    consumer.join(timeout=5)
    broker.close()
    assert received[0][0] == b"<permit/>"
    assert received[0][1]["x-cites-delivery-id"] == "d1"


@pytest.mark.integration
def test_every_queue_is_a_durable_quorum_queue(rabbitmq_url):
    broker = make_broker(rabbitmq_url)
    vhost = rabbitmq_url.rsplit("/", 1)[1]

    listing = subprocess.run(["rabbitmqctl", "list_queues", "-p", vhost, "--quiet", "--no-table-headers",
                              "name", "type", "durable"], capture_output=True, text=True, check=True).stdout
    broker.close()

    ours = [line.split() for line in listing.splitlines() if line.startswith(broker.config.namespace)]
    assert len(ours) == len(broker.topology.all_queues())
    assert {(kind, durable) for _, kind, durable in ours} == {("quorum", "true")}


@pytest.mark.integration
def test_delayed_job_comes_back_to_its_destination_queue(rabbitmq_url):
    broker = make_broker(rabbitmq_url)

    applied = broker.publish_delayed("customs", b"<later/>", {"x-cites-delivery-id": "d3"}, 0.5)

    with Connection(rabbitmq_url) as connection:
        queue = broker.topology.delivery_queues["customs"](connection.default_channel)
        assert queue.queue_declare(passive=True).message_count == 0
        assert wait_for(lambda: queue.queue_declare(passive=True).message_count == 1, timeout=10)
        message = queue.get(no_ack=True)
    broker.close()
    assert applied == 1.0
    assert message.headers["x-cites-delivery-id"] == "d3"


@pytest.mark.integration
def test_unroutable_job_is_kept_in_the_unroutable_queue(rabbitmq_url):
    broker = make_broker(rabbitmq_url)

    broker.publish_delivery("nobody", b"<lost/>", {"x-cites-delivery-id": "d2"})

    with Connection(rabbitmq_url) as connection:
        queue = broker.topology.unroutable_queue(connection.default_channel)
        assert wait_for(lambda: queue.queue_declare(passive=True).message_count == 1, timeout=10)
        message = queue.get(no_ack=True)
    broker.close()
    assert message.body == b"<lost/>"


@pytest.mark.integration
def test_publish_to_an_unreachable_broker_raises_broker_error():
    from hub.errors import BrokerError

    broker = Broker(BrokerConfig(url="amqp://guest:guest@127.0.0.1:1//", namespace="unreachable"), ["customs"])

    with pytest.raises(BrokerError, match="127.0.0.1"):
        broker.declare()
