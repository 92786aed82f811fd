"""Election service: bulk verification jobs and the holder-SMS ledger.

Revision ID: 0012_election
Revises: 0011_job_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0012_election"
down_revision = "0011_job_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "election_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("input_csv", sa.LargeBinary(), nullable=False),
        sa.Column("result_csv", sa.LargeBinary(), nullable=True),
        sa.Column("result_xml", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_election_jobs"),
        sa.UniqueConstraint("public_id", name="uq_election_jobs_public_id"),
    )
    op.create_index("ix_election_jobs_client_id", "election_jobs", ["client_id"])
    op.create_table(
        "election_holder_notices",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("document_id", "day", name="pk_election_holder_notices"),
    )


def downgrade() -> None:
    op.drop_table("election_holder_notices")
    op.drop_index("ix_election_jobs_client_id", table_name="election_jobs")
    op.drop_table("election_jobs")
