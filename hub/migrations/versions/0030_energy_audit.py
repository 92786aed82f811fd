"""energy audit: a month's imported meter readings and billing sales, and the results per node.

Revision ID: 0030_energy_audit
Revises: 0027_complaints
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0030_energy_audit"
down_revision = "0027_complaints"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "energy_audits",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=True),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("consumers", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
    )
    op.create_table(
        "energy_readings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("node_code", sa.String(40), nullable=False),
        sa.Column("meter_no", sa.String(30), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=False),
        sa.Column("register_wh", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("position", sa.String(6), nullable=False),
    )
    op.create_index("ix_energy_readings_period_node", "energy_readings", ["period", "node_code"])
    op.create_table(
        "energy_sales",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("consumer_number", sa.String(12), primary_key=True),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("billed_paise", sa.BigInteger(), nullable=False),
        sa.Column("collected_paise", sa.BigInteger(), nullable=False),
        sa.Column("dt_code", sa.String(40), nullable=True),
        sa.Column("moved_from", sa.String(40), nullable=True),
    )
    op.create_index("ix_energy_sales_period_dt", "energy_sales", ["period", "dt_code"])
    op.create_index("ix_energy_sales_period_moved", "energy_sales", ["period", "moved_from"])
    op.create_table(
        "energy_node_inputs",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("node_code", sa.String(40), primary_key=True),
        sa.Column("energy_wh", sa.BigInteger(), nullable=True),
        sa.Column("meters", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("closes", sa.Integer(), nullable=False),
        sa.Column("finals", sa.Integer(), nullable=False),
        sa.Column("open_ends", sa.Integer(), nullable=False),
        sa.Column("backwards", sa.Integer(), nullable=False),
    )
    op.create_table(
        "energy_dt_sales",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("dt_code", sa.String(40), nullable=True),
        sa.Column("consumers", sa.Integer(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("billed_paise", sa.BigInteger(), nullable=False),
        sa.Column("collected_paise", sa.BigInteger(), nullable=False),
        sa.Column("moved_in", sa.Integer(), nullable=False),
    )
    op.create_index("ix_energy_dt_sales_period_dt", "energy_dt_sales", ["period", "dt_code"])
    op.create_table(
        "energy_offices",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("dc_code", sa.String(16), primary_key=True),
        sa.Column("division_code", sa.String(16), nullable=False),
        sa.Column("circle_code", sa.String(16), nullable=False),
    )
    op.create_table(
        "energy_audit_results",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("level", sa.String(10), primary_key=True),
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("parent_code", sa.String(40), nullable=True),
        sa.Column("consumers", sa.Integer(), nullable=False),
        sa.Column("input_wh", sa.BigInteger(), nullable=True),
        sa.Column("billed_wh", sa.BigInteger(), nullable=False),
        sa.Column("audited_billed_wh", sa.BigInteger(), nullable=False),
        sa.Column("billed_paise", sa.BigInteger(), nullable=False),
        sa.Column("collected_paise", sa.BigInteger(), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("nodes_with_input", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
    )
    op.create_index("ix_energy_audit_results_parent", "energy_audit_results", ["period", "parent_code"])
    op.create_table(
        "energy_audit_flags",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("flag", sa.String(24), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_energy_audit_flags_period_code", "energy_audit_flags", ["period", "code"])


def downgrade() -> None:
    op.drop_index("ix_energy_audit_flags_period_code", "energy_audit_flags")
    op.drop_table("energy_audit_flags")
    op.drop_index("ix_energy_audit_results_parent", "energy_audit_results")
    op.drop_table("energy_audit_results")
    op.drop_table("energy_offices")
    op.drop_index("ix_energy_dt_sales_period_dt", "energy_dt_sales")
    op.drop_table("energy_dt_sales")
    op.drop_table("energy_node_inputs")
    op.drop_index("ix_energy_sales_period_moved", "energy_sales")
    op.drop_index("ix_energy_sales_period_dt", "energy_sales")
    op.drop_table("energy_sales")
    op.drop_index("ix_energy_readings_period_node", "energy_readings")
    op.drop_table("energy_readings")
    op.drop_table("energy_audits")
