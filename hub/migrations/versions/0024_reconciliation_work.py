"""Reconciliation items as the office's work: how an officer closed each one, and the open queue.

Revision ID: 0024_reconciliation_work
Revises: 0028_network
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0024_reconciliation_work"
down_revision = "0028_network"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bill_reconciliation_items") as batch:
        batch.add_column(sa.Column("action", sa.String(24), nullable=True))
        batch.add_column(sa.Column("note", sa.String(500), nullable=True))
        batch.add_column(sa.Column("closed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("closed_at", UTCDateTime(), nullable=True))
    op.create_index("ix_bill_reconciliation_items_state", "bill_reconciliation_items", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_bill_reconciliation_items_state", table_name="bill_reconciliation_items")
    with op.batch_alter_table("bill_reconciliation_items") as batch:
        batch.drop_column("closed_at")
        batch.drop_column("closed_by")
        batch.drop_column("note")
        batch.drop_column("action")
