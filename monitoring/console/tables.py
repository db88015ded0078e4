"""The console's tables (operator accounts, the audit log) and the indexes it adds to the journal's events.

Migration 0004 creates them all.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, String, Table, Text, false

from hub.journal.tables import EventId, events, metadata

operators = Table(
    "operators",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("password_hash", String(300), nullable=False, doc="scrypt parameters, salt and hash; see passwords.py"),
    Column("role", String(20), nullable=False, doc="viewer, operator or admin"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", EventId, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("operator", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(200)),
    Column("reason", Text),
    Column("detail", Text, doc="JSON object"),
    Index("ix_audit_log_at", "at"),
)

# The console reads events by time (overview) and by delivery (latency, last contact); the
# journal's own indexes cover neither.
events_at_index = Index("ix_events_at", events.c.at)
events_delivery_index = Index("ix_events_delivery", events.c.delivery_id)
