"""The journal: the hub's record of truth.

Every message the hub receives is written here with its envelope, its payload bytes exactly as
received, its findings and its planned deliveries, in one transaction, before the sender gets an
answer. Each delivery's state lives here; the broker only moves work. The events table is an
append-only log of every hop: who did what, when and where.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import and_, create_engine, event, func, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from hub.envelope import Envelope, MessageType, utcnow
from hub import lifecycle
from hub.errors import Finding, HubError, InvalidMessage, NotFound, Severity
from hub.journal.tables import deliveries, events, messages, permit_usage, permits
from hub.permit import Permit
from hub.usage import PermitAllowance, UsageReport, check_usage

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCATION = socket.gethostname()


class DeliveryState:
    """The delivery states, after the ePhyto hub's set."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    DELIVERED_WITH_WARNINGS = "delivered_with_warnings"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"
    PARKED = "parked"
    DISCARDED = "discarded"

    DUE = (PENDING, FAILED)
    SETTLED = (DELIVERED, DELIVERED_WITH_WARNINGS, ACKNOWLEDGED, PARKED, DISCARDED)


class MessageStatus:
    ACCEPTED = "accepted"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"


class JournalError(HubError):
    """The journal database failed or is unreachable."""


@dataclass(frozen=True)
class PlannedDelivery:
    """A delivery decided by routing: the destination partner, its adapter and the route's name."""

    delivery_id: str
    destination: str
    adapter: str
    route: str
    idempotency_key: str


@dataclass
class RecordOutcome:
    """Result of :meth:`Journal.record_message`: the final status, findings and deliveries."""

    written: bool
    status: str
    findings: list[Finding]
    planned: list[PlannedDelivery]
    permit: Permit | None = None
    usage: UsageReport | None = None
    ignored_because: str | None = None
    usage_refused: bool = False

    def refuse_usage(self, errors: list[Finding]) -> None:
        """Reject the message: the use goes beyond what the permit allows. The journal keeps it."""
        self.usage_refused = True
        self.status = MessageStatus.REJECTED
        self.planned = []
        self.findings.extend(errors)

    def ignore(self, envelope: Envelope, current: str | None) -> None:
        """Keep the message but forward nothing: the permit is already past this event."""
        self.ignored_because = current
        self.planned = []
        if self.status == MessageStatus.ACCEPTED:
            self.status = MessageStatus.ACCEPTED_WITH_WARNINGS
        self.findings.append(Finding(
            Severity.WARNING, "/", f"permit {envelope.permit} is already {current}; this "
            f"{envelope.message_type.value} is recorded but not forwarded, because a permit never moves back",
            value=envelope.message_type.value, expected=f"an event that may follow '{current}'"))


@dataclass
class MessageRecord:
    envelope: Envelope
    status: str
    findings: list[dict[str, Any]]
    received_at: datetime
    payload: bytes
    deliveries: list["DeliveryRecord"] = field(default_factory=list)


@dataclass
class DeliveryRecord:
    delivery_id: str
    message_id: str
    destination: str
    adapter: str
    route: str | None
    state: str
    attempts: int
    idempotency_key: str
    last_error: str | None
    receipt_reference: str | None
    next_attempt_at: datetime | None
    updated_at: datetime


@dataclass
class TimelineEvent:
    at: datetime
    message_id: str
    delivery_id: str | None
    actor: str
    action: str
    location: str
    detail: dict[str, Any]


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive date-times; the journal writes UTC only, so UTC is attached."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _split_permit(permit: str | None) -> tuple[str | None, str | None]:
    if not permit or "/" not in permit:
        return None, permit
    party, number = permit.split("/", 1)
    return (party if len(party) == 2 else None), number


class Journal:
    """Access to the journal database; safe to share between threads."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.engine = self._create_engine(url, pool_size)

    @staticmethod
    def _create_engine(url: str, pool_size: int) -> Engine:
        if url.startswith("sqlite"):
            database = url.split("///", 1)[-1]
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _tune_sqlite)
            return engine
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)

    def upgrade(self) -> None:
        """Create or migrate the tables to the newest revision (Alembic)."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
            return True
        except OperationalError:
            return False

    # -- writing ---------------------------------------------------------------------------

    def record_message(
        self,
        envelope: Envelope,
        payload: bytes,
        *,
        status: str,
        findings: Iterable[Finding],
        planned: Iterable[PlannedDelivery] = (),
        actor: str | None = None,
        signer: str | None = None,
        permit: Permit | None = None,
        usage: UsageReport | None = None,
        republish_after: float = 60.0,
    ) -> RecordOutcome:
        """Write a message, its findings and planned deliveries in one transaction.

        The permit's lifecycle moves in the same transaction. An event that would move the permit
        backwards is kept with a warning and its planned deliveries are dropped. Each delivery is
        due for the sweep ``republish_after`` seconds from now, in case the publish that follows
        the commit is lost. ``written`` is False, and nothing is written, when a message with the
        same id is already journaled.
        """
        outcome = RecordOutcome(written=True, status=status, findings=list(findings), planned=list(planned),
                                permit=permit, usage=usage)
        for attempt in (1, 2):
            try:
                with self.engine.begin() as connection:
                    self._write_message(connection, envelope, payload, outcome, actor, signer, republish_after)
                return outcome
            except IntegrityError:
                if attempt == 2 or self.get_message(envelope.message_id) is not None:
                    return RecordOutcome(written=False, status=status, findings=outcome.findings, planned=[])
                # Another message created the same permit's row at the same moment: read it and retry.
        return outcome

    def _write_message(self, connection: Connection, envelope: Envelope, payload: bytes, outcome: "RecordOutcome",
                       actor: str | None, signer: str | None, republish_after: float) -> None:
        now = utcnow()
        if outcome.status != MessageStatus.REJECTED:
            self._advance_permit(connection, envelope, outcome, now)
        finding_list = [f.as_dict() for f in outcome.findings]
        row = self._message_row(envelope, payload, outcome.status, finding_list, now)
        row["signer"] = signer
        connection.execute(messages.insert(), [row])
        due_at = now + timedelta(seconds=republish_after)
        rows = [self._delivery_row(envelope.message_id, p, now, due_at) for p in outcome.planned]
        if rows:
            connection.execute(deliveries.insert(), rows)
        events_rows = self._ingress_events(envelope, outcome.status, finding_list, outcome.planned, actor, now)
        if outcome.usage_refused:
            events_rows.append({**events_rows[0], "actor": "hub", "action": "usage_refused",
                                "detail": {"errors": [f["message"] for f in finding_list if f["severity"] == "error"]}})
        if outcome.ignored_because:
            events_rows.append({**events_rows[0], "actor": "hub", "action": "not_applied",
                                "detail": {"permit_state": outcome.ignored_because}})
        self._insert_events(connection, events_rows)

    def _advance_permit(self, connection: Connection, envelope: Envelope, outcome: "RecordOutcome",
                        now: datetime) -> None:
        party, number = _split_permit(envelope.permit)
        if party is None or number is None or envelope.message_type not in lifecycle.TRACKED:
            return
        key = and_(permits.c.permit_party == party, permits.c.permit_number == number)
        row = connection.execute(select(permits).where(key).with_for_update()).first()
        current = row.state if row else None
        if outcome.usage is not None and not self._accept_usage(connection, envelope, outcome, row):
            return
        after = lifecycle.next_state(current, envelope.message_type)
        if after is None:
            outcome.ignore(envelope, current)
            return
        values = {"state": after, "last_message_id": envelope.message_id, "updated_at": now}
        if outcome.permit is not None and envelope.message_type in PERMIT_VERSION_TYPES:
            values.update(_allowance_values(outcome.permit, envelope.message_id))
        if current is None:
            connection.execute(permits.insert().values(permit_party=party, permit_number=number, **values))
        else:
            connection.execute(update(permits).where(key).values(**values))

    def _accept_usage(self, connection: Connection, envelope: Envelope, outcome: "RecordOutcome", row: Any) -> bool:
        """Check a usage report against the permit and record it; reject the message when it over-uses."""
        report = outcome.usage
        allowance = self._allowance(connection, row) if row is not None else None
        errors = check_usage(report, allowance)
        if errors:
            outcome.refuse_usage(errors)
            return False
        connection.execute(permit_usage.insert(), [
            {"usage_id": str(uuid.uuid4()), "permit_party": report.issuing_party, "permit_number": report.permit_number,
             "message_id": envelope.message_id, "direction": report.direction, "line_id": line.line_id,
             "quantity": line.quantity.value, "unit": line.quantity.unit, "used_at": report.used_at,
             "port": report.port, "declaration": report.declaration}
            for line in report.lines
        ])
        return True

    def _allowance(self, connection: Connection, row: Any) -> PermitAllowance:
        usage_rows = connection.execute(
            select(permit_usage.c.line_id, permit_usage.c.quantity, permit_usage.c.message_id).where(
                permit_usage.c.permit_party == row.permit_party, permit_usage.c.permit_number == row.permit_number)
        ).all()
        used: dict[str, Decimal] = {}
        for usage_row in usage_rows:
            used[usage_row.line_id] = used.get(usage_row.line_id, Decimal(0)) + Decimal(usage_row.quantity)
        used = {line: _plain(total) for line, total in used.items()}
        allowed = {line: (Decimal(value), unit) for line, (value, unit) in json.loads(row.allowed or "{}").items()}
        return PermitAllowance(state=row.state, permit_type=row.permit_type, valid_until=_aware(row.valid_until),
                               allowed=allowed, used=used, uses=len({r.message_id for r in usage_rows}))

    def allowance(self, party: str, number: str) -> PermitAllowance | None:
        """Return what the permit allows and what was used of it, for verification queries."""
        with self.engine.connect() as connection:
            row = connection.execute(select(permits).where(
                permits.c.permit_party == party, permits.c.permit_number == number)).first()
            return self._allowance(connection, row) if row is not None else None

    def usage_by_line(self, party: str, number: str) -> dict[str, Decimal]:
        allowance = self.allowance(party, number)
        return allowance.used if allowance else {}

    def permit_message_id(self, party: str, number: str) -> str | None:
        """The message that carried the permit's current version (issued, amended or replaced)."""
        with self.engine.connect() as connection:
            return connection.execute(select(permits.c.permit_message_id).where(
                permits.c.permit_party == party, permits.c.permit_number == number)).scalar()

    def permit_state(self, party: str, number: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(select(permits.c.state).where(
                permits.c.permit_party == party, permits.c.permit_number == number)).scalar()

    def find_same_content(self, sender: str, message_type: str, payload_sha256: str) -> str | None:
        """Return the id of an accepted message with the same sender, type and payload, if any."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(messages.c.message_id).where(
                    messages.c.sender == sender, messages.c.message_type == message_type,
                    messages.c.payload_sha256 == payload_sha256, messages.c.status != MessageStatus.REJECTED,
                ).order_by(messages.c.received_at).limit(1)
            ).scalar()

    @staticmethod
    def _message_row(envelope: Envelope, payload: bytes, status: str, findings: list[dict], now: datetime) -> dict:
        party, number = _split_permit(envelope.permit)
        return {
            "message_id": envelope.message_id,
            "correlation_id": envelope.correlation_id,
            "message_type": envelope.message_type.value,
            "permit_party": party,
            "permit_number": number,
            "sender": envelope.sender,
            "recipient": envelope.recipient,
            "created_at": envelope.created_at.astimezone(timezone.utc),
            "received_at": now,
            "schema": envelope.schema,
            "payload_sha256": envelope.payload_sha256,
            "signature_state": envelope.signature_state,
            "status": status,
            "findings": json.dumps(findings),
            "payload": payload,
        }

    @staticmethod
    def _delivery_row(message_id: str, planned: PlannedDelivery, now: datetime, due_at: datetime) -> dict:
        return {
            "delivery_id": planned.delivery_id,
            "message_id": message_id,
            "destination": planned.destination,
            "adapter": planned.adapter,
            "route": planned.route,
            "state": DeliveryState.PENDING,
            "attempts": 0,
            "next_attempt_at": due_at,
            "idempotency_key": planned.idempotency_key,
            "created_at": now,
            "updated_at": now,
        }

    def _ingress_events(self, envelope, status, findings, planned, actor, now) -> list[dict]:
        party, number = _split_permit(envelope.permit)
        base = {"message_id": envelope.message_id, "permit_party": party, "permit_number": number, "at": now}
        actor = actor or envelope.sender
        errors = [f for f in findings if f["severity"] == "error"]
        result = [
            {**base, "actor": actor, "action": "received", "detail": {"message_type": envelope.message_type.value,
                                                                      "sha256": envelope.payload_sha256}},
            {**base, "actor": "hub", "action": "rejected" if errors else "validated",
             "detail": {"status": status, "errors": len(errors), "findings": len(findings),
                        "signature": envelope.signature_state}},
        ]
        for p in planned:
            result.append({**base, "delivery_id": p.delivery_id, "actor": "hub", "action": "routed",
                           "detail": {"destination": p.destination, "route": p.route}})
        return result

    @staticmethod
    def _insert_events(connection: Connection, rows: list[dict]) -> None:
        for row in rows:
            row.setdefault("delivery_id", None)
            row.setdefault("location", LOCATION)
            row["detail"] = json.dumps(row.get("detail") or {}, default=str)
        if rows:
            connection.execute(events.insert(), rows)

    def add_event(self, message_id: str, action: str, *, actor: str, permit: str | None = None,
                  delivery_id: str | None = None, detail: dict[str, Any] | None = None) -> None:
        party, number = _split_permit(permit) if permit else self._permit_of(message_id)
        row = {"message_id": message_id, "delivery_id": delivery_id, "permit_party": party, "permit_number": number,
               "at": utcnow(), "actor": actor, "action": action, "detail": detail}
        with self.engine.begin() as connection:
            self._insert_events(connection, [row])

    def _permit_of(self, message_id: str) -> tuple[str | None, str | None]:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(messages.c.permit_party, messages.c.permit_number).where(messages.c.message_id == message_id)
            ).first()
        return (row.permit_party, row.permit_number) if row else (None, None)

    # -- deliveries ------------------------------------------------------------------------

    def claim_delivery(self, delivery_id: str, *, worker: str, lease_seconds: float) -> DeliveryRecord | None:
        """Take a due delivery for ``lease_seconds``; None when it is settled or held by another worker."""
        now = utcnow()
        claimable = or_(
            deliveries.c.state.in_(DeliveryState.DUE),
            and_(deliveries.c.state == DeliveryState.IN_FLIGHT, deliveries.c.lease_until < now),
        )
        with self.engine.begin() as connection:
            result = connection.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id == delivery_id, claimable)
                .values(state=DeliveryState.IN_FLIGHT, attempts=deliveries.c.attempts + 1,
                        lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
            )
            if result.rowcount != 1:
                return None
            row = connection.execute(select(deliveries).where(deliveries.c.delivery_id == delivery_id)).one()
            record = self._delivery_record(row)
            self._insert_events(connection, [self._delivery_event(connection, record, worker, "sending",
                                                                 {"attempt": record.attempts})])
        return record

    def settle_delivery(self, delivery_id: str, state: str, *, worker: str, error: str | None = None,
                        reference: str | None = None, retry_at: datetime | None = None,
                        detail: dict[str, Any] | None = None) -> None:
        """Record a delivery's outcome: delivered, failed (with ``retry_at``) or parked."""
        now = utcnow()
        values: dict[str, Any] = {"state": state, "updated_at": now, "lease_until": None, "next_attempt_at": retry_at}
        if error is not None:
            values["last_error"] = error
        if reference is not None:
            values["receipt_reference"] = reference
        with self.engine.begin() as connection:
            connection.execute(update(deliveries).where(deliveries.c.delivery_id == delivery_id).values(**values))
            row = connection.execute(select(deliveries).where(deliveries.c.delivery_id == delivery_id)).one()
            record = self._delivery_record(row)
            event_detail = {"state": state, "attempt": record.attempts, **(detail or {})}
            if error:
                event_detail["error"] = error
            if reference:
                event_detail["reference"] = reference
            if retry_at:
                event_detail["retry_at"] = retry_at.isoformat()
            self._insert_events(connection, [self._delivery_event(connection, record, worker, state, event_detail)])

    def _delivery_event(self, connection: Connection, record: DeliveryRecord, actor: str, action: str,
                        detail: dict[str, Any]) -> dict:
        permit = connection.execute(
            select(messages.c.permit_party, messages.c.permit_number).where(messages.c.message_id == record.message_id)
        ).first()
        return {"message_id": record.message_id, "delivery_id": record.delivery_id,
                "permit_party": permit.permit_party if permit else None,
                "permit_number": permit.permit_number if permit else None, "at": utcnow(), "actor": actor,
                "action": action, "detail": {"destination": record.destination, **detail}}

    def due_deliveries(self, *, limit: int = 500) -> list[DeliveryRecord]:
        """Deliveries that should be in a queue now: pending or failed and due, or with a lapsed lease."""
        now = utcnow()
        condition = or_(
            and_(deliveries.c.state.in_(DeliveryState.DUE), deliveries.c.next_attempt_at <= now),
            and_(deliveries.c.state == DeliveryState.IN_FLIGHT, deliveries.c.lease_until < now),
        )
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(deliveries).where(condition).order_by(deliveries.c.next_attempt_at).limit(limit)
            ).all()
        return [self._delivery_record(r) for r in rows]

    def postpone(self, delivery_ids: list[str], seconds: float) -> None:
        """Push the next attempt of deliveries just republished, so the next sweep skips them."""
        if not delivery_ids:
            return
        later = utcnow() + timedelta(seconds=seconds)
        with self.engine.begin() as connection:
            connection.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id.in_(delivery_ids), deliveries.c.state.in_(DeliveryState.DUE))
                .values(next_attempt_at=later)
            )

    def replay_delivery(self, delivery_id: str, *, actor: str, reason: str) -> DeliveryRecord:
        """Make a parked delivery due again, keeping its idempotency key; records who and why."""
        return self._operator_action(delivery_id, "replayed", actor, reason, state=DeliveryState.PENDING)

    def discard_delivery(self, delivery_id: str, *, actor: str, reason: str) -> DeliveryRecord:
        """Give up a parked delivery for good; records who and why."""
        return self._operator_action(delivery_id, "discarded", actor, reason, state=DeliveryState.DISCARDED)

    def _operator_action(self, delivery_id: str, action: str, actor: str, reason: str, *, state: str) -> DeliveryRecord:
        if not reason or not reason.strip():
            raise InvalidMessage(f"a reason is required to {action[:-1]} delivery {delivery_id}")
        if not actor or not actor.strip():
            raise InvalidMessage(f"the operator's name is required to {action[:-1]} delivery {delivery_id}")
        now = utcnow()
        with self.engine.begin() as connection:
            result = connection.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id == delivery_id, deliveries.c.state == DeliveryState.PARKED)
                .values(state=state, attempts=0, next_attempt_at=now, lease_until=None, updated_at=now)
            )
            row = connection.execute(select(deliveries).where(deliveries.c.delivery_id == delivery_id)).first()
            if row is None:
                raise NotFound(f"delivery {delivery_id} is not in the journal")
            record = self._delivery_record(row)
            if result.rowcount != 1:
                raise InvalidMessage(f"delivery {delivery_id} is {record.state}; only a parked delivery can be "
                                     f"{action}")
            self._insert_events(connection, [self._delivery_event(connection, record, actor, action,
                                                                 {"reason": reason.strip()})])
        return record

    # -- reading ---------------------------------------------------------------------------

    def list_deliveries(self, *, state: str | None = None, destination: str | None = None, limit: int = 100,
                        offset: int = 0) -> list[DeliveryRecord]:
        """Deliveries, newest change first, filtered by state and destination."""
        query = select(deliveries).order_by(deliveries.c.updated_at.desc()).limit(limit).offset(offset)
        if state:
            query = query.where(deliveries.c.state == state)
        if destination:
            query = query.where(deliveries.c.destination == destination)
        with self.engine.connect() as connection:
            return [self._delivery_record(r) for r in connection.execute(query)]

    def delivery_events(self, delivery_id: str) -> list[TimelineEvent]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(events).where(events.c.delivery_id == delivery_id)
                                      .order_by(events.c.at, events.c.event_id)).all()
        return [self._event(r) for r in rows]

    def get_message(self, message_id: str) -> MessageRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(messages).where(messages.c.message_id == message_id)).first()
            if row is None:
                return None
            delivery_rows = connection.execute(
                select(deliveries).where(deliveries.c.message_id == message_id).order_by(deliveries.c.destination)
            ).all()
        return self._message_record(row, [self._delivery_record(d) for d in delivery_rows])

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(deliveries).where(deliveries.c.delivery_id == delivery_id)).first()
        return self._delivery_record(row) if row else None

    def payload_of(self, message_id: str) -> bytes | None:
        with self.engine.connect() as connection:
            return connection.execute(select(messages.c.payload).where(messages.c.message_id == message_id)).scalar()

    def messages_for_permit(self, party: str | None, number: str) -> list[MessageRecord]:
        condition = messages.c.permit_number == number
        if party:
            condition = and_(condition, messages.c.permit_party == party)
        with self.engine.connect() as connection:
            rows = connection.execute(select(messages).where(condition).order_by(messages.c.received_at)).all()
        return [self._message_record(r, []) for r in rows]

    def timeline(self, party: str | None, number: str) -> list[TimelineEvent]:
        """Return every event of every message about one permit, oldest first."""
        condition = events.c.permit_number == number
        if party:
            condition = and_(condition, events.c.permit_party == party)
        with self.engine.connect() as connection:
            rows = connection.execute(select(events).where(condition).order_by(events.c.at, events.c.event_id)).all()
        return [self._event(r) for r in rows]

    @staticmethod
    def _event(row: Any) -> TimelineEvent:
        return TimelineEvent(at=_aware(row.at), message_id=row.message_id, delivery_id=row.delivery_id,
                             actor=row.actor, action=row.action, location=row.location,
                             detail=json.loads(row.detail or "{}"))

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        """Deliveries counted by (destination, state)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(deliveries.c.destination, deliveries.c.state, func.count()).group_by(
                    deliveries.c.destination, deliveries.c.state)
            ).all()
        return {(r[0], r[1]): r[2] for r in rows}

    def message_counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all()
        return {r[0]: r[1] for r in rows}

    def iter_messages(self, *, status: str | None = None) -> Iterator[MessageRecord]:
        query = select(messages).order_by(messages.c.received_at)
        if status:
            query = query.where(messages.c.status == status)
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                yield self._message_record(row, [])

    def iter_deliveries(self, *, state: str | None = None) -> Iterator[DeliveryRecord]:
        query = select(deliveries).order_by(deliveries.c.created_at)
        if state:
            query = query.where(deliveries.c.state == state)
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                yield self._delivery_record(row)

    @staticmethod
    def _message_record(row: Any, delivery_records: list[DeliveryRecord]) -> MessageRecord:
        permit = f"{row.permit_party or '??'}/{row.permit_number}" if row.permit_number else None
        envelope = Envelope(
            message_id=row.message_id, correlation_id=row.correlation_id,
            message_type=MessageType(row.message_type), sender=row.sender, payload_sha256=row.payload_sha256,
            created_at=_aware(row.created_at), permit=permit, recipient=row.recipient, schema=row.schema,
            signature_state=row.signature_state,
        )
        return MessageRecord(envelope=envelope, status=row.status, findings=json.loads(row.findings),
                             received_at=_aware(row.received_at), payload=row.payload, deliveries=delivery_records)

    @staticmethod
    def _delivery_record(row: Any) -> DeliveryRecord:
        return DeliveryRecord(
            delivery_id=row.delivery_id, message_id=row.message_id, destination=row.destination, adapter=row.adapter,
            route=row.route, state=row.state, attempts=row.attempts, idempotency_key=row.idempotency_key,
            last_error=row.last_error, receipt_reference=row.receipt_reference,
            next_attempt_at=_aware(row.next_attempt_at), updated_at=_aware(row.updated_at),
        )


def _plain(value: Decimal) -> Decimal:
    """Drop the trailing zeros a NUMERIC column adds (7.000000 → 7) without an exponent (100 stays 100)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


PERMIT_VERSION_TYPES = frozenset({MessageType.PERMIT_ISSUED, MessageType.PERMIT_AMENDED, MessageType.PERMIT_REPLACED})


def _allowance_values(permit: Permit, message_id: str) -> dict[str, Any]:
    """The permits-table columns that say what this version of the permit allows."""
    allowed = {item.line_id: [str(item.quantity.value), item.quantity.unit] for item in permit.items}
    valid_until = permit.valid_until.astimezone(timezone.utc) if permit.valid_until else None
    return {"permit_type": permit.type, "valid_until": valid_until, "allowed": json.dumps(allowed),
            "permit_message_id": message_id}


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; NORMAL sync is crash-safe in WAL mode."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
