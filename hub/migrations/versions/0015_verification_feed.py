"""The verification log as a feed: the asking authority on each row, and followers' cursors.

Holder SMS are no longer decided in the request's journal write: hub.election
follows ``document_verifications`` by id (``feed_cursors``) and texts each
certificate's holder once a day. Rows logged before this revision have no
``client_id`` and are passed over (their SMS went out when they were written).

Revision ID: 0015_verification_feed
Revises: 0014_audit_hash_not_unique
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0015_verification_feed"
down_revision = "0014_audit_hash_not_unique"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("document_verifications") as batch:
        batch.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
    op.create_table(
        "feed_cursors",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_feed_cursors"),
    )


def downgrade() -> None:
    op.drop_table("feed_cursors")
    with op.batch_alter_table("document_verifications") as batch:
        batch.drop_column("client_id")
