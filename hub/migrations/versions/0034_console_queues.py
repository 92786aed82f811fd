"""console queues: indexes the officers' work list and the escalation sweep read by.

- ``ix_workflow_cases_overdue``: open cases by when they breach, only the open ones (the
  escalation sweep's ``due_at < now`` and the work list's "what breaches first" read it; closed
  cases, the bulk of the table in time, are not in it).
- ``ix_workflow_cases_subject_id``: a case by its application / complaint number (search).
- ``ix_complaints_mobile``: complaints by the consumer's mobile (search).

Revision ID: 0034_console_queues
Revises: 0032_whatsapp
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034_console_queues"
down_revision = "0032_whatsapp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_workflow_cases_overdue",
        "workflow_cases",
        ["due_at"],
        postgresql_where=sa.text("closed_at IS NULL"),
        sqlite_where=sa.text("closed_at IS NULL"),
    )
    op.create_index("ix_workflow_cases_subject_id", "workflow_cases", ["subject_id"])
    op.create_index("ix_complaints_mobile", "complaints", ["mobile"])


def downgrade() -> None:
    op.drop_index("ix_complaints_mobile", table_name="complaints")
    op.drop_index("ix_workflow_cases_subject_id", table_name="workflow_cases")
    op.drop_index("ix_workflow_cases_overdue", table_name="workflow_cases")
