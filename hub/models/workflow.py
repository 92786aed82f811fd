"""Cases moving through a declarative workflow, with their history and time-limit breaches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow


class WorkflowCase(Base):
    __tablename__ = "workflow_cases"
    __table_args__ = (
        UniqueConstraint("workflow", "subject_type", "subject_id", name="uq_workflow_cases_subject"),
        Index("ix_workflow_cases_queue", "assigned_role", "office_code", "due_at"),
        # Open cases by when they breach (escalation sweep, the console's work list); closed ones left out.
        Index(
            "ix_workflow_cases_overdue",
            "due_at",
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
        # A case found by its application or complaint number (the console's search).
        Index("ix_workflow_cases_subject_id", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))
    office_code: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(60))
    state_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the current state's time limit runs out (None: no limit, or the clock is paused).
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    assigned_role: Mapped[str | None] = mapped_column(String(40), nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # The statutory date for the whole case, moved later while the clock is paused.
    statutory_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    clock_paused_at: Mapped[datetime | None] = mapped_column(nullable=True)
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    event_count: Mapped[int] = mapped_column(Integer, default=0)


class WorkflowEvent(Base):
    __tablename__ = "workflow_events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_workflow_events_case_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("workflow_cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(60), nullable=True)
    to_state: Mapped[str] = mapped_column(String(60))
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WorkflowBreach(Base):
    """A time limit that ran out: kept for the record and for compensation."""

    __tablename__ = "workflow_breaches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("workflow_cases.id"), index=True)
    state: Mapped[str] = mapped_column(String(60))
    role: Mapped[str | None] = mapped_column(String(40), nullable=True)
    due_at: Mapped[datetime]
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    escalated_to: Mapped[str | None] = mapped_column(String(40), nullable=True)
