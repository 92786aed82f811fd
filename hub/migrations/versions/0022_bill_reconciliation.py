"""bill_reconciliation: a channel's settlement file for a day against the hub's payments and
billing's ledger. The two staging tables are loaded in bulk (COPY on PostgreSQL, where they are
UNLOGGED: a run's lines are scratch, rebuilt by running it again) and emptied after the run.

Revision ID: 0022_bill_reconciliation
Revises: 0021_bill_payments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0022_bill_reconciliation"
down_revision = "0021_bill_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "bill_reconciliation_runs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bill_reconciliation_runs"),
    )
    op.create_index("ix_bill_reconciliation_runs_channel", "bill_reconciliation_runs", ["channel", "day"])
    op.create_table(
        "bill_settlement_lines",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("amount_paise", sa.BigInteger, nullable=False),
        prefixes=unlogged,
    )
    op.create_index("ix_bill_settlement_lines_run_id", "bill_settlement_lines", ["run_id", "transaction_id"])
    op.create_table(
        "bill_ledger_lines",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("amount_paise", sa.BigInteger, nullable=False),
        prefixes=unlogged,
    )
    op.create_index("ix_bill_ledger_lines_run_id", "bill_ledger_lines", ["run_id", "reference"])
    op.create_table(
        "bill_reconciliation_items",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=True),
        sa.Column("payment_id", sa.BigInteger, nullable=True),
        sa.Column("channel_amount_paise", sa.BigInteger, nullable=True),
        sa.Column("hub_amount_paise", sa.BigInteger, nullable=True),
        sa.Column("billing_amount_paise", sa.BigInteger, nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bill_reconciliation_items"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["bill_reconciliation_runs.id"],
            name="fk_bill_reconciliation_items_run_id_bill_reconciliation_runs",
        ),
    )
    op.create_index(
        "ix_bill_reconciliation_items_run_id", "bill_reconciliation_items", ["run_id", "category"]
    )


def downgrade() -> None:
    op.drop_table("bill_reconciliation_items")
    op.drop_table("bill_ledger_lines")
    op.drop_table("bill_settlement_lines")
    op.drop_table("bill_reconciliation_runs")
