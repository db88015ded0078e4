"""Keep what each permit allows and what Customs reported as used.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("permits") as batch:
        batch.add_column(sa.Column("permit_type", sa.String(1)))
        batch.add_column(sa.Column("valid_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("allowed", sa.Text))
        batch.add_column(sa.Column("permit_message_id", sa.String(36)))
    op.create_table(
        "permit_usage",
        sa.Column("usage_id", sa.String(36), primary_key=True),
        sa.Column("permit_party", sa.String(2), nullable=False),
        sa.Column("permit_number", sa.String(70), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("line_id", sa.String(10), nullable=False),
        sa.Column("quantity", sa.Numeric(24, 6), nullable=False),
        sa.Column("unit", sa.String(10)),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("port", sa.String(70)),
        sa.Column("declaration", sa.String(70)),
    )
    op.create_index("ix_permit_usage_permit", "permit_usage", ["permit_party", "permit_number"])


def downgrade() -> None:
    op.drop_table("permit_usage")
    with op.batch_alter_table("permits") as batch:
        batch.drop_column("permit_message_id")
        batch.drop_column("allowed")
        batch.drop_column("valid_until")
        batch.drop_column("permit_type")
