"""Create the messages, deliveries and events tables.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("message_type", sa.String(40), nullable=False),
        sa.Column("permit_party", sa.String(2)),
        sa.Column("permit_number", sa.String(70)),
        sa.Column("sender", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("schema", sa.String(200)),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("signature_state", sa.String(20), nullable=False, server_default="unsigned"),
        sa.Column("signer", sa.String(300)),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("findings", sa.Text, nullable=False, server_default="[]"),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_messages_correlation_id", "messages", ["correlation_id"])
    op.create_index("ix_messages_received_at", "messages", ["received_at"])
    op.create_index("ix_messages_permit", "messages", ["permit_party", "permit_number"])

    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(36), primary_key=True),
        sa.Column("message_id", sa.String(36), sa.ForeignKey("messages.message_id"), nullable=False),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("adapter", sa.String(60), nullable=False),
        sa.Column("route", sa.String(100)),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("receipt_reference", sa.String(200)),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("message_id", "destination", name="uq_deliveries_message_destination"),
    )
    op.create_index("ix_deliveries_state_due", "deliveries", ["state", "next_attempt_at"])

    op.create_table(
        "events",
        sa.Column("event_id", EVENT_ID, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("delivery_id", sa.String(36)),
        sa.Column("permit_party", sa.String(2)),
        sa.Column("permit_number", sa.String(70)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_events_message_id", "events", ["message_id"])
    op.create_index("ix_events_permit", "events", ["permit_party", "permit_number"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("deliveries")
    op.drop_table("messages")
