"""app protection: app indicator types, signer SHA-1 in the inventory, the APK analysis cache

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # App indicator types ("file_sha256", "cert_sha1", "package" …) need more than 8 characters.
    for table in ("indicators", "feed_entries"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "type", existing_type=sa.String(length=8), type_=sa.String(length=16)
            )
    with op.batch_alter_table("device_apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signer_sha1", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_device_apps_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_device_apps_signer_sha256"), ["signer_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_apps_signer_sha1"), ["signer_sha1"], unique=False
        )
    op.create_table(
        "apk_analyses",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("version_name", sa.String(length=128), nullable=False),
        sa.Column("signer_sha256", sa.String(length=64), nullable=True),
        sa.Column("signer_sha1", sa.String(length=40), nullable=True),
        sa.Column("verdict", sa.String(length=24), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("rules_digest", sa.String(length=64), nullable=False),
        sa.Column("analysed_at", _TZ, nullable=False),
        sa.Column("analysis_ms", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_apk_analyses")),
    )
    op.create_index(op.f("ix_apk_analyses_verdict"), "apk_analyses", ["verdict"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_apk_analyses_verdict"), table_name="apk_analyses")
    op.drop_table("apk_analyses")
    with op.batch_alter_table("device_apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_apps_signer_sha1"))
        batch_op.drop_index(batch_op.f("ix_device_apps_signer_sha256"))
        batch_op.drop_index(batch_op.f("ix_device_apps_sha256"))
        batch_op.drop_column("signer_sha1")
    for table in ("indicators", "feed_entries"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "type", existing_type=sa.String(length=16), type_=sa.String(length=8)
            )
