"""SOAP WS-Security replay cache: soap_nonces.

Revision ID: 0005_soap_nonces
Revises: 0004_outbox_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0005_soap_nonces"
down_revision = "0004_outbox_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "soap_nonces",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "nonce", name="pk_soap_nonces"),
    )
    op.create_index("ix_soap_nonces_expires_at", "soap_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_soap_nonces_expires_at", table_name="soap_nonces")
    op.drop_table("soap_nonces")
