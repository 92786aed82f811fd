"""Leases of periodic jobs (hub.periodic), and where each follower of a log has read to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base


class JobLease(Base):
    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(80), nullable=True)
    leased_until: Mapped[datetime]
    last_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
