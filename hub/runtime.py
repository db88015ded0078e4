"""The running hub: builds the parts from the configuration and starts workers, sweep and simulators.

In the embedded default everything runs in this one process. In production each process starts
the roles it is given (API, workers for some destinations, or both) against the shared RabbitMQ
and PostgreSQL; the topology and the journal schema are declared by whichever starts first.
"""

from __future__ import annotations

import importlib
import json
import logging
import secrets
import threading
from pathlib import Path
from typing import Any

from kombu import Exchange
from sqlalchemy.exc import DatabaseError

from adapters import registry
from adapters.base import Adapter, AdapterContext, Direction
from hub import validation
from hub.broker import Broker
from hub.config import SIMULATOR_URL, HubConfig, hash_api_key
from hub.errors import AuthenticationError, BrokerError, ConfigError, HubError
from hub.journal import DeliveryRecord, DeliveryState, Journal
from hub.delivery import Deliverer
from hub.ingress import Ingress
from hub.pipeline import DELIVERY_HEADER, job_headers
from hub.risk import RiskAssessor, load_restrictions
from hub.routing import Router
from hub.scheduler import Scheduler
from hub.species import SpeciesChecker
from adapters.speciesplus.snapshot import SpeciesSnapshot
from hub.signatures import SignaturePolicy
from monitoring import metrics

log = logging.getLogger(__name__)


class Hub:
    """All parts of one hub process."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.journal = Journal(config.journal_url, pool_size=config.journal.pool_size)
        self.simulators: dict[str, Any] = {}
        self.adapters = self._build_adapters()
        self.broker = Broker(_process_local(config.broker), destinations=list(self.adapters))
        self.router = Router(config.routes, config.twix_regions)
        self.signatures = SignaturePolicy(config)
        self.scheduler: Scheduler | None = None
        self.ingress = Ingress(config, self.journal, self.router, self.adapters, self.broker.publish_delivery,
                               self.signatures)
        self.ingress.species = _species_checker(config)
        policies = {name: partner.retry for name, partner in config.partners.items() if partner.retry}
        self.deliverer = Deliverer(self.journal, self.adapters, config.delivery, self.signatures, policies,
                                   self._reschedule)
        restrictions = load_restrictions(config.trade_restrictions) if config.trade_restrictions else []
        self.deliverer.risk = RiskAssessor(self.journal, restrictions)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _build_adapters(self) -> dict[str, Adapter]:
        """Build one adapter per partner that can receive; partners that only send need none."""
        adapters = {}
        for name, partner in self.config.partners.items():
            adapter_class = registry.load(partner.adapter)
            if partner.sign_outbound and not adapter_class.signs:
                raise ConfigError(f"partner '{name}': sign_outbound is set but adapter {adapter_class.name} "
                                  "sends a format that cannot carry an XML signature")
            if Direction.OUTBOUND not in adapter_class.directions:
                continue
            options = dict(partner.options)
            if options.get("url") == SIMULATOR_URL:
                options["url"] = self._start_simulator(name, adapter_class)
            context = AdapterContext(logger=logging.getLogger(f"adapters.{adapter_class.name}.{name}"),
                                     submit=self._submit)
            adapters[name] = adapter_class(name, options, context)
        return adapters

    def _start_simulator(self, partner: str, adapter_class: type[Adapter]) -> str:
        if not adapter_class.simulator:
            raise ConfigError(f"partner '{partner}': adapter {adapter_class.name} has no simulator; set options.url")
        module_name, _, class_name = adapter_class.simulator.partition(":")
        simulator = getattr(importlib.import_module(module_name), class_name)()
        base_url = simulator.start()
        self.simulators[partner] = simulator
        log.info("started simulator for partner %s at %s", partner, base_url)
        return base_url.rstrip("/") + adapter_class.simulator_path

    # -- life cycle -----------------------------------------------------------------------------

    def start(self, *, deliver: bool = True, sweep: bool = True, amqp_ingress: bool = True,
              destinations: list[str] | None = None, serve: bool = True) -> None:
        """Migrate the journal, declare the topology, then start the requested roles.

        ``serve`` starts the services that adapters offer to their partners (the EPIX national
        service); a worker-only process leaves them to the API processes.
        """
        self.journal.upgrade()
        self.broker.declare()
        self.ensure_api_keys()
        validation.warm_up()
        for adapter in self.adapters.values():
            adapter.start()
            start_service = getattr(adapter, "start_service", None)
            if serve and start_service is not None:
                start_service(self)  # stopped by adapter.close() in stop()
        if deliver:
            self._start_consumers(destinations or list(self.adapters))
        if amqp_ingress:
            self._spawn("amqp-ingress", self.broker.consume, self.broker.topology.ingress_queue,
                        self._on_ingress_message, self._stop, name="amqp-ingress")
        if sweep:
            self.sweep_once()
            self._spawn("sweep", self._sweep_loop)

    def _start_consumers(self, destinations: list[str]) -> None:
        """Start the delivery consumers, and on RabbitMQ those of the dead-letter queues."""
        topology = self.broker.topology
        # The in-process broker's consumers poll, so more of them only add wake-ups; RabbitMQ's block.
        per_destination = self.config.delivery.consumers_per_destination if topology.rabbitmq else 1
        for destination in destinations:
            for number in range(1, per_destination + 1):
                name = f"deliver-{destination}-{number}"
                self._spawn(name, self.broker.consume, topology.delivery_queues[destination],
                            self.deliverer.on_message, self._stop, name=name)
        if not topology.rabbitmq:
            return  # the in-process broker neither dead-letters nor routes to an alternate exchange
        for destination in destinations:
            self._spawn(f"parked-{destination}", self.broker.consume, topology.parked_queues[destination],
                        self._on_poison_job, self._stop, name=f"parked-{destination}")
        self._spawn("unroutable", self.broker.consume, topology.unroutable_queue, self._on_unroutable, self._stop,
                    name="unroutable")

    def _spawn(self, thread_name: str, target: Any, *args: Any, **kwargs: Any) -> None:
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, name=thread_name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        for adapter in self.adapters.values():
            adapter.close()
        for simulator in self.simulators.values():
            simulator.stop()
        self.broker.close()
        self.journal.close()

    def __enter__(self) -> "Hub":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _submit(self, payload: bytes, message_type: str, sender: str, *, message_id: str | None = None,
                correlation_id: str | None = None) -> Any:
        """Hand a payload that an adapter fetched to the ingress, as if ``sender`` had sent it."""
        return self.ingress.receive(payload, message_type=message_type, sender=sender, channel="adapter",
                                    message_id=message_id, correlation_id=correlation_id)

    # -- retries and broker dead letters -----------------------------------------------------------

    def _reschedule(self, destination: str, body: bytes, headers: dict[str, str], seconds: float) -> bool:
        """Publish a job again after ``seconds``: a RabbitMQ delay queue, or the embedded scheduler."""
        try:
            if self.broker.topology.rabbitmq:
                self.broker.publish_delayed(destination, body, headers, seconds)
            else:
                if self.scheduler is None:
                    self.scheduler = Scheduler()
                self.scheduler.call_later(seconds, lambda: self.broker.publish_delivery(destination, body, headers))
            return True
        except BrokerError as error:
            log.warning("could not queue the retry of delivery_id=%s: %s; the sweep will",
                        headers.get(DELIVERY_HEADER), error)
            return False

    def _on_poison_job(self, body: bytes, message: Any) -> None:
        """Park a job that RabbitMQ redelivered past the delivery limit, with the reason."""
        delivery_id = (message.headers or {}).get(DELIVERY_HEADER)
        record = self.journal.get_delivery(delivery_id) if delivery_id else None
        if record is not None and record.state not in DeliveryState.SETTLED:
            reason = (f"poison message: RabbitMQ redelivered the job more than {self.config.broker.delivery_limit} "
                      "times without an acknowledgement")
            self.journal.settle_delivery(delivery_id, DeliveryState.PARKED, worker="broker", error=reason)
            metrics.DELIVERIES.labels(record.adapter, DeliveryState.PARKED).inc()
            log.error("delivery_id=%s parked: %s", delivery_id, reason)
        message.ack()

    def _on_unroutable(self, body: bytes, message: Any) -> None:
        """Count, log and journal a publish that no queue was bound for; the sweep retries the delivery."""
        headers = message.headers or {}
        metrics.UNROUTABLE.inc()
        log.error("unroutable message delivery_id=%s destination=%s routing_key=%s",
                  headers.get(DELIVERY_HEADER), headers.get("x-cites-destination"),
                  message.delivery_info.get("routing_key"))
        message_id = headers.get("x-cites-message-id")
        if message_id:
            self.journal.add_event(message_id, "unroutable", actor="broker", delivery_id=headers.get(DELIVERY_HEADER),
                                   detail={"routing_key": message.delivery_info.get("routing_key")})
        message.ack()

    # -- sweep ----------------------------------------------------------------------------------

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.config.delivery.sweep_interval_seconds):
            try:
                self.sweep_once()
            except (HubError, DatabaseError) as error:
                log.warning("sweep failed: %s", error)
            except Exception:  # noqa: BLE001 - the sweep must outlive a database or broker outage
                log.exception("sweep failed")

    def sweep_once(self) -> int:
        """Publish every delivery the journal shows as due with no live lease; return how many."""
        published = []
        for record in self.journal.due_deliveries():
            message = self.journal.get_message(record.message_id)
            if message is None or record.destination not in self.adapters:
                continue
            headers = job_headers(message.envelope, record.delivery_id, record.destination, record.idempotency_key)
            try:
                self.broker.publish_delivery(record.destination, message.payload, headers)
            except BrokerError as error:
                log.warning("sweep could not publish delivery_id=%s: %s", record.delivery_id, error)
                break
            published.append(record.delivery_id)
        self.journal.postpone(published, self.config.delivery.lease_seconds)
        if published:
            metrics.REPUBLISHED_BY_SWEEP.inc(len(published))
            log.info("sweep republished %d due deliveries", len(published))
        return len(published)

    def refresh_gauges(self) -> None:
        """Set the gauges read from the journal and the broker, just before a scrape."""
        parked = {destination: 0 for destination in self.adapters}
        for (destination, state), count in self.journal.delivery_counts().items():
            if state == DeliveryState.PARKED:
                parked[destination] = count
        for destination, count in parked.items():
            metrics.DELIVERIES_PARKED.labels(destination).set(count)
        for queue, depth in self.broker.queue_depths().items():
            metrics.QUEUE_DEPTH.labels(queue).set(depth)

    def unsettled(self) -> int:
        """Deliveries not yet delivered or parked."""
        counts = self.journal.delivery_counts()
        return sum(n for (_, state), n in counts.items() if state not in DeliveryState.SETTLED)

    # -- AMQP ingress ---------------------------------------------------------------------------

    def _on_ingress_message(self, body: bytes, message: Any) -> None:
        headers = {str(k).lower(): v for k, v in (message.headers or {}).items()}
        properties = message.properties or {}
        try:
            sender = self._amqp_sender(headers, properties)
            result = self.ingress.receive(
                body, message_type=str(headers.get("x-cites-message-type", "")), sender=sender, channel="amqp",
                message_id=headers.get("x-cites-message-id"), correlation_id=properties.get("correlation_id"),
            )
            answer = result.as_dict()
        except HubError as error:
            log.warning("AMQP ingress rejected a message from %s: %s", headers.get("x-cites-sender"), error)
            answer = {"status": "rejected", "error": str(error)}
        self._reply(properties, answer)
        message.ack()

    def _amqp_sender(self, headers: dict[str, Any], properties: dict[str, Any]) -> str:
        sender = str(headers.get("x-cites-sender", ""))
        partner = self.config.partners.get(sender)
        if partner is None:
            raise AuthenticationError(f"x-cites-sender '{sender}' is not a configured partner")
        if not self.config.embedded and partner.amqp_user != properties.get("user_id"):
            raise AuthenticationError(f"AMQP user_id does not match partner '{sender}'; set amqp_user and user_id")
        return sender

    def _reply(self, properties: dict[str, Any], answer: dict[str, Any]) -> None:
        reply_to = properties.get("reply_to")
        if not reply_to:
            return
        try:
            self.broker.publish(Exchange(""), reply_to, json.dumps(answer).encode(), {},
                                content_type="application/json", correlation_id=properties.get("correlation_id"))
        except BrokerError as error:
            log.warning("could not send the response to reply_to %s: %s", reply_to, error)

    # -- API keys -------------------------------------------------------------------------------

    def ensure_api_keys(self) -> None:
        """In the embedded mode, give each sending partner without a key a new one, saved 0600."""
        if not self.config.embedded:
            return
        for name, partner in self.config.partners.items():
            if partner.may_send and not partner.api_key_sha256:
                key = read_or_create_api_key(self.config.data_dir, name)
                partner.api_key_sha256.append(hash_api_key(key))
        for name, operator in self.config.operators.items():
            if not operator.api_key_sha256:
                key = read_or_create_api_key(self.config.data_dir, f"operator-{name}")
                operator.api_key_sha256.append(hash_api_key(key))

    def authenticate(self, api_key: str | None) -> str:
        """Return the partner that owns ``api_key``; AuthenticationError otherwise."""
        return _key_owner(api_key, self.config.partners, "a partner's")

    def authenticate_operator(self, api_key: str | None) -> str:
        """Return the operator who owns ``api_key``; AuthenticationError otherwise."""
        return _key_owner(api_key, self.config.operators, "an operator's")

    # -- parked deliveries ----------------------------------------------------------------------

    def replay(self, delivery_id: str, *, actor: str, reason: str) -> DeliveryRecord:
        """Replay a parked delivery now (the journal records who and why)."""
        record = self.journal.replay_delivery(delivery_id, actor=actor, reason=reason)
        message = self.journal.get_message(record.message_id)
        if message is not None and record.destination in self.adapters:
            headers = job_headers(message.envelope, record.delivery_id, record.destination, record.idempotency_key)
            try:
                self.broker.publish_delivery(record.destination, message.payload, headers)
                self.journal.postpone([record.delivery_id], self.config.delivery.lease_seconds)
            except BrokerError as error:
                log.warning("replayed delivery_id=%s not published (%s); the sweep will", delivery_id, error)
        log.info("delivery_id=%s replayed by %s: %s", delivery_id, actor, reason)
        return record

    def discard(self, delivery_id: str, *, actor: str, reason: str) -> DeliveryRecord:
        record = self.journal.discard_delivery(delivery_id, actor=actor, reason=reason)
        log.info("delivery_id=%s discarded by %s: %s", delivery_id, actor, reason)
        return record


def _process_local(broker: Any) -> Any:
    """Give an in-process broker a namespace of this hub's own.

    The in-process transport keeps its queues per Python process, so two hubs in one process (tests,
    the EPIX walkthrough) would otherwise consume each other's jobs.
    """
    if not broker.url.startswith("memory://"):
        return broker
    return broker.model_copy(update={"namespace": f"{broker.namespace}-{secrets.token_hex(4)}"})


def _key_owner(api_key: str | None, owners: dict[str, Any], kind: str) -> str:
    """Return the name whose ``api_key_sha256`` list holds the key's hash, compared in constant time."""
    if not api_key:
        raise AuthenticationError(f"missing API key; send {kind} key in the X-API-Key header")
    digest = hash_api_key(api_key)
    for name, owner in owners.items():
        if any(secrets.compare_digest(digest, known) for known in owner.api_key_sha256):
            return name
    raise AuthenticationError(f"the API key is not {kind} key; check the key file or ask the hub's operators")


def _species_checker(config: HubConfig) -> SpeciesChecker | None:
    if config.species is None:
        return None
    snapshot = SpeciesSnapshot.load(config.species.snapshot)
    log.info("species list %s loaded: %d taxa", config.species.snapshot, len(snapshot))
    return SpeciesChecker(snapshot, unknown_policy=config.species.unknown_policy)


def api_key_path(data_dir: Path, partner: str) -> Path:
    return Path(data_dir) / "api-keys" / f"{partner}.key"


def read_or_create_api_key(data_dir: Path, partner: str) -> str:
    path = api_key_path(data_dir, partner)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(key + "\n", encoding="utf-8")
    log.info("created an API key for partner %s in %s", partner, path)
    return key
