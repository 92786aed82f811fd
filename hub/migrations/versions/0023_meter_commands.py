"""meter_commands: remote connect / disconnect commands to smart meters, one per (meter, payment).

Revision ID: 0023_meter_commands
Revises: 0022_bill_reconciliation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0023_meter_commands"
down_revision = "0022_bill_reconciliation"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meter_commands",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(40), nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("meter_no", sa.String(30), nullable=False),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("notice_served_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("dc_code", sa.String(16), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("last_notification_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("executed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_meter_commands"),
        sa.UniqueConstraint("transaction_id", name="uq_meter_commands_transaction_id"),
        sa.UniqueConstraint("meter_no", "payment_id", name="uq_meter_commands_meter_no_payment_id"),
    )
    op.create_index("ix_meter_commands_consumer_number", "meter_commands", ["consumer_number"])
    op.create_index("ix_meter_commands_status_next_check_at", "meter_commands", ["status", "next_check_at"])


def downgrade() -> None:
    op.drop_index("ix_meter_commands_status_next_check_at", table_name="meter_commands")
    op.drop_index("ix_meter_commands_consumer_number", table_name="meter_commands")
    op.drop_table("meter_commands")
