"""The limits of the hub's parts, each measured alone on the same permit documents as the hub.

Each part is timed in this process, one call after another in one thread, for ``iterations``
calls per round. Its cost is the median over ``rounds`` rounds of the wall time and of the CPU time
(user + system of this process) per call. The libraries are called directly, as the hub would
call them at best, except for the journal and the signer, whose own API is the part.

A part whose service (RabbitMQ, PostgreSQL) is missing is left out, and the reason is recorded.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import xmlschema
from kombu import Connection, Consumer, Exchange, Producer, Queue

import schemas
from hub import safexml, validation
from hub.envelope import Envelope, MessageType, new_id
from hub.journal import Journal, MessageStatus, PlannedDelivery
from mappings import citesepermit
from signing.keys import KeyStore
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import Verifier

PREFETCH = 32
CONFIRM_TIMEOUT_SECONDS = 5.0
DRAIN_TIMEOUT_SECONDS = 10.0
# xmlschema is about 30 times slower than lxml, so it gets fewer calls.
XMLSCHEMA_SHARE = 10


@dataclass
class PartCost:
    """The cost of one call of a part, in seconds: wall time and CPU time, medians over the rounds."""

    name: str
    description: str
    iterations: int
    rounds: int
    wall_seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return 1.0 / self.wall_seconds if self.wall_seconds else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_second": round(self.per_second, 1)}


@dataclass
class PartInputs:
    """The inputs of the parts: permit documents, services, the sink, and a signing key."""

    documents: list[bytes]
    sink_url: str
    key_path: Path
    cert_path: Path
    party: str
    rabbitmq_url: str | None = None
    postgres_url: str | None = None


def measure(name: str, description: str, call: Callable[[int], object], iterations: int, rounds: int) -> PartCost:
    """Time ``call(i)`` for i in 0..iterations-1, ``rounds`` times, after a warm-up of a tenth as many calls."""
    for index in range(max(1, iterations // 10)):
        call(index)

    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for index in range(iterations):
            call(index)
        walls.append((time.perf_counter() - wall) / iterations)
        cpus.append((time.process_time() - cpu) / iterations)
    return PartCost(name, description, iterations, rounds, statistics.median(walls), statistics.median(cpus))


def measure_all(inputs: PartInputs, iterations: int, rounds: int) -> tuple[dict[str, PartCost], dict[str, str]]:
    """Measure every part; return the costs by name and, by name, why a part was left out."""
    costs: dict[str, PartCost] = {}
    skipped: dict[str, str] = {}
    for cost in _xml_parts(inputs.documents, iterations, rounds):
        costs[cost.name] = cost
    for cost in _signing_parts(inputs, iterations, rounds):
        costs[cost.name] = cost

    for cost in _journal_parts("sqlite", None, inputs.documents, iterations, rounds):
        costs[cost.name] = cost
    for cost in _broker_parts("memory", "memory://", inputs.documents, iterations, rounds):
        costs[cost.name] = cost
    if inputs.postgres_url:
        for cost in _journal_parts("postgresql", inputs.postgres_url, inputs.documents, iterations, rounds):
            costs[cost.name] = cost
    else:
        skipped["journal_write_postgresql"] = "PostgreSQL is not available"
    if inputs.rabbitmq_url:
        for cost in _broker_parts("rabbitmq", inputs.rabbitmq_url, inputs.documents, iterations, rounds):
            costs[cost.name] = cost
    else:
        skipped["publish_rabbitmq"] = "RabbitMQ is not available"

    costs["http_send"] = _http_part(inputs, iterations, rounds)
    return costs, skipped


# -- XML -------------------------------------------------------------------------------------------


def _xml_parts(documents: list[bytes], iterations: int, rounds: int) -> Iterator[PartCost]:
    count = len(documents)
    roots = [safexml.parse(document) for document in documents]
    lxml_schema = validation.compiled_schema(citesepermit.SCHEMA_FILE)
    xmlschema_schema = xmlschema.XMLSchema(str(schemas.path(citesepermit.SCHEMA_FILE)))

    yield measure("parse", "hub.safexml.parse of a permit document", lambda i: safexml.parse(documents[i % count]),
                  iterations, rounds)
    yield measure("xsd_lxml", "XSD validation of a parsed permit, lxml (libxml2)",
                  lambda i: lxml_schema.validate(roots[i % count]), iterations, rounds)
    yield measure("xsd_xmlschema", "XSD validation of a parsed permit, xmlschema",
                  lambda i: xmlschema_schema.is_valid(roots[i % count]), max(1, iterations // XMLSCHEMA_SHARE), rounds)
    yield measure("map", "mappings.citesepermit.from_xml: parsed permit to the Permit model",
                  lambda i: citesepermit.from_xml(roots[i % count]), iterations, rounds)


# -- signing ---------------------------------------------------------------------------------------


def _signing_parts(inputs: PartInputs, iterations: int, rounds: int) -> Iterator[PartCost]:
    keystore, trust = KeyStore(), TrustStore()
    loaded = keystore.add(inputs.party, inputs.key_path, inputs.cert_path)
    trust.pin_certificates(inputs.party, inputs.cert_path)
    signer, verifier = Signer(keystore), Verifier(trust)
    documents = inputs.documents
    count = len(documents)
    signed = [signer.sign(document, inputs.party) for document in documents[:iterations]]

    yield measure("sign", f"signing.Signer.sign with a loaded {loaded.algorithm.upper()} key (parses the bytes too)",
                  lambda i: signer.sign(documents[i % count], inputs.party), iterations, rounds)
    yield measure("verify", f"signing.Verifier.verify of a document signed with that {loaded.algorithm.upper()} key",
                  lambda i: verifier.verify(signed[i % len(signed)], inputs.party), iterations, rounds)


# -- journal ---------------------------------------------------------------------------------------


def _journal_parts(database: str, url: str | None, documents: list[bytes], iterations: int,
                   rounds: int) -> Iterator[PartCost]:
    with tempfile.TemporaryDirectory(prefix="cites-hub-bench-journal-") as folder:
        journal = Journal(url or f"sqlite:///{Path(folder) / 'journal.sqlite3'}")
        try:
            journal.upgrade()
            yield from _journal_costs(database, journal, documents, iterations, rounds)
        finally:
            journal.close()


def _journal_costs(database: str, journal: Journal, documents: list[bytes], iterations: int,
                   rounds: int) -> Iterator[PartCost]:
    count = len(documents)
    written: list[str] = []
    # A permit is issued once: a repeated permit.issued of one number is journaled without deliveries,
    # so every write gets a number of its own, also in a journal that earlier runs wrote to.
    run_prefix = new_id()[:8]
    numbers = itertools.count()

    def write(index: int) -> None:
        payload = documents[index % count]
        envelope = Envelope.for_payload(payload, message_type=MessageType.PERMIT_ISSUED, sender="permit-store",
                                        permit=f"FR/{run_prefix}-{next(numbers)}", schema=citesepermit.NAMESPACE)
        delivery = PlannedDelivery(delivery_id=new_id(), destination="sink", adapter="permit_store",
                                   route="permits-to-sink", idempotency_key=f"{envelope.message_id}:sink")
        journal.record_message(envelope, payload, status=MessageStatus.ACCEPTED, findings=[], planned=[delivery])
        written.append(delivery.delivery_id)

    def claim_and_settle(index: int) -> None:
        delivery_id = written[index]
        journal.claim_delivery(delivery_id, worker="benchmark", lease_seconds=60)
        journal.settle_delivery(delivery_id, "delivered", worker="benchmark", reference=None, detail={})

    yield measure(f"journal_write_{database}",
                  f"Journal.record_message with one planned delivery, {database}", write, iterations, rounds)
    # Each round settles deliveries written above, so every round needs as many as there are calls.
    pending = iter(range(len(written)))
    yield measure(f"journal_claim_settle_{database}",
                  f"Journal.claim_delivery then settle_delivery of one delivery, {database}",
                  lambda i: claim_and_settle(next(pending)), min(iterations, len(written) // (rounds + 1)), rounds)


# -- broker ----------------------------------------------------------------------------------------


def job_headers_like(index: int) -> dict[str, str]:
    """Headers of the size and shape the hub puts on a delivery job (envelope and delivery ids)."""
    message_id = new_id()
    return {
        "x-cites-message-id": message_id, "x-cites-correlation-id": message_id,
        "x-cites-message-type": "permit.issued", "x-cites-sender": "permit-store",
        "x-cites-payload-sha256": "0" * 64, "x-cites-created-at": "2026-01-01T00:00:00.000000+00:00",
        "x-cites-permit": f"FR/{index:010d}", "x-cites-schema": citesepermit.NAMESPACE,
        "x-cites-signature-state": "unsigned", "x-cites-delivery-id": new_id(),
        "x-cites-destination": "sink", "x-cites-idempotency-key": f"{message_id}:sink",
    }


@contextmanager
def _bench_queue(url: str) -> Iterator[tuple[Connection, Exchange, Queue]]:
    """Yield a connection and a durable queue (a quorum queue on RabbitMQ, as the hub declares), deleted after."""
    options = {"confirm_publish": True} if url.startswith("amqp") else {"polling_interval": 0.005}
    name = f"bench.{new_id()[:8]}"
    exchange = Exchange(name, type="direct", durable=True)
    arguments = {"x-queue-type": "quorum"} if url.startswith("amqp") else {}
    queue = Queue(name, exchange, routing_key=name, durable=True, queue_arguments=arguments)
    with Connection(url, transport_options=options) as connection:
        bound = queue(connection.default_channel)
        bound.declare()
        try:
            yield connection, exchange, queue
        finally:
            bound.delete()


def _broker_parts(broker: str, url: str, documents: list[bytes], iterations: int, rounds: int) -> Iterator[PartCost]:
    count = len(documents)
    with _bench_queue(url) as (connection, exchange, queue):
        producer = Producer(connection.default_channel)

        def publish(index: int) -> None:
            producer.publish(documents[index % count], exchange=exchange, routing_key=queue.routing_key,
                             headers=job_headers_like(index), mandatory=True, delivery_mode=2,
                             content_type="application/octet-stream", content_encoding="binary",
                             confirm_timeout=CONFIRM_TIMEOUT_SECONDS)

        confirm = ", each confirmed" if url.startswith("amqp") else ""
        yield measure(f"publish_{broker}", f"kombu publish of a delivery job{confirm}, {broker}", publish,
                      iterations, rounds)
        queue(connection.default_channel).purge()
        yield _consume_cost(broker, connection, queue, publish, iterations, rounds)


def _consume_cost(broker: str, connection: Connection, queue: Queue, publish: Callable[[int], None],
                  iterations: int, rounds: int) -> PartCost:
    """Fill the queue with no consumer on it, then time a new consumer draining it; median over rounds."""
    received: list[int] = []

    def on_message(body: Any, message: Any) -> None:
        message.ack()
        received.append(1)

    def fill_and_drain(count: int) -> tuple[float, float]:
        for index in range(count):
            publish(index)
        received.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        with Consumer(connection, queues=[queue], callbacks=[on_message], accept=None, prefetch_count=PREFETCH):
            while len(received) < count and time.monotonic() < deadline:
                connection.drain_events(timeout=DRAIN_TIMEOUT_SECONDS)
        return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count

    fill_and_drain(max(1, iterations // 10))
    samples = [fill_and_drain(iterations) for _ in range(rounds)]
    return PartCost(f"consume_{broker}", f"kombu consume and ack of a delivery job (prefetch {PREFETCH}), {broker}",
                    iterations, rounds, statistics.median(wall for wall, _ in samples),
                    statistics.median(cpu for _, cpu in samples))


# -- HTTP ------------------------------------------------------------------------------------------


def _http_part(inputs: PartInputs, iterations: int, rounds: int) -> PartCost:
    documents = inputs.documents
    count = len(documents)
    with httpx.Client(timeout=5.0) as client:
        def post(index: int) -> None:
            headers = {**job_headers_like(index), "Content-Type": "application/xml", "Idempotency-Key": str(index)}
            client.post(inputs.sink_url, content=documents[index % count], headers=headers).raise_for_status()

        return measure("http_send", "httpx POST of a permit to the sink on 127.0.0.1, keep-alive", post,
                       iterations, rounds)
