"""The document registry's change feed, followed by host-local read replicas (hub.registry).

Revision ID: 0013_registry_feed
Revises: 0012_election
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0013_registry_feed"
down_revision = "0012_election"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_changes"),
    )


def downgrade() -> None:
    op.drop_table("registry_changes")
