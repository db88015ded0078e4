"""The journal's tables. Alembic migrations in ``migrations/`` create and evolve them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY, so the event id is BIGINT elsewhere only.
EventId = BigInteger().with_variant(Integer(), "sqlite")

messages = Table(
    "messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("correlation_id", String(64), nullable=False, index=True),
    Column("message_type", String(40), nullable=False),
    Column("permit_party", String(2)),
    Column("permit_number", String(70)),
    Column("sender", String(100), nullable=False),
    Column("recipient", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("schema", String(200)),
    Column("payload_sha256", String(64), nullable=False),
    Column("signature_state", String(20), nullable=False, server_default="unsigned"),
    Column("signer", String(300)),
    Column("status", String(30), nullable=False),
    Column("findings", Text, nullable=False, server_default="[]"),
    Column("payload", LargeBinary, nullable=False),
    Index("ix_messages_permit", "permit_party", "permit_number"),
    Index("ix_messages_dedupe", "sender", "message_type", "payload_sha256"),
)

permits = Table(
    "permits",
    metadata,
    Column("permit_party", String(2), primary_key=True),
    Column("permit_number", String(70), primary_key=True),
    Column("state", String(30), nullable=False),
    Column("last_message_id", String(36), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("permit_type", String(1)),
    Column("valid_until", DateTime(timezone=True)),
    Column("allowed", Text, doc="JSON: line id -> [quantity, unit] the permit allows"),
    Column("permit_message_id", String(36), doc="the message that carried the permit's current version"),
)

permit_usage = Table(
    "permit_usage",
    metadata,
    Column("usage_id", String(36), primary_key=True),
    Column("permit_party", String(2), nullable=False),
    Column("permit_number", String(70), nullable=False),
    Column("message_id", String(36), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("line_id", String(10), nullable=False),
    Column("quantity", Numeric(24, 6), nullable=False),
    Column("unit", String(10)),
    Column("used_at", DateTime(timezone=True), nullable=False),
    Column("port", String(70)),
    Column("declaration", String(70)),
    Index("ix_permit_usage_permit", "permit_party", "permit_number"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("message_id", String(36), ForeignKey("messages.message_id"), nullable=False),
    Column("destination", String(100), nullable=False),
    Column("adapter", String(60), nullable=False),
    Column("route", String(100)),
    Column("state", String(30), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("receipt_reference", String(200)),
    Column("idempotency_key", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("message_id", "destination", name="uq_deliveries_message_destination"),
    Index("ix_deliveries_state_due", "state", "next_attempt_at"),
)

events = Table(
    "events",
    metadata,
    Column("event_id", EventId, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("delivery_id", String(36)),
    Column("permit_party", String(2)),
    Column("permit_number", String(70)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("location", String(200), nullable=False),
    Column("detail", Text),
    Index("ix_events_permit", "permit_party", "permit_number"),
)
