"""The console's audit log: who did what, when, to which target and why.

Every sign-in (and failed attempt), sign-out, replay, discard and operator change is written
here. Entries are only ever added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from hub.envelope import utcnow
from hub.journal import Journal
from monitoring.console.tables import audit_log


class Action:
    """The audited actions; the values are stored in ``audit_log.action``."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    REPLAY = "replay"
    BULK_REPLAY = "bulk_replay"
    DISCARD = "discard"
    OPERATOR_ADDED = "operator_added"
    OPERATOR_DISABLED = "operator_disabled"
    OPERATOR_ENABLED = "operator_enabled"
    PASSWORD_CHANGED = "password_changed"


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    at: datetime
    operator: str
    action: str
    target: str | None
    reason: str | None
    detail: dict[str, Any]


def write(connection: Connection, operator: str, action: str, *, target: str | None = None,
          reason: str | None = None, detail: dict[str, Any] | None = None) -> int:
    """Add one entry inside the caller's transaction; return its id."""
    result = connection.execute(audit_log.insert().values(
        at=utcnow(), operator=operator, action=action, target=target, reason=reason,
        detail=json.dumps(detail or {}, default=str)))
    return int(result.inserted_primary_key[0])


def record(journal: Journal, operator: str, action: str, *, target: str | None = None, reason: str | None = None,
           detail: dict[str, Any] | None = None) -> int:
    """Add one entry in its own transaction; return its id."""
    with journal.engine.begin() as connection:
        return write(connection, operator, action, target=target, reason=reason, detail=detail)


def entries(journal: Journal, *, limit: int = 100, offset: int = 0, operator: str | None = None,
            action: str | None = None) -> list[AuditEntry]:
    """Entries, newest first, optionally of one operator or action."""
    query = select(audit_log).order_by(audit_log.c.audit_id.desc()).limit(limit).offset(offset)
    if operator:
        query = query.where(audit_log.c.operator == operator)
    if action:
        query = query.where(audit_log.c.action == action)
    with journal.engine.connect() as connection:
        return [_entry(row) for row in connection.execute(query)]


def count(journal: Journal) -> int:
    with journal.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(audit_log)).scalar() or 0)


def get(journal: Journal, audit_id: int) -> AuditEntry | None:
    with journal.engine.connect() as connection:
        row = connection.execute(select(audit_log).where(audit_log.c.audit_id == audit_id)).first()
    return _entry(row) if row else None


def _entry(row: Any) -> AuditEntry:
    # SQLite returns naive date-times; every entry is written in UTC.
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=timezone.utc)
    return AuditEntry(audit_id=row.audit_id, at=at, operator=row.operator, action=row.action, target=row.target,
                      reason=row.reason, detail=json.loads(row.detail or "{}"))
