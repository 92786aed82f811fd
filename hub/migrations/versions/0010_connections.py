"""New-connection applications, their documents, payments and refused-input incidents.

Revision ID: 0010_connections
Revises: 0009_kyc
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0010_connections"
down_revision = "0009_kyc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection_applications",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("application_no", sa.String(40), nullable=False),
        sa.Column("sw_application_id", sa.String(64), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("form_version", sa.Integer, nullable=False),
        sa.Column("form_data", sa.JSON, nullable=False),
        sa.Column("acknowledgement", sa.JSON, nullable=False),
        sa.Column("submitted_by", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("enterprise_name", sa.String(120), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("district", sa.String(40), nullable=False),
        sa.Column("area_class", sa.String(20), nullable=False),
        sa.Column("office_code", sa.String(40), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("connected_load_kw", sa.Numeric(12, 3), nullable=False),
        sa.Column("contract_demand_kva", sa.Numeric(12, 3), nullable=True),
        sa.Column("supply_voltage", sa.String(8), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("status_seq", sa.Integer, nullable=False),
        sa.Column("statutory_days", sa.Integer, nullable=False),
        sa.Column("query_text", sa.Text, nullable=True),
        sa.Column("demand_note_number", sa.String(64), nullable=True),
        sa.Column("demand_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("demand_lines", sa.JSON, nullable=True),
        sa.Column("payment_order_id", sa.String(64), nullable=True),
        sa.Column("payment_url", sa.String(300), nullable=True),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("sanction_letter_number", sa.String(64), nullable=True),
        sa.Column("consumer_number", sa.String(20), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("delay_days", sa.Integer, nullable=True),
        sa.Column("compensation_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("compensation_receipt", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connection_applications"),
        sa.UniqueConstraint("application_no", name="uq_connection_applications_application_no"),
        sa.UniqueConstraint("sw_application_id", name="uq_connection_applications_sw_application_id"),
        sa.UniqueConstraint("demand_note_number", name="uq_connection_applications_demand_note_number"),
    )
    op.create_table(
        "connection_documents",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("doc_type", sa.String(40), nullable=False),
        sa.Column("file_name", sa.String(120), nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("source_url", sa.String(500), nullable=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connection_documents"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["connection_applications.id"],
            name="fk_connection_documents_application_id_connection_applications",
        ),
    )
    op.create_index("ix_connection_documents_application_id", "connection_documents", ["application_id"])
    op.create_table(
        "connection_payments",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("gateway_txn_id", sa.String(100), nullable=False),
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connection_payments"),
        sa.UniqueConstraint("gateway_txn_id", name="uq_connection_payments_gateway_txn_id"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["connection_applications.id"],
            name="fk_connection_payments_application_id_connection_applications",
        ),
    )
    op.create_index("ix_connection_payments_application_id", "connection_payments", ["application_id"])
    op.create_table(
        "connection_incidents",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("operation", sa.String(60), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("caller", sa.String(100), nullable=False),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connection_incidents"),
    )
    op.create_index("ix_connection_incidents_at", "connection_incidents", ["at"])


def downgrade() -> None:
    op.drop_table("connection_incidents")
    op.drop_table("connection_payments")
    op.drop_table("connection_documents")
    op.drop_table("connection_applications")
