"""office hierarchy: an officer's jurisdiction is their offices and every office below them.

Revision ID: 0036_office_jurisdiction
Revises: 0031_bill_corrections
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0036_office_jurisdiction"
down_revision = "0031_bill_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_hierarchy",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("parent_code", sa.String(16), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_office_hierarchy"),
    )
    op.create_index("ix_office_hierarchy_parent_code", "office_hierarchy", ["parent_code"])


def downgrade() -> None:
    op.drop_index("ix_office_hierarchy_parent_code", table_name="office_hierarchy")
    op.drop_table("office_hierarchy")
