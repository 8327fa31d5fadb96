"""device vulnerabilities: per-device findings, assessment columns, the admin's app mapping

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vuln_exposure", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("vuln_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("vuln_exploited", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "vuln_assessment", sa.String(length=16), nullable=False, server_default="none"
            )
        )
        batch_op.add_column(
            sa.Column("vuln_input", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("vuln_generation", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("vuln_assessed_at", _TZ, nullable=True))
        batch_op.add_column(
            sa.Column("vulns", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.create_index(batch_op.f("ix_devices_vuln_exposure"), ["vuln_exposure"])
        batch_op.create_index(batch_op.f("ix_devices_vuln_generation"), ["vuln_generation"])
    op.create_table(
        "device_vulns",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("vuln_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("app_identifier", sa.String(length=255), nullable=False),
        sa.Column("product", sa.String(length=8), nullable=False),
        sa.Column("package", sa.String(length=512), nullable=False),
        sa.Column("installed_version", sa.String(length=160), nullable=False),
        sa.Column("range_start", sa.String(length=160), nullable=True),
        sa.Column("start_inclusive", sa.Boolean(), nullable=False),
        sa.Column("range_end", sa.String(length=160), nullable=True),
        sa.Column("end_inclusive", sa.Boolean(), nullable=False),
        sa.Column("component", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("base", sa.Float(), nullable=False),
        sa.Column("exploited", sa.Boolean(), nullable=False),
        sa.Column("epss", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_vulns_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "device_id",
            "vuln_id",
            "source",
            "record_id",
            "app_identifier",
            name=op.f("pk_device_vulns"),
        ),
    )
    op.create_index(op.f("ix_device_vulns_vuln_id"), "device_vulns", ["vuln_id"], unique=False)
    op.create_index(op.f("ix_device_vulns_severity"), "device_vulns", ["severity"], unique=False)
    op.create_table(
        "vuln_app_mapping",
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("product", sa.String(length=512), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("identifier", "product", name=op.f("pk_vuln_app_mapping")),
    )


def downgrade() -> None:
    op.drop_table("vuln_app_mapping")
    op.drop_index(op.f("ix_device_vulns_severity"), table_name="device_vulns")
    op.drop_index(op.f("ix_device_vulns_vuln_id"), table_name="device_vulns")
    op.drop_table("device_vulns")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_vuln_generation"))
        batch_op.drop_index(batch_op.f("ix_devices_vuln_exposure"))
        for column in (
            "vulns",
            "vuln_assessed_at",
            "vuln_generation",
            "vuln_input",
            "vuln_assessment",
            "vuln_exploited",
            "vuln_count",
            "vuln_exposure",
        ):
            batch_op.drop_column(column)
