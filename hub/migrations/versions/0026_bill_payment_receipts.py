"""bill_payments: found by billing's receipt number within a channel (a receipt read by its number).

Revision ID: 0026_bill_payment_receipts
Revises: 0023_meter_commands
"""

from __future__ import annotations

from alembic import op

revision = "0026_bill_payment_receipts"
down_revision = "0023_meter_commands"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_bill_payments_receipt_number", "bill_payments", ["channel", "receipt_number"])


def downgrade() -> None:
    op.drop_index("ix_bill_payments_receipt_number", table_name="bill_payments")
