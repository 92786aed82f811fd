"""Tables of the election service: bulk verification jobs and the holder-SMS ledger."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow


class ElectionVerificationJob(Base):
    """A returning officer's CSV of candidates, verified by the worker (outbox kind ``election.job``).

    ``public_id`` is what the client sees; a job answers only to the client
    that created it. The input stays until the job is purged with its results.
    """

    __tablename__ = "election_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    # queued -> running -> done | failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    input_csv: Mapped[bytes] = mapped_column(LargeBinary)
    result_csv: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    result_xml: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class HolderNotice(Base):
    """One "your certificate was verified" SMS per certificate per day (India time).

    The primary key is the deduplication: a batch naming a certificate 1,000
    times, or ten authorities checking it on scrutiny day, text the holder once.
    """

    __tablename__ = "election_holder_notices"

    document_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
