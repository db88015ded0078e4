"""The broker topology and publishing on a real RabbitMQ (and the in-process transport)."""

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
def test_delivery_queues_are_durable_quorum_queues(rabbitmq_url):
    broker = make_broker(rabbitmq_url)
    name = broker.topology.delivery_queues["customs"].name

    with Connection(rabbitmq_url) as connection:
        channel = connection.default_channel
        # Declaring with other arguments must fail if the queue is a quorum queue already.
        with pytest.raises(Exception, match="x-queue-type"):
            channel.queue_declare(name, durable=True, auto_delete=False, arguments={"x-queue-type": "classic"})
    broker.close()


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
