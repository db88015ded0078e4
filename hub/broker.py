"""The broker: kombu topology, publishing with confirms, and consumers.

Topology, declared identically by every process at start-up (``<ns>`` is the configured namespace):

- ``<ns>.deliveries`` (direct exchange) routes each delivery job by destination to
  ``<ns>.delivery.<destination>``; anything it cannot route goes to its alternate exchange
  ``<ns>.unroutable`` (fanout) and is kept in the ``<ns>.unroutable`` queue.
- ``<ns>.ingress`` (direct exchange) feeds the ``<ns>.ingress`` queue of the AMQP ingress.
- ``<ns>.delay.<N>s`` (fanout exchange and queue, one per delay bucket) holds a job for N seconds
  (queue TTL), then dead-letters it back to ``<ns>.deliveries`` with its original routing key:
  the retry delay of RabbitMQ mode.
- ``<ns>.parking`` (direct exchange) receives, by dead-lettering, a job that RabbitMQ redelivered
  more than the delivery limit (a poison message); it lands in ``<ns>.parked.<destination>``.

On RabbitMQ the queues are durable quorum queues with a delivery limit, publishes are
``mandatory`` and confirmed with a bounded wait. With ``memory://`` everything stays in process
and the hub's own scheduler stands in for the delay queues.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from kombu import Connection, Consumer, Exchange, Message, Producer, Queue
from kombu.exceptions import KombuError, OperationalError

from hub.config import BrokerConfig
from hub.errors import BrokerError

log = logging.getLogger(__name__)

MEMORY_POLLING_SECONDS = 0.005
INGRESS_ROUTING_KEY = "ingress"
DELAY_BUCKETS_SECONDS = (1, 5, 30, 120, 600, 3600)

Handler = Callable[[Any, Message], None]


class Topology:
    """The exchanges and queues of one hub namespace."""

    def __init__(self, config: BrokerConfig, destinations: list[str]) -> None:
        self.config = config
        ns = config.namespace
        self.unroutable = Exchange(f"{ns}.unroutable", type="fanout", durable=True)
        self.deliveries = Exchange(
            f"{ns}.deliveries", type="direct", durable=True, arguments={"alternate-exchange": self.unroutable.name}
        )
        self.ingress = Exchange(f"{ns}.ingress", type="direct", durable=True)
        self.parking = Exchange(f"{ns}.parking", type="direct", durable=True)
        self.unroutable_queue = self._queue(f"{ns}.unroutable", self.unroutable, "")
        self.ingress_queue = self._queue(f"{ns}.ingress", self.ingress, INGRESS_ROUTING_KEY)
        self.delivery_queues = {
            d: self._queue(f"{ns}.delivery.{d}", self.deliveries, d, {"x-dead-letter-exchange": self.parking.name})
            for d in destinations
        }
        self.parked_queues = {d: self._queue(f"{ns}.parked.{d}", self.parking, d) for d in destinations}
        self.delay_exchanges = {s: Exchange(f"{ns}.delay.{s}s", type="fanout", durable=True)
                                for s in DELAY_BUCKETS_SECONDS}
        self.delay_queues = [self._delay_queue(seconds, exchange) for seconds, exchange in self.delay_exchanges.items()]

    @property
    def rabbitmq(self) -> bool:
        return not self.config.url.startswith("memory://")

    def _queue(self, name: str, exchange: Exchange, routing_key: str, extra: dict | None = None) -> Queue:
        arguments = {}
        if self.rabbitmq:
            arguments = dict(extra or {})
            if self.config.quorum_queues:
                arguments.update({"x-queue-type": "quorum", "x-delivery-limit": self.config.delivery_limit})
        return Queue(name, exchange, routing_key=routing_key, durable=True, queue_arguments=arguments)

    def _delay_queue(self, seconds: int, exchange: Exchange) -> Queue:
        arguments = {"x-message-ttl": seconds * 1000, "x-dead-letter-exchange": self.deliveries.name}
        if self.config.quorum_queues:
            # At-least-once dead-lettering keeps a job that expires while RabbitMQ fails over.
            arguments.update({"x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once",
                              "x-overflow": "reject-publish"})
        return Queue(exchange.name, exchange, durable=True, queue_arguments=arguments)

    def delay_exchange(self, seconds: float) -> Exchange:
        """Return the exchange of the shortest delay bucket of at least ``seconds`` (at most the longest)."""
        bucket = next((b for b in DELAY_BUCKETS_SECONDS if b >= seconds), DELAY_BUCKETS_SECONDS[-1])
        return self.delay_exchanges[bucket]

    def exchanges(self) -> list[Exchange]:
        exchanges = [self.unroutable, self.deliveries, self.ingress, self.parking]
        return exchanges + (list(self.delay_exchanges.values()) if self.rabbitmq else [])

    def all_queues(self) -> list[Queue]:
        queues = [self.unroutable_queue, self.ingress_queue, *self.delivery_queues.values(),
                  *self.parked_queues.values()]
        return queues + (self.delay_queues if self.rabbitmq else [])


class Broker:
    """Publishes delivery jobs and runs consumers; one connection per thread."""

    def __init__(self, config: BrokerConfig, destinations: list[str]) -> None:
        self.config = config
        self.topology = Topology(config, destinations)
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()

    def connect(self) -> Connection:
        options: dict[str, Any] = {}
        if self.config.url.startswith("memory://"):
            options["polling_interval"] = MEMORY_POLLING_SECONDS
        else:
            options["confirm_publish"] = True
        connection = Connection(self.config.url, transport_options=options, heartbeat=30)
        with self._lock:
            self._connections.append(connection)
        return connection

    def declare(self) -> None:
        """Declare every exchange and queue; safe to repeat, and identical in every process."""
        try:
            with Connection(self.config.url, connect_timeout=10) as connection:
                connection.ensure_connection(max_retries=3, interval_start=0.5, interval_step=1)
                channel = connection.default_channel
                for exchange in self.topology.exchanges():
                    exchange(channel).declare()
                for queue in self.topology.all_queues():
                    queue(channel).declare()
        except (OSError, KombuError) as error:
            raise BrokerError(f"cannot declare the topology on {self._safe_url()}: {error}") from error

    def _producer(self) -> Producer:
        producer = getattr(self._local, "producer", None)
        if producer is None:
            connection = self.connect()
            producer = Producer(connection.default_channel)
            self._local.producer = producer
        return producer

    def publish(self, exchange: Exchange, routing_key: str, body: bytes, headers: dict[str, str],
                content_type: str = "application/octet-stream", **properties: Any) -> None:
        """Publish one message and wait for the broker's confirm (bounded); raise BrokerError on failure."""
        try:
            self._producer().publish(
                body, exchange=exchange, routing_key=routing_key, headers=headers, mandatory=True,
                delivery_mode=2, content_type=content_type, content_encoding="binary",
                confirm_timeout=self.config.confirm_timeout_seconds, retry=True,
                retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5}, **properties,
            )
        except (OSError, KombuError, TimeoutError) as error:
            self._local.producer = None
            raise BrokerError(f"publish to {exchange.name}/{routing_key} failed: {error}") from error

    def publish_delivery(self, destination: str, body: bytes, headers: dict[str, str]) -> None:
        self.publish(self.topology.deliveries, destination, body, headers)

    def publish_delayed(self, destination: str, body: bytes, headers: dict[str, str], seconds: float) -> float:
        """Publish a job that reaches ``destination``'s queue after a delay; return the delay applied.

        Only on RabbitMQ: the job waits in the delay bucket at or above ``seconds``.
        """
        exchange = self.topology.delay_exchange(seconds)
        self.publish(exchange, destination, body, headers)
        return float(exchange.name.rsplit(".", 1)[1].rstrip("s"))

    def consume(self, queue: Queue, handler: Handler, stop: threading.Event, *, name: str) -> None:
        """Consume ``queue`` until ``stop`` is set, reconnecting after broker failures."""
        delay = 0.5
        while not stop.is_set():
            try:
                with self.connect() as connection:
                    with Consumer(connection, queues=[queue], callbacks=[handler], accept=None,
                                  prefetch_count=self.config.prefetch):
                        delay = 0.5
                        self._drain(connection, stop)
            except (OSError, KombuError, OperationalError) as error:
                log.warning("consumer %s lost the broker at %s: %s; reconnecting in %.1fs", name,
                            self._safe_url(), error, delay)
                stop.wait(delay)
                delay = min(delay * 2, 15.0)

    @staticmethod
    def _drain(connection: Connection, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                connection.drain_events(timeout=0.5)
            except TimeoutError:
                connection.heartbeat_check()

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting in each queue (0 where the transport cannot tell)."""
        depths = {}
        try:
            with Connection(self.config.url) as connection:
                channel = connection.default_channel
                for queue in self.topology.all_queues():
                    _, count, _ = queue(channel).queue_declare(passive=True)
                    depths[queue.name] = count
        except (OSError, KombuError) as error:
            log.debug("queue depth unavailable: %s", error)
        return depths

    def ping(self) -> bool:
        try:
            with Connection(self.config.url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
            return True
        except (OSError, KombuError):
            return False

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                connection.release()
            except (OSError, KombuError):
                pass

    def _safe_url(self) -> str:
        """Return the broker URL without its password, for logs."""
        return Connection(self.config.url).as_uri(include_password=False)


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; used by tests and the demo."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
