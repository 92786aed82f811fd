"""No-dues certificates (accounts, linked connections, applications, checks) and officer accounts.

Revision ID: 0008_nodues
Revises: 0007_otp_workflow
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0008_nodues"
down_revision = "0007_otp_workflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "officers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("offices", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_officers"),
        sa.UniqueConstraint("username", name="uq_officers_username"),
    )
    op.create_table(
        "nodues_accounts",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("samagra_id", sa.String(9), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_nodues_accounts"),
        sa.UniqueConstraint("public_id", name="uq_nodues_accounts_public_id"),
        sa.UniqueConstraint("client_id", "mobile", name="uq_nodues_accounts_client_mobile"),
    )
    op.create_table(
        "nodues_connections",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("proof", sa.String(20), nullable=False),
        sa.Column("dc_code", sa.String(40), nullable=False),
        sa.Column("division_code", sa.String(40), nullable=False),
        sa.Column("circle_code", sa.String(40), nullable=False),
        sa.Column("ekyc_status", sa.String(16), nullable=False),
        sa.Column("ekyc_refusal", sa.String(40), nullable=True),
        sa.Column("ekyc_at", UTCDateTime(), nullable=True),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_nodues_connections"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["nodues_accounts.id"], name="fk_nodues_connections_account_id_nodues_accounts"
        ),
        sa.UniqueConstraint("account_id", "consumer_number", name="uq_nodues_connections_account_consumer"),
    )
    op.create_index("ix_nodues_connections_account_id", "nodues_connections", ["account_id"])
    op.create_table(
        "nodues_applications",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("name_deva", sa.String(200), nullable=False),
        sa.Column("name_latin", sa.String(200), nullable=False),
        sa.Column("samagra_id", sa.String(9), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("connections", sa.JSON, nullable=False),
        sa.Column("no_connection", sa.Boolean, nullable=False),
        sa.Column("purpose", sa.JSON, nullable=False),
        sa.Column("dues_as_of", sa.Date, nullable=True),
        sa.Column("office_code", sa.String(40), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("open_samagra_id", sa.String(9), nullable=True),
        sa.Column("check_attempts", sa.Integer, nullable=False),
        sa.Column("last_check_error", sa.Text, nullable=True),
        sa.Column("checks_completed_at", UTCDateTime(), nullable=True),
        sa.Column("rejection_reasons", sa.JSON, nullable=False),
        sa.Column("certificate_id", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_nodues_applications"),
        sa.UniqueConstraint("public_id", name="uq_nodues_applications_public_id"),
        sa.UniqueConstraint("open_samagra_id", name="uq_nodues_applications_open_samagra_id"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["nodues_accounts.id"], name="fk_nodues_applications_account_id_nodues_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["issued_documents.id"],
            name="fk_nodues_applications_certificate_id_issued_documents",
        ),
    )
    op.create_index("ix_nodues_applications_client_id", "nodues_applications", ["client_id"])
    op.create_index("ix_nodues_applications_account_id", "nodues_applications", ["account_id"])
    op.create_index("ix_nodues_applications_samagra_id", "nodues_applications", ["samagra_id"])
    op.create_table(
        "nodues_checks",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(30), nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=True),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("evidence_ref", sa.String(200), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_nodues_checks"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["nodues_applications.id"],
            name="fk_nodues_checks_application_id_nodues_applications",
        ),
    )
    op.create_index("ix_nodues_checks_application_id", "nodues_checks", ["application_id"])


def downgrade() -> None:
    op.drop_table("nodues_checks")
    op.drop_table("nodues_applications")
    op.drop_table("nodues_connections")
    op.drop_table("nodues_accounts")
    op.drop_table("officers")
