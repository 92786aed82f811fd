"""complaints: consumer complaints (call centre, portal, offices) and what became of them.

Revision ID: 0027_complaints
Revises: 0024_reconciliation_work
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0027_complaints"
down_revision = "0024_reconciliation_work"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("complaint_no", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("client_id", sa.String(40), nullable=True),
        sa.Column("ticket_id", sa.String(64), nullable=True),
        sa.Column("request_digest", sa.String(64), nullable=False),
        sa.Column("filed_by", sa.String(200), nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("complaint_type", sa.String(40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("office_code", sa.String(40), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("sop_due_at", UTCDateTime(), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("action_taken", sa.Text(), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_remarks", sa.String(500), nullable=True),
        sa.Column("compensation_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("compensation_receipt", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
        sa.UniqueConstraint("complaint_no", name="uq_complaints_complaint_no"),
        sa.UniqueConstraint("client_id", "ticket_id", name="uq_complaints_client_id_ticket_id"),
    )
    op.create_index("ix_complaints_consumer_number", "complaints", ["consumer_number"])


def downgrade() -> None:
    op.drop_index("ix_complaints_consumer_number", table_name="complaints")
    op.drop_table("complaints")
