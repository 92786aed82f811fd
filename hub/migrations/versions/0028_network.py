"""network: substations, feeders and DTs, each consumer's DT, and the GIS feed's position.

Revision ID: 0028_network
Revises: 0026_bill_payment_receipts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0028_network"
down_revision = "0026_bill_payment_receipts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_nodes",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("parent_code", sa.String(40), nullable=True),
        sa.Column("office_code", sa.String(16), nullable=False),
        sa.Column("name_en", sa.String(120), nullable=False),
        sa.Column("name_hi", sa.String(120), nullable=False),
        sa.Column("meter_no", sa.String(30), nullable=True),
        sa.Column("capacity_kva", sa.Integer(), nullable=True),
        sa.Column("in_service", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_network_nodes_parent_code", "network_nodes", ["parent_code"])
    op.create_index("ix_network_nodes_office_kind", "network_nodes", ["office_code", "kind"])
    op.create_table(
        "network_consumers",
        sa.Column("consumer_number", sa.String(12), primary_key=True),
        sa.Column("dt_code", sa.String(40), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_network_consumers_dt_code", "network_consumers", ["dt_code"])
    op.create_table(
        "network_feed",
        sa.Column("source", sa.String(20), primary_key=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("network_feed")
    op.drop_index("ix_network_consumers_dt_code", "network_consumers")
    op.drop_table("network_consumers")
    op.drop_index("ix_network_nodes_office_kind", "network_nodes")
    op.drop_index("ix_network_nodes_parent_code", "network_nodes")
    op.drop_table("network_nodes")
