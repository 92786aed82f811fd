"""bill_payments: gateway orders for bills, payments from every channel (unique per channel and
transaction), and the channels' notification ids seen.

Revision ID: 0021_bill_payments
Revises: 0018_sign_in_failures
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0021_bill_payments"
down_revision = "0020_reference_store"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(12, 2)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bill_payment_orders",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("bill_number", sa.String(64), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("payment_url", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bill_payment_orders"),
        sa.UniqueConstraint("order_id", name="uq_bill_payment_orders_order_id"),
        sa.UniqueConstraint("reference", name="uq_bill_payment_orders_reference"),
    )
    op.create_index("ix_bill_payment_orders_consumer_number", "bill_payment_orders", ["consumer_number"])
    op.create_table(
        "bill_payments",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("channel_receipt_id", sa.String(64), nullable=True),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("bill_number", sa.String(64), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("received_from", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("suspense_reason", sa.String(40), nullable=True),
        sa.Column("billing_reference", sa.String(64), nullable=True),
        sa.Column("posted_to", sa.String(12), nullable=True),
        sa.Column("receipt_number", sa.String(32), nullable=True),
        sa.Column("posted_at", UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.String(12), nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bill_payments"),
        sa.UniqueConstraint("channel", "transaction_id", name="uq_bill_payments_channel_transaction"),
        sa.UniqueConstraint("billing_reference", name="uq_bill_payments_billing_reference"),
    )
    op.create_index("ix_bill_payments_state", "bill_payments", ["state"])
    op.create_index("ix_bill_payments_paid_on", "bill_payments", ["channel", "paid_on"])
    op.create_index("ix_bill_payments_consumer_number", "bill_payments", ["consumer_number"])
    op.create_table(
        "bill_payment_events",
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "event_id", name="pk_bill_payment_events"),
    )


def downgrade() -> None:
    op.drop_table("bill_payment_events")
    op.drop_index("ix_bill_payments_consumer_number", table_name="bill_payments")
    op.drop_index("ix_bill_payments_paid_on", table_name="bill_payments")
    op.drop_index("ix_bill_payments_state", table_name="bill_payments")
    op.drop_table("bill_payments")
    op.drop_index("ix_bill_payment_orders_consumer_number", table_name="bill_payment_orders")
    op.drop_table("bill_payment_orders")
