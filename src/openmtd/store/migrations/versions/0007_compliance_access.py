"""compliance policies, device access credentials, partner health state

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("compliance_policy", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "compliance_fingerprint", sa.String(length=300), nullable=False, server_default=""
            )
        )
        batch_op.add_column(
            sa.Column("compliance_ok", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column(
                "compliance_reasons", sa.JSON(), nullable=False, server_default=sa.text("'[]'")
            )
        )
        batch_op.add_column(sa.Column("unresponsive_after", _TZ, nullable=True))
        batch_op.add_column(
            sa.Column(
                "unresponsive_noncompliant", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch_op.add_column(
            sa.Column(
                "health_base", sa.String(length=24), nullable=False, server_default="activated"
            )
        )
        batch_op.add_column(
            sa.Column(
                "health_state", sa.String(length=24), nullable=False, server_default="activated"
            )
        )
        batch_op.add_column(sa.Column("health_changed_at", _TZ, nullable=True))
        batch_op.add_column(
            sa.Column(
                "protection_issues", sa.JSON(), nullable=False, server_default=sa.text("'[]'")
            )
        )
        batch_op.create_index(batch_op.f("ix_devices_compliance_ok"), ["compliance_ok"])
        batch_op.create_index(batch_op.f("ix_devices_unresponsive_after"), ["unresponsive_after"])
        batch_op.create_index(batch_op.f("ix_devices_health_state"), ["health_state"])
    op.create_table(
        "compliance_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("device_group", sa.String(length=128), nullable=True),
        sa.Column("max_risk", sa.String(length=16), nullable=False),
        sa.Column("require_onboarding", sa.Boolean(), nullable=False),
        sa.Column("unresponsive_days", sa.Integer(), nullable=False),
        sa.Column("unresponsive_action", sa.String(length=16), nullable=False),
        sa.Column("min_os_android", sa.String(length=32), nullable=True),
        sa.Column("min_os_ios", sa.String(length=32), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_policies")),
        sa.UniqueConstraint("device_group", name=op.f("uq_compliance_policies_device_group")),
        sa.UniqueConstraint("name", name=op.f("uq_compliance_policies_name")),
    )
    op.create_table(
        "device_access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_access_tokens_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_access_tokens")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_device_access_tokens_token_digest")),
    )
    op.create_index(
        op.f("ix_device_access_tokens_device_id"), "device_access_tokens", ["device_id"]
    )
    op.create_table(
        "device_client_certs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=48), nullable=False),
        sa.Column("not_after", _TZ, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_client_certs_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_client_certs")),
        sa.UniqueConstraint("sha256", name=op.f("uq_device_client_certs_sha256")),
    )
    op.create_index(op.f("ix_device_client_certs_device_id"), "device_client_certs", ["device_id"])
    # Every existing device is judged again (by the server at start-up) under its policy.
    op.execute("UPDATE devices SET compliance_fingerprint = ''")


def downgrade() -> None:
    op.drop_index(op.f("ix_device_client_certs_device_id"), table_name="device_client_certs")
    op.drop_table("device_client_certs")
    op.drop_index(op.f("ix_device_access_tokens_device_id"), table_name="device_access_tokens")
    op.drop_table("device_access_tokens")
    op.drop_table("compliance_policies")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_health_state"))
        batch_op.drop_index(batch_op.f("ix_devices_unresponsive_after"))
        batch_op.drop_index(batch_op.f("ix_devices_compliance_ok"))
        for column in (
            "protection_issues",
            "health_changed_at",
            "health_state",
            "health_base",
            "unresponsive_noncompliant",
            "unresponsive_after",
            "compliance_reasons",
            "compliance_ok",
            "compliance_fingerprint",
            "compliance_policy",
        ):
            batch_op.drop_column(column)
