"""alert export: durable outbox and delivery state

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "export_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sink", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TZ, nullable=False),
        sa.Column("last_attempt_at", _TZ, nullable=True),
        sa.Column("delivered_at", _TZ, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_outbox")),
        sa.UniqueConstraint("sink", "key", name=op.f("uq_export_outbox_sink")),
    )
    op.create_index(
        "ix_export_outbox_due", "export_outbox", ["state", "next_attempt_at"], unique=False
    )
    op.create_index("ix_export_outbox_sink_state", "export_outbox", ["sink", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_export_outbox_sink_state", table_name="export_outbox")
    op.drop_index("ix_export_outbox_due", table_name="export_outbox")
    op.drop_table("export_outbox")
