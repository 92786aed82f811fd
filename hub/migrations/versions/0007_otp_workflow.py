"""OTP challenges; workflow cases, events and breaches.

Revision ID: 0007_otp_workflow
Revises: 0006_documents
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0007_otp_workflow"
down_revision = "0006_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "otp_challenges",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("challenge_id", sa.String(40), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("purpose", sa.String(80), nullable=False),
        sa.Column("code_mac", sa.String(64), nullable=False),
        sa.Column("requested_by_client", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("consumed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_otp_challenges"),
        sa.UniqueConstraint("challenge_id", name="uq_otp_challenges_challenge_id"),
    )
    op.create_index("ix_otp_challenges_mobile_created", "otp_challenges", ["mobile", "created_at"])
    op.create_table(
        "workflow_cases",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("workflow", sa.String(60), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("subject_type", sa.String(40), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("office_code", sa.String(40), nullable=False),
        sa.Column("state", sa.String(60), nullable=False),
        sa.Column("state_entered_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("assigned_role", sa.String(40), nullable=True),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("statutory_due_at", UTCDateTime(), nullable=True),
        sa.Column("clock_paused_at", UTCDateTime(), nullable=True),
        sa.Column("paused_seconds", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_cases"),
        sa.UniqueConstraint("workflow", "subject_type", "subject_id", name="uq_workflow_cases_subject"),
    )
    op.create_index("ix_workflow_cases_queue", "workflow_cases", ["assigned_role", "office_code", "due_at"])
    op.create_table(
        "workflow_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("from_state", sa.String(60), nullable=True),
        sa.Column("to_state", sa.String(60), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_events"),
        sa.UniqueConstraint("case_id", "seq", name="uq_workflow_events_case_seq"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["workflow_cases.id"], name="fk_workflow_events_case_id_workflow_cases"
        ),
    )
    op.create_index("ix_workflow_events_case_id", "workflow_events", ["case_id"])
    op.create_table(
        "workflow_breaches",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(60), nullable=False),
        sa.Column("role", sa.String(40), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.Column("escalated_to", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_breaches"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["workflow_cases.id"], name="fk_workflow_breaches_case_id_workflow_cases"
        ),
    )
    op.create_index("ix_workflow_breaches_case_id", "workflow_breaches", ["case_id"])


def downgrade() -> None:
    op.drop_table("workflow_breaches")
    op.drop_table("workflow_events")
    op.drop_table("workflow_cases")
    op.drop_table("otp_challenges")
