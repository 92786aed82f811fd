"""Transactional outbox and the hash-chained audit log.

Revision ID: 0004_outbox_audit
Revises: 0003_reference_messaging
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0004_outbox_audit"
down_revision = "0003_reference_messaging"
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_messages"),
        # Never reuse an id on SQLite: it is the receivers' deduplication key.
        sqlite_autoincrement=True,
    )
    # The worker's claim and the sweep: due pending messages.
    op.create_index(
        "ix_outbox_messages_status_next_attempt_at", "outbox_messages", ["status", "next_attempt_at"]
    )
    # Per-key order: "is there an older undelivered message for this key?"
    op.create_index("ix_outbox_messages_key_id", "outbox_messages", ["key", "id"])

    op.create_table(
        "audit_log",
        sa.Column("seq", BigId, nullable=False, autoincrement=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject_type", sa.String(60), nullable=False),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("data_json", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.UniqueConstraint("hash", name="uq_audit_log_hash"),
    )
    # A consumer's disclosure history and an application's trail.
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_type", "subject_id", "seq"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_at", table_name="audit_log")
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_outbox_messages_key_id", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_status_next_attempt_at", table_name="outbox_messages")
    op.drop_table("outbox_messages")
