"""outages: outages on network nodes, SCADA/head-end events applied, notices once, consumers' contacts.

Revision ID: 0029_outages
Revises: 0034_console_queues
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0029_outages"
down_revision = "0034_console_queues"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("node_code", sa.String(40), nullable=False),
        sa.Column("node_kind", sa.String(12), nullable=False),
        sa.Column("office_code", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("expected_restoration_at", UTCDateTime(), nullable=True),
        sa.Column("restored_at", UTCDateTime(), nullable=True),
        sa.Column("reason_en", sa.String(200), nullable=False),
        sa.Column("reason_hi", sa.String(200), nullable=False),
        sa.Column("updates", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outages_node_state", "outages", ["node_code", "state"])
    op.create_index("ix_outages_state_office", "outages", ["state", "office_code"])
    op.create_table(
        "outage_source_events",
        sa.Column("source", sa.String(10), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("node_code", sa.String(40), nullable=False),
        sa.Column("outage_id", sa.BigInteger(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "outage_notices",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("notice", sa.String(40), nullable=False),
        sa.Column("outage_id", sa.BigInteger(), nullable=False),
        sa.Column("batch", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "consumer_number", "group_id", "channel", "notice", name="uq_outage_notices_once"
        ),
    )
    op.create_index("ix_outage_notices_outage", "outage_notices", ["outage_id"])
    op.create_table(
        "consumer_contacts",
        sa.Column("consumer_number", sa.String(12), primary_key=True),
        sa.Column("mobile", sa.String(10), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consumer_contacts")
    op.drop_index("ix_outage_notices_outage", "outage_notices")
    op.drop_table("outage_notices")
    op.drop_table("outage_source_events")
    op.drop_index("ix_outages_state_office", "outages")
    op.drop_index("ix_outages_node_state", "outages")
    op.drop_table("outages")
