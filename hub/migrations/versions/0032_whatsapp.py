"""whatsapp: numbers and their consent, bill subscriptions, messages both ways, media, bill runs.

Revision ID: 0032_whatsapp
Revises: 0033_chatbot
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0032_whatsapp"
down_revision = "0033_chatbot"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "whatsapp_numbers",
        sa.Column("wa_id", sa.String(20), primary_key=True),
        sa.Column("consent", sa.String(12), nullable=False),
        sa.Column("consent_at", UTCDateTime(), nullable=True),
        sa.Column("consent_how", sa.String(30), nullable=True),
        sa.Column("consent_source", sa.String(120), nullable=True),
        sa.Column("last_inbound_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "whatsapp_subscriptions",
        sa.Column("consumer_number", sa.String(12), primary_key=True),
        sa.Column("wa_id", sa.String(20), nullable=False),
        sa.Column("subscribed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_whatsapp_subscriptions_wa_id", "whatsapp_subscriptions", ["wa_id"])
    op.create_table(
        "whatsapp_inbound",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(256), nullable=False),
        sa.Column("wa_id", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("choice_id", sa.String(256), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("message_id", name="uq_whatsapp_inbound_message_id"),
    )
    op.create_index("ix_whatsapp_inbound_wa_id", "whatsapp_inbound", ["wa_id"])
    op.create_table(
        "whatsapp_outbound",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(12), nullable=False),
        sa.Column("wa_id", sa.String(20), nullable=False),
        sa.Column("cycle", sa.String(7), nullable=True),
        sa.Column("consumer_number", sa.String(12), nullable=True),
        sa.Column("template", sa.String(40), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("wamid", sa.String(128), nullable=True),
        sa.Column("error_code", sa.String(40), nullable=True),
        sa.Column("fallback", sa.JSON(), nullable=True),
        sa.Column("fell_back_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("status_at", UTCDateTime(), nullable=True),
        sa.Column("deadline_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("key", name="uq_whatsapp_outbound_key"),
        sa.UniqueConstraint("wamid", name="uq_whatsapp_outbound_wamid"),
    )
    op.create_index("ix_whatsapp_outbound_cycle_status", "whatsapp_outbound", ["cycle", "status"])
    op.create_index("ix_whatsapp_outbound_deadline", "whatsapp_outbound", ["status", "deadline_at"])
    op.create_table(
        "whatsapp_media",
        sa.Column("document_key", sa.String(120), primary_key=True),
        sa.Column("media_id", sa.String(64), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "whatsapp_bill_runs",
        sa.Column("cycle", sa.String(7), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("cursor", sa.String(12), nullable=False),
        sa.Column("handed_off", sa.Integer(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("day_count", sa.Integer(), nullable=False),
        sa.Column("day_started_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_bill_runs")
    op.drop_table("whatsapp_media")
    op.drop_index("ix_whatsapp_outbound_deadline", "whatsapp_outbound")
    op.drop_index("ix_whatsapp_outbound_cycle_status", "whatsapp_outbound")
    op.drop_table("whatsapp_outbound")
    op.drop_index("ix_whatsapp_inbound_wa_id", "whatsapp_inbound")
    op.drop_table("whatsapp_inbound")
    op.drop_index("ix_whatsapp_subscriptions_wa_id", "whatsapp_subscriptions")
    op.drop_table("whatsapp_subscriptions")
    op.drop_table("whatsapp_numbers")
