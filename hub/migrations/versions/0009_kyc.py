"""KYC for DBT schemes: KYC records per connection, change feed, consents, field policies, sync state.

Revision ID: 0009_kyc
Revises: 0008_nodues
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0009_kyc"
down_revision = "0008_nodues"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_records",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("consumer_number", sa.String(32), nullable=False),
        sa.Column("holder_name_en", sa.String(200), nullable=False),
        sa.Column("holder_name_hi", sa.String(200), nullable=False),
        sa.Column("samagra_id", sa.String(20), nullable=True),
        sa.Column("mobile", sa.String(10), nullable=True),
        sa.Column("bank_account_enc", sa.Text, nullable=True),
        sa.Column("bank_account_last4", sa.String(4), nullable=True),
        sa.Column("bank_account_mac", sa.String(64), nullable=True),
        sa.Column("ifsc", sa.String(11), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("kyc_date", sa.Date, nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("origin", sa.String(40), nullable=False),
        sa.Column("source_updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_records"),
        sa.UniqueConstraint("consumer_number", name="uq_kyc_records_consumer_number"),
    )
    op.create_index("ix_kyc_records_samagra_id", "kyc_records", ["samagra_id"])
    op.create_table(
        "kyc_changes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("consumer_number", sa.String(32), nullable=True),
        sa.Column("samagra_id", sa.String(20), nullable=True),
        sa.Column("purpose", sa.String(60), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_changes"),
    )
    op.create_index("ix_kyc_changes_samagra_id", "kyc_changes", ["samagra_id"])
    op.create_table(
        "kyc_consents",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("samagra_id", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(60), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("challenge_id", sa.String(40), nullable=False),
        sa.Column("given_via_client", sa.String(64), nullable=False),
        sa.Column("given_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_consents"),
        sa.UniqueConstraint("challenge_id", name="uq_kyc_consents_challenge_id"),
    )
    op.create_index("ix_kyc_consents_samagra_purpose", "kyc_consents", ["samagra_id", "purpose"])
    op.create_table(
        "kyc_field_policies",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(60), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("full_bank_account", sa.Boolean, nullable=False),
        sa.Column("uniform_absent", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_field_policies"),
        sa.UniqueConstraint("client_id", "purpose", name="uq_kyc_field_policies_client_purpose"),
    )
    op.create_table(
        "kyc_sync_state",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("synced_at", UTCDateTime(), nullable=True),
        sa.Column("records_total", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_kyc_sync_state"),
    )


def downgrade() -> None:
    op.drop_table("kyc_sync_state")
    op.drop_table("kyc_field_policies")
    op.drop_index("ix_kyc_consents_samagra_purpose", table_name="kyc_consents")
    op.drop_table("kyc_consents")
    op.drop_index("ix_kyc_changes_samagra_id", table_name="kyc_changes")
    op.drop_table("kyc_changes")
    op.drop_index("ix_kyc_records_samagra_id", table_name="kyc_records")
    op.drop_table("kyc_records")
