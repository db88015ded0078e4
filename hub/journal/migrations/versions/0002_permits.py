"""Add the permits table: each permit's lifecycle state, moved only forward.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "permits",
        sa.Column("permit_party", sa.String(2), primary_key=True),
        sa.Column("permit_number", sa.String(70), primary_key=True),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("last_message_id", sa.String(36), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_messages_dedupe", "messages", ["sender", "message_type", "payload_sha256"])


def downgrade() -> None:
    op.drop_index("ix_messages_dedupe", "messages")
    op.drop_table("permits")
