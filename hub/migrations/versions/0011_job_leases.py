"""Leases that keep a periodic job to one worker at a time.

Revision ID: 0011_job_leases
Revises: 0010_connections
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0011_job_leases"
down_revision = "0010_connections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("holder", sa.String(80), nullable=True),
        sa.Column("leased_until", UTCDateTime(), nullable=False),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_job_leases"),
    )


def downgrade() -> None:
    op.drop_table("job_leases")
