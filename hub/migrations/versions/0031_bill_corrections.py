"""bill corrections: proposed by the office, examined by the DGM, permitted by the delegated officer.

Revision ID: 0031_bill_corrections
Revises: 0029_outages
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0031_bill_corrections"
down_revision = "0029_outages"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bill_corrections",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("correction_no", sa.String(20), nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("consumer_name_en", sa.String(200), nullable=False),
        sa.Column("consumer_name_hi", sa.String(200), nullable=False),
        sa.Column("complaint_no", sa.String(20), nullable=True),
        sa.Column("bill_period", sa.String(7), nullable=False),
        sa.Column("reading_billed", sa.Integer(), nullable=True),
        sa.Column("reading_correct", sa.Integer(), nullable=True),
        sa.Column("amount_billed", sa.Numeric(12, 2), nullable=False),
        sa.Column("amount_correct", sa.Numeric(12, 2), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("dc_code", sa.String(40), nullable=False),
        sa.Column("division_code", sa.String(40), nullable=False),
        sa.Column("circle_code", sa.String(40), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("with_role", sa.String(40), nullable=True),
        sa.Column("recommendation", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("posting_receipt", sa.String(40), nullable=True),
        sa.Column("order_number", sa.String(80), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bill_corrections"),
        sa.UniqueConstraint("correction_no", name="uq_bill_corrections_correction_no"),
    )
    op.create_index("ix_bill_corrections_consumer_number", "bill_corrections", ["consumer_number"])
    op.create_table(
        "bill_correction_evidence",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("correction_id", BigId, nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["correction_id"],
            ["bill_corrections.id"],
            name="fk_bill_correction_evidence_correction_id_bill_corrections",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bill_correction_evidence"),
    )
    op.create_index(
        "ix_bill_correction_evidence_correction_id", "bill_correction_evidence", ["correction_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_bill_correction_evidence_correction_id", table_name="bill_correction_evidence")
    op.drop_table("bill_correction_evidence")
    op.drop_index("ix_bill_corrections_consumer_number", table_name="bill_corrections")
    op.drop_table("bill_corrections")
