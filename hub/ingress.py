"""Ingress: steps 1 to 3 of the pipeline (receive, validate, route), journaled before the sender's answer."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from adapters.base import Adapter
from hub import validation
from hub.config import HubConfig
from hub.envelope import Envelope, MessageType, new_id, utcnow
from hub.errors import AuthenticationError, BrokerError, Finding, InvalidMessage, Severity
from hub.journal import DeliveryState, Journal, MessageStatus, PlannedDelivery
from hub.permit import Endorsement, Permit, Quantity, TradeParty
from hub.pipeline import identify_permit, job_headers, read_permit
from hub.routing import Router
from hub.seizure import Seizure
from hub.signatures import SignaturePolicy
from hub.species import SpeciesChecker
from hub.usage import UsageReport
from mappings import citesepermit
from monitoring import metrics

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, dict[str, str]], None]


@dataclass
class IngressResult:
    """Response to the sender: the message id, the status, every finding and the planned deliveries."""

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
        """Validate, route and journal one message, and return the response for its sender."""
        started = time.perf_counter()
        if message_id:
            _check_message_id(message_id)
            earlier = self._earlier_result(message_id, sender)
            if earlier is not None:
                metrics.MESSAGES_RECEIVED.labels(MessageType.parse(message_type).value, channel, "duplicate").inc()
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
        if result.permit is not None and kind in ISSUING_TYPES:
            result.findings += _expiry_findings(result.permit)
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
        """Build the permit as issued, with box 14 filled from every use Customs reported so far."""
        message_id = self.journal.permit_message_id(usage.issuing_party, usage.permit_number)
        payload = self.journal.payload_of(message_id) if message_id else None
        if payload is None:
            raise LookupError(f"the journal contains no CITESEPermit of permit {usage.permit_key}")
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


ISSUING_TYPES = frozenset({MessageType.PERMIT_ISSUED, MessageType.PERMIT_AMENDED, MessageType.PERMIT_REPLACED})


def _expiry_findings(permit: Permit) -> list[Finding]:
    """Warn when a permit arrives already expired: it is kept and forwarded, but Customs cannot use it."""
    now = utcnow()
    if permit.valid_until is None or permit.valid_until >= now:
        return []
    until = permit.valid_until.isoformat()
    return [Finding(Severity.WARNING, "valid_until", f"the permit expired on {until}; Customs cannot clear goods "
                    "against it", value=until, expected=f"a date after {now.date().isoformat()}")]


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
