"""Leases of periodic jobs (hub.periodic), and where each follower of a log has read to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow


class JobLease(Base):
    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(80), nullable=True)
    leased_until: Mapped[datetime]
    last_run_at: Mapped[datetime | None] = mapped_column(nullable=True)


class FeedCursor(Base):
    """How far a periodic follower has read an append-only table (by its ``id``).

    The follower reads rows after ``position`` and moves it in the transaction that
    acts on them: a follower that dies mid-run reads the same rows again.
    """

    __tablename__ = "feed_cursors"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
