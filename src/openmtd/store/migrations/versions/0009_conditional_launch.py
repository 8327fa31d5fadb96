"""conditional launch: app protection policies and launch decisions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "app_protection_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("app_ids", sa.JSON(), nullable=False),
        sa.Column("device_group", sa.String(length=128), nullable=True),
        sa.Column("platform", sa.String(length=16), nullable=True),
        sa.Column("max_risk", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_protection_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_app_protection_policies_name")),
    )
    op.create_table(
        "launch_latches",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=255), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("wiped", sa.Boolean(), nullable=False),
        sa.Column("threat_level", sa.Integer(), nullable=False),
        sa.Column("latched_at", _TZ, nullable=False),
        sa.Column("last_blocked_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_launch_latches_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["app_protection_policies.id"],
            name=op.f("fk_launch_latches_policy_id_app_protection_policies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("device_id", "app_id", name=op.f("pk_launch_latches")),
    )
    op.create_table(
        "launch_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=255), nullable=False),
        sa.Column("app_version", sa.String(length=64), nullable=True),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("threat_level", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("action_code", sa.Integer(), nullable=True),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("policy_name", sa.String(length=128), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_launch_log_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_launch_log")),
    )
    op.create_index(op.f("ix_launch_log_at"), "launch_log", ["at"], unique=False)
    op.create_index("ix_launch_log_device_entry", "launch_log", ["device_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_launch_log_device_entry", table_name="launch_log")
    op.drop_index(op.f("ix_launch_log_at"), table_name="launch_log")
    op.drop_table("launch_log")
    op.drop_table("launch_latches")
    op.drop_table("app_protection_policies")
