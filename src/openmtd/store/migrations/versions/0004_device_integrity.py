"""device integrity: verdict columns, attestation challenges, results and App Attest keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "integrity_state", sa.String(length=16), nullable=False, server_default="unknown"
            )
        )
        batch_op.add_column(
            sa.Column("integrity", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column("integrity_input", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("integrity_valid_until", _TZ, nullable=True))
        batch_op.add_column(
            sa.Column("attested", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.create_index(
            batch_op.f("ix_devices_integrity_state"), ["integrity_state"], unique=False
        )
    op.create_table(
        "integrity_challenges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("nonce_sha256", sa.String(length=64), nullable=False),
        sa.Column("issued_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("used_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_integrity_challenges_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_challenges")),
    )
    op.create_index(
        "ix_integrity_challenges_device",
        "integrity_challenges",
        ["device_id", "expires_at"],
        unique=False,
    )
    op.create_table(
        "integrity_attestations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("verified_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_integrity_attestations_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_attestations")),
    )
    op.create_index(
        "ix_integrity_attestations_device",
        "integrity_attestations",
        ["device_id", "verified_at"],
        unique=False,
    )
    op.create_table(
        "app_attest_keys",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.Column("attested_at", _TZ, nullable=False),
        sa.Column("last_used_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_app_attest_keys_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "key_id", name=op.f("pk_app_attest_keys")),
    )


def downgrade() -> None:
    op.drop_table("app_attest_keys")
    op.drop_index("ix_integrity_attestations_device", table_name="integrity_attestations")
    op.drop_table("integrity_attestations")
    op.drop_index("ix_integrity_challenges_device", table_name="integrity_challenges")
    op.drop_table("integrity_challenges")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_integrity_state"))
        batch_op.drop_column("attested")
        batch_op.drop_column("integrity_valid_until")
        batch_op.drop_column("integrity_input")
        batch_op.drop_column("integrity")
        batch_op.drop_column("integrity_state")
