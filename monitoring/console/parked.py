"""Parked deliveries: listing them with their reasons, replaying or discarding them, and bulk replays.

Each replay and discard goes through the hub (which records who and why in the journal's events)
and is also written to the console's audit log. A bulk replay is one audit entry listing its
deliveries, so its progress page can follow them until each is delivered or parked again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from hub.errors import InvalidMessage, NotFound
from hub.journal import DeliveryState, Journal
from hub.journal.tables import deliveries, messages
from monitoring.console import audit
from monitoring.console.audit import Action

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_BULK = 500
SETTLED = set(DeliveryState.SETTLED)


@dataclass(frozen=True)
class ParkedRow:
    delivery_id: str
    message_id: str
    destination: str
    attempts: int
    reason: str | None
    parked_at: datetime
    message_type: str
    permit_party: str | None
    permit_number: str | None


@dataclass
class BulkResult:
    """Outcome of a bulk replay: the deliveries replayed and those rejected, each with its reason."""

    replayed: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchProgress:
    """Progress of one bulk replay: its deliveries counted by their current state."""

    entry: audit.AuditEntry
    states: dict[str, int]
    total: int
    delivered: int
    parked_again: int
    rejected: dict[str, str]

    @property
    def settled(self) -> bool:
        return sum(self.states.get(state, 0) for state in SETTLED) + len(self.rejected) >= self.total


def parked(journal: Journal, *, destination: str | None = None, page: int = 1) -> tuple[list[ParkedRow], int]:
    """Return one page of parked deliveries, newest first, and how many are parked in all."""
    condition = deliveries.c.state == DeliveryState.PARKED
    if destination:
        condition = condition & (deliveries.c.destination == destination)
    listing = (select(deliveries.c.delivery_id, deliveries.c.message_id, deliveries.c.destination,
                      deliveries.c.attempts, deliveries.c.last_error, deliveries.c.updated_at,
                      messages.c.message_type, messages.c.permit_party, messages.c.permit_number)
               .join(messages, messages.c.message_id == deliveries.c.message_id).where(condition)
               .order_by(deliveries.c.updated_at.desc(), deliveries.c.delivery_id)
               .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
    with journal.engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(deliveries).where(condition)).scalar() or 0)
        rows = connection.execute(listing).all()
    return [ParkedRow(row.delivery_id, row.message_id, row.destination, row.attempts, row.last_error,
                      _utc(row.updated_at), row.message_type, row.permit_party, row.permit_number)
            for row in rows], total


def replay(hub: Any, delivery_id: str, *, operator: str, reason: str) -> None:
    """Replay one parked delivery and audit it; NotFound or InvalidMessage when it cannot be."""
    record = hub.replay(delivery_id, actor=operator, reason=reason)
    audit.record(hub.journal, operator, Action.REPLAY, target=delivery_id, reason=reason,
                 detail={"message_id": record.message_id, "destination": record.destination})


def discard(hub: Any, delivery_id: str, *, operator: str, reason: str) -> None:
    """Discard one parked delivery for good and audit it."""
    record = hub.discard(delivery_id, actor=operator, reason=reason)
    audit.record(hub.journal, operator, Action.DISCARD, target=delivery_id, reason=reason,
                 detail={"message_id": record.message_id, "destination": record.destination})


def bulk_replay(hub: Any, delivery_ids: list[str], *, operator: str, reason: str) -> int:
    """Replay each delivery in turn and audit the batch as one entry; return the entry's id."""
    result = BulkResult()
    for delivery_id in dict.fromkeys(delivery_ids):
        try:
            hub.replay(delivery_id, actor=operator, reason=reason)
            result.replayed.append(delivery_id)
        except (NotFound, InvalidMessage) as error:
            result.rejected[delivery_id] = str(error)
    log.info("bulk replay by %s: %d replayed, %d rejected", operator, len(result.replayed), len(result.rejected))
    return audit.record(hub.journal, operator, Action.BULK_REPLAY, target=f"{len(result.replayed)} deliveries",
                        reason=reason, detail={"delivery_ids": result.replayed, "rejected": result.rejected})


def batch_progress(journal: Journal, audit_id: int) -> BatchProgress | None:
    """Count a bulk replay's deliveries by current state; None when there is no such batch."""
    entry = audit.get(journal, audit_id)
    if entry is None or entry.action != Action.BULK_REPLAY:
        return None
    delivery_ids = list(entry.detail.get("delivery_ids", []))
    rejected = dict(entry.detail.get("rejected", {}))
    states: dict[str, int] = {}
    with journal.engine.connect() as connection:
        for start in range(0, len(delivery_ids), 500):
            chunk = delivery_ids[start:start + 500]
            query = (select(deliveries.c.state, func.count()).where(deliveries.c.delivery_id.in_(chunk))
                     .group_by(deliveries.c.state))
            for state, count in connection.execute(query):
                states[state] = states.get(state, 0) + count
    delivered = sum(states.get(state, 0) for state in
                    (DeliveryState.DELIVERED, DeliveryState.DELIVERED_WITH_WARNINGS, DeliveryState.ACKNOWLEDGED))
    return BatchProgress(entry, states, len(delivery_ids) + len(rejected), delivered,
                         states.get(DeliveryState.PARKED, 0), rejected)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
