"""The message path: receive → validate → route → journal → publish, then deliver.

:class:`Ingress` runs steps 1 to 3 and journals the outcome before the sender gets an answer.
:class:`Deliverer` runs one delivery job: claim it in the journal, map, send, record the outcome.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Callable

from lxml import etree
from sqlalchemy.exc import DatabaseError

from adapters.base import Adapter, DeliveryJob, Outbound
from hub import safexml, validation
from hub.config import DeliveryConfig, HubConfig, RetryPolicy
from hub.envelope import PERMIT_PAYLOAD_TYPES, Envelope, MessageType, new_id, utcnow
from hub.errors import (
    AuthenticationError,
    BrokerError,
    DeliveryError,
    Finding,
    InvalidMessage,
    Park,
    Reject,
    Retry,
    Severity,
    SignatureError,
)
from hub.journal import DeliveryRecord, DeliveryState, Journal, MessageStatus, PlannedDelivery
from hub.permit import Endorsement, Permit, Quantity, TradeParty
from hub.seizure import Seizure
from hub.species import SpeciesChecker
from hub.usage import UsageReport
from hub.risk import RiskAssessor
from hub.routing import Router
from hub.signatures import SignaturePolicy
from mappings import cbfship, citesepermit
from monitoring import metrics

log = logging.getLogger(__name__)

DELIVERY_HEADER = "x-cites-delivery-id"
DESTINATION_HEADER = "x-cites-destination"
IDEMPOTENCY_HEADER = "x-cites-idempotency-key"

Publish = Callable[[str, bytes, dict[str, str]], None]


@dataclass
class IngressResult:
    """What the sender is told: the message id, the status, every finding and the planned deliveries."""

    message_id: str
    correlation_id: str
    status: str
    findings: list[dict[str, Any]]
    deliveries: list[dict[str, str]] = field(default_factory=list)
    duplicate: bool = False
    permit: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status != MessageStatus.REJECTED

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "correlation_id": self.correlation_id,
            "status": self.status,
            "permit": self.permit,
            "duplicate": self.duplicate,
            "findings": self.findings,
            "deliveries": self.deliveries,
        }


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


class Ingress:
    """Steps 1 to 3 of the pipeline, shared by the HTTP API and the AMQP ingress."""

    def __init__(self, config: HubConfig, journal: Journal, router: Router, adapters: dict[str, Adapter],
                 publish: Publish, signatures: SignaturePolicy) -> None:
        self.config = config
        self.journal = journal
        self.router = router
        self.adapters = adapters
        self.publish = publish
        self.signatures = signatures
        self.species: SpeciesChecker | None = None

    def receive(self, payload: bytes, *, message_type: str, sender: str, channel: str,
                message_id: str | None = None, correlation_id: str | None = None) -> IngressResult:
        """Validate, route and journal one message; the result is what the sender is answered."""
        started = time.perf_counter()
        if message_id:
            _check_message_id(message_id)
            earlier = self._earlier_result(message_id, sender)
            if earlier is not None:
                metrics.MESSAGES_RECEIVED.labels(earlier.status, channel, "duplicate").inc()
                return earlier

        checked = self._validate(payload, message_type, sender, message_id, correlation_id)
        envelope, permit, findings = checked.envelope, checked.permit, checked.findings
        status = _status_of(findings)
        if status != MessageStatus.REJECTED:
            same = self.journal.find_same_content(sender, envelope.message_type.value, envelope.payload_sha256)
            if same is not None:
                metrics.MESSAGES_RECEIVED.labels(envelope.message_type.value, channel, "duplicate").inc()
                return self._earlier_result(same, sender)

        planned = self._plan(envelope, checked, findings)
        outcome = self.journal.record_message(envelope, payload, status=_status_of(findings), findings=findings,
                                              planned=planned, signer=checked.signer, permit=permit,
                                              usage=checked.usage,
                                              republish_after=self.config.delivery.lease_seconds)
        if not outcome.written:
            return self._earlier_result(envelope.message_id, sender) or self._result(envelope, status, findings, [])

        self._publish_planned(envelope, payload, outcome.planned)
        if checked.usage is not None and outcome.status != MessageStatus.REJECTED:
            self._record_final_certificate(envelope, checked.usage)
        metrics.MESSAGES_RECEIVED.labels(envelope.message_type.value, channel, outcome.status).inc()
        metrics.INGRESS_SECONDS.labels(channel).observe(time.perf_counter() - started)
        log.info("received message_id=%s permit=%s type=%s sender=%s status=%s deliveries=%d",
                 envelope.message_id, envelope.permit, envelope.message_type.value, sender, outcome.status,
                 len(outcome.planned))
        return self._result(envelope, outcome.status, outcome.findings, outcome.planned)

    def _validate(self, payload: bytes, message_type: str, sender: str, message_id: str | None,
                  correlation_id: str | None) -> "Checked":
        """Check the signature (when the sender's profile asks), then validate what it covers."""
        kind = MessageType.parse(message_type)
        self._authorize(sender, kind)
        started = time.perf_counter()
        check = self.signatures.check_inbound(sender, payload)
        if check.finding is not None:
            result = validation.ValidationResult(None, [check.finding], "")
        else:
            result = validation.validate(check.content, kind, self.species)
        metrics.VALIDATION_SECONDS.observe(time.perf_counter() - started)
        envelope = Envelope.for_payload(
            payload, message_type=kind, sender=sender, message_id=message_id, correlation_id=correlation_id,
            permit=_permit_key(result, payload), schema=result.schema or None, signature_state=check.state,
        )
        return Checked(envelope, result.permit, list(result.findings), check.signer, result.seizure, result.usage)

    def _record_final_certificate(self, usage_envelope: Envelope, usage: UsageReport) -> None:
        """Journal the permit with this box 14 endorsement as the final certificate EPIX serves."""
        try:
            final = self.final_certificate(usage)
        except (InvalidMessage, LookupError) as error:
            log.warning("no final certificate for permit %s: %s", usage.permit_key, error)
            return
        envelope = Envelope.for_payload(final, message_type=MessageType.PERMIT_ENDORSED, sender=HUB_SENDER,
                                        correlation_id=usage_envelope.correlation_id, permit=usage.permit_key,
                                        schema=citesepermit.NAMESPACE)
        self.journal.record_message(envelope, final, status=MessageStatus.ACCEPTED, findings=[], actor=HUB_SENDER)

    def final_certificate(self, usage: UsageReport) -> bytes:
        """The permit as issued, with box 14 filled from every use Customs reported so far."""
        message_id = self.journal.permit_message_id(usage.issuing_party, usage.permit_number)
        payload = self.journal.payload_of(message_id) if message_id else None
        if payload is None:
            raise LookupError(f"the journal holds no CITESEPermit of permit {usage.permit_key}")
        permit = read_permit(payload)
        used = self.journal.usage_by_line(usage.issuing_party, usage.permit_number)
        items = [item.model_copy(update={"exported_quantity": Quantity(value=used[item.line_id], unit=item.quantity.unit)})
                 if item.line_id in used else item for item in permit.items]
        endorsement = Endorsement(endorsed_at=usage.used_at, port=usage.port,
                                  office=TradeParty(name=usage.office) if usage.office else None)
        return citesepermit.to_xml(permit.model_copy(update={"items": items, "endorsement": endorsement}))

    def _authorize(self, sender: str, kind: MessageType) -> None:
        partner = self.config.partners.get(sender)
        if partner is None:
            raise AuthenticationError(f"sender '{sender}' is not a configured partner")
        if kind not in partner.may_send:
            allowed = ", ".join(t.value for t in partner.may_send) or "nothing"
            raise AuthenticationError(f"partner '{sender}' may not send {kind.value}; it may send: {allowed}")

    def _plan(self, envelope: Envelope, checked: "Checked", findings: list[Finding]) -> list[PlannedDelivery]:
        if any(f.severity is Severity.ERROR for f in findings):
            return []
        started = time.perf_counter()
        recipients = self.router.route(envelope, checked.permit, checked.seizure)
        metrics.ROUTING_SECONDS.observe(time.perf_counter() - started)
        if not recipients:
            findings.append(Finding(Severity.WARNING, "/", "no route matched this message; it is journaled only",
                                    value=envelope.message_type.value, expected="a route in the configuration"))
        return [
            PlannedDelivery(delivery_id=new_id(), destination=r.destination,
                            adapter=self.config.partners[r.destination].adapter, route=r.route,
                            idempotency_key=f"{envelope.message_id}:{r.destination}")
            for r in recipients
        ]

    def _publish_planned(self, envelope: Envelope, payload: bytes, planned: list[PlannedDelivery]) -> None:
        for delivery in planned:
            try:
                self.publish(delivery.destination, payload, job_headers(envelope, delivery.delivery_id,
                                                                         delivery.destination,
                                                                         delivery.idempotency_key))
                metrics.PUBLISHED.labels("ingress").inc()
            except BrokerError as error:
                # The delivery is journaled as pending, so the sweep publishes it again later.
                metrics.PUBLISH_FAILURES.inc()
                log.warning("publish failed message_id=%s delivery_id=%s: %s; the sweep will retry",
                            envelope.message_id, delivery.delivery_id, error)

    def _earlier_result(self, message_id: str, sender: str) -> IngressResult | None:
        record = self.journal.get_message(message_id)
        if record is None:
            return None
        if record.envelope.sender != sender:
            raise AuthenticationError(f"message_id '{message_id}' was already used by another sender")
        result = self._result(record.envelope, record.status, [], [])
        result.findings = record.findings
        result.deliveries = [{"delivery_id": d.delivery_id, "destination": d.destination, "state": d.state}
                             for d in record.deliveries]
        result.duplicate = True
        return result

    @staticmethod
    def _result(envelope: Envelope, status: str, findings: list[Finding],
                planned: list[PlannedDelivery]) -> IngressResult:
        return IngressResult(
            message_id=envelope.message_id, correlation_id=envelope.correlation_id, status=status,
            findings=[f.as_dict() for f in findings], permit=envelope.permit,
            deliveries=[{"delivery_id": p.delivery_id, "destination": p.destination, "state": DeliveryState.PENDING}
                        for p in planned],
        )


_PERMIT_NUMBER = etree.XPath("string(/*/*[local-name()='HeaderExchangedDocument']/*[local-name()='ID'])")
_ISSUING_COUNTRY = etree.XPath(
    "string(/*/*[local-name()='HeaderExchangedDocument']/*[local-name()='FirstSignatoryDocumentAuthentication']"
    "/*[local-name()='ProviderTradeParty']/*[local-name()='PostalTradeAddress']/*[local-name()='CountryID'])")
_CONSIGNOR_COUNTRY = etree.XPath(
    "string(/*/*[local-name()='SpecifiedSupplyChainConsignment']/*[local-name()='ConsignorTradeParty']"
    "/*[local-name()='PostalTradeAddress']/*[local-name()='CountryID'])")


def identify_permit(payload: bytes) -> str | None:
    """Best-effort 'PARTY/NUMBER' of a document that failed validation, so its evidence can be found.

    Only a permit number that reads as one (1 to 70 characters) is taken; the party is the
    Management Authority's country, else the consignor's, else '??'.
    """
    try:
        root = safexml.parse(payload)
    except InvalidMessage:
        return None
    number = _PERMIT_NUMBER(root).strip()
    if not number or len(number) > 70:
        return None
    party = (_ISSUING_COUNTRY(root) or _CONSIGNOR_COUNTRY(root)).strip()
    return f"{party if len(party) == 2 else '??'}/{number}"


@dataclass
class Checked:
    """A received message after its signature and payload were checked."""

    envelope: Envelope
    permit: Permit | None
    findings: list[Finding]
    signer: str | None
    seizure: Seizure | None = None
    usage: UsageReport | None = None


HUB_SENDER = "hub"


def _permit_key(result: validation.ValidationResult, payload: bytes) -> str | None:
    if result.permit is not None:
        return result.permit.key
    if result.usage is not None:
        return result.usage.permit_key
    return identify_permit(payload)


def _check_message_id(message_id: str) -> None:
    try:
        uuid.UUID(message_id)
    except ValueError:
        raise InvalidMessage(f"message_id '{message_id[:80]}' is not a UUID; expected e.g. {new_id()}") from None


def _status_of(findings: list[Finding]) -> str:
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities:
        return MessageStatus.REJECTED
    if Severity.WARNING in severities:
        return MessageStatus.ACCEPTED_WITH_WARNINGS
    return MessageStatus.ACCEPTED


def job_headers(envelope: Envelope, delivery_id: str, destination: str, idempotency_key: str) -> dict[str, str]:
    """AMQP headers of a delivery job: the envelope plus the delivery's own ids."""
    headers = envelope.to_headers()
    headers[DELIVERY_HEADER] = delivery_id
    headers[DESTINATION_HEADER] = destination
    headers[IDEMPOTENCY_HEADER] = idempotency_key
    return headers


Reschedule = Callable[[str, bytes, dict[str, str], float], bool]


class Deliverer:
    """Runs delivery jobs for every destination: claim, map, send, record.

    A transient failure is retried after an exponential backoff with jitter: ``reschedule``
    publishes the job again after the delay (a RabbitMQ delay queue, or the embedded scheduler)
    and returns False when it cannot, in which case the sweep publishes it once it is due.
    """

    def __init__(self, journal: Journal, adapters: dict[str, Adapter], config: DeliveryConfig,
                 signatures: SignaturePolicy, policies: dict[str, RetryPolicy] | None = None,
                 reschedule: Reschedule | None = None) -> None:
        self.journal = journal
        self.adapters = adapters
        self.config = config
        self.signatures = signatures
        self.policies = policies or {}
        self.reschedule = reschedule or (lambda destination, body, headers, seconds: False)
        self.risk: RiskAssessor | None = None

    def policy(self, destination: str) -> RetryPolicy:
        return self.policies.get(destination) or self.config

    def on_message(self, body: bytes, message: Any) -> None:
        """kombu callback: run the job, then acknowledge; the journal decides what happens next."""
        headers = message.headers or {}
        delivery_id = headers.get(DELIVERY_HEADER)
        try:
            if delivery_id is None:
                log.error("job without %s header dropped; the journal is unaffected", DELIVERY_HEADER)
                return
            self.deliver(delivery_id, body, headers)
        except DatabaseError as error:
            # The journal is unreachable; the job's lease lapses and the sweep publishes it again.
            log.warning("journal unavailable during delivery_id=%s: %s; the sweep will retry", delivery_id,
                        error.orig or error)
        except Exception:  # noqa: BLE001 - the lease lapses and the sweep runs the job again
            log.exception("delivery job failed unexpectedly delivery_id=%s", delivery_id)
        finally:
            message.ack()

    def deliver(self, delivery_id: str, payload: bytes, headers: dict[str, Any]) -> str | None:
        """Run one delivery; return its new state, or None when another worker holds it or it is settled."""
        worker = worker_name()
        record = self.journal.claim_delivery(delivery_id, worker=worker, lease_seconds=self.config.lease_seconds)
        if record is None:
            return None
        limit = self.policy(record.destination).max_attempts
        if record.attempts > limit:
            reason = (f"attempt {record.attempts} exceeds the limit of {limit}; earlier attempts ended without an "
                      "outcome (a worker stopped while holding it, or a poison message)")
            self.journal.settle_delivery(delivery_id, DeliveryState.PARKED, worker=worker, error=reason)
            return DeliveryState.PARKED
        adapter = self.adapters[record.destination]
        envelope = Envelope.from_headers(headers)
        permit = _permit_for(envelope, payload)
        flags = tuple(self.risk.flags(permit)) if adapter.wants_risk_flags and permit and self.risk else ()
        job = DeliveryJob(delivery_id=delivery_id, destination=record.destination, envelope=envelope,
                          payload=payload, idempotency_key=record.idempotency_key, attempt=record.attempts,
                          permit=permit, risk_flags=flags)
        return self._attempt(adapter, job, record, worker)

    def _attempt(self, adapter: Adapter, job: DeliveryJob, record: DeliveryRecord, worker: str) -> str:
        started = time.perf_counter()
        try:
            outbound, signed = self._outbound(adapter, job)
            receipt = adapter.send(outbound, job)
        except Exception as error:  # noqa: BLE001 - every failure is classified and journaled below
            return self._settle_failure(adapter, job, record, worker, error)
        finally:
            metrics.DELIVERY_SECONDS.labels(adapter.name).observe(time.perf_counter() - started)

        state = receipt.state
        detail: dict[str, Any] = {"signed": True} if signed else {}
        if receipt.warnings:
            detail["warnings"] = list(receipt.warnings)
        self.journal.settle_delivery(job.delivery_id, state, worker=worker, reference=receipt.reference,
                                     detail=detail)
        metrics.DELIVERIES.labels(adapter.name, state).inc()
        metrics.ADAPTER_UP.labels(job.destination).set(1)
        metrics.END_TO_END_SECONDS.labels(adapter.name).observe(
            (utcnow() - job.envelope.created_at).total_seconds())
        log.info("delivered message_id=%s permit=%s adapter=%s destination=%s outcome=%s attempt=%d",
                 job.envelope.message_id, job.envelope.permit, adapter.name, job.destination, state, job.attempt)
        return state

    def _outbound(self, adapter: Adapter, job: DeliveryJob) -> tuple[Outbound, bool]:
        """Map the job to the destination's format, then sign it if the destination's profile says so."""
        outbound = adapter.map_out(job)
        body, signed = self.signatures.sign_outbound(job.destination, outbound.body)
        return (replace(outbound, body=body) if signed else outbound), signed

    def _settle_failure(self, adapter: Adapter, job: DeliveryJob, record: DeliveryRecord, worker: str,
                        error: Exception) -> str:
        reason = f"{type(error).__name__}: {error}"
        transient, retry_after = self._classify(adapter, error)
        policy = self.policy(job.destination)
        if transient and record.attempts < policy.max_attempts:
            delay = retry_after if retry_after is not None else self.backoff(record.attempts, policy)
            self._retry_later(job, worker, reason, delay)
            state = DeliveryState.FAILED
            metrics.ADAPTER_UP.labels(job.destination).set(0)
        else:
            if transient:
                reason = f"gave up after {record.attempts} attempts: {reason}"
            self.journal.settle_delivery(job.delivery_id, DeliveryState.PARKED, worker=worker, error=reason)
            state = DeliveryState.PARKED
        metrics.DELIVERIES.labels(adapter.name, state).inc()
        level = logging.WARNING if transient else logging.ERROR
        log.log(level, "delivery %s message_id=%s permit=%s adapter=%s destination=%s attempt=%d: %s",
                state, job.envelope.message_id, job.envelope.permit, adapter.name, job.destination, job.attempt,
                reason)
        return state

    @staticmethod
    def _classify(adapter: Adapter, error: Exception) -> tuple[bool, float | None]:
        """Return (transient, retry after seconds) as the error and the adapter's declaration say."""
        if isinstance(error, Retry):
            return True, error.after
        if isinstance(error, (Reject, Park, InvalidMessage, SignatureError)):
            return False, None
        if isinstance(error, DeliveryError):
            return error.transient, None
        if adapter.transient_errors and isinstance(error, adapter.transient_errors):
            return True, None
        return False, None

    def _retry_later(self, job: DeliveryJob, worker: str, reason: str, delay: float) -> None:
        """Record the failure, then queue the next attempt; the sweep is the fallback if queueing fails."""
        retry_at = utcnow() + timedelta(seconds=delay)
        self.journal.settle_delivery(job.delivery_id, DeliveryState.FAILED, worker=worker, error=reason,
                                     retry_at=retry_at)
        headers = job_headers(job.envelope, job.delivery_id, job.destination, job.idempotency_key)
        if self.reschedule(job.destination, job.payload, headers, delay):
            # The queued job comes back on time; the sweep only steps in if it is lost.
            self.journal.postpone([job.delivery_id], delay + self.config.lease_seconds)

    @staticmethod
    def backoff(attempts: int, policy: RetryPolicy) -> float:
        """Exponential backoff with jitter: a random delay in the upper half of the capped step."""
        ceiling = min(policy.backoff_max_seconds, policy.backoff_initial_seconds * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)


def read_permit(payload: bytes) -> Permit:
    """Map a journaled permit payload (CITESEPermit v2 or CBFShip v1) to the canonical model."""
    root = safexml.parse(payload)
    if safexml.namespace(root) == cbfship.NAMESPACE:
        return cbfship.from_xml(root)
    return citesepermit.from_xml(root)


def _permit_for(envelope: Envelope, payload: bytes) -> Permit | None:
    if envelope.message_type not in PERMIT_PAYLOAD_TYPES:
        return None
    try:
        return read_permit(payload)
    except InvalidMessage as error:
        log.warning("journaled payload of message_id=%s no longer maps to a permit: %s", envelope.message_id, error)
        return None
