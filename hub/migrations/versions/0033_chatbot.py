"""chatbot: the WhatsApp chatbot's conversation per number and the message ids it answered.

Revision ID: 0033_chatbot
Revises: 0030_energy_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0033_chatbot"
down_revision = "0030_energy_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chatbot_conversations",
        sa.Column("wa_id", sa.String(20), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("language_chosen", sa.Boolean(), nullable=False),
        sa.Column("step", sa.String(24), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("last_sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_active_at", UTCDateTime(), nullable=False),
        sa.Column("window_started_at", UTCDateTime(), nullable=False),
        sa.Column("window_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("wa_id", name=op.f("pk_chatbot_conversations")),
    )
    op.create_table(
        "chatbot_messages_seen",
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("wa_id", sa.String(20), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_chatbot_messages_seen")),
    )
    op.create_index("ix_chatbot_messages_seen_seen_at", "chatbot_messages_seen", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_chatbot_messages_seen_seen_at", table_name="chatbot_messages_seen")
    op.drop_table("chatbot_messages_seen")
    op.drop_table("chatbot_conversations")
