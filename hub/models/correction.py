"""Bill corrections: one row per proposed correction, its workflow case keyed by ``correction_no``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class BillCorrection(Base):
    """A correction of one bill as the office proposed it, and what became of it.

    ``amount`` is the credit to the consumer (billed minus correct). ``posting_receipt`` is
    billing's receipt, written once by the worker; the outbox key and billing's reference
    ``BC/<correction_no>`` make the credit happen once however often it is retried.
    """

    __tablename__ = "bill_corrections"
    __table_args__ = (Index("ix_bill_corrections_consumer_number", "consumer_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    correction_no: Mapped[str] = mapped_column(String(20), unique=True)
    consumer_number: Mapped[str] = mapped_column(String(12))
    mobile: Mapped[str] = mapped_column(String(10))
    consumer_name_en: Mapped[str] = mapped_column(String(200))
    consumer_name_hi: Mapped[str] = mapped_column(String(200))
    complaint_no: Mapped[str | None] = mapped_column(String(20), nullable=True)
    bill_period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    reading_billed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reading_correct: Mapped[int | None] = mapped_column(Integer, nullable=True)
    amount_billed: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    amount_correct: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    reason: Mapped[str] = mapped_column(Text)
    dc_code: Mapped[str] = mapped_column(String(40))
    division_code: Mapped[str] = mapped_column(String(40))
    circle_code: Mapped[str] = mapped_column(String(40))
    proposed_by: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(30))
    with_role: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the level holding it
    recommendation: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    posting_receipt: Mapped[str | None] = mapped_column(String(40), nullable=True)
    order_number: Mapped[str | None] = mapped_column(String(80), nullable=True)  # the signed order
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BillCorrectionEvidence(Base):
    """An evidence file (PDF, JPEG or PNG, checked by its first bytes), kept in the database:
    never under a name the uploader chose, never served back with a type they claimed."""

    __tablename__ = "bill_correction_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    correction_id: Mapped[int] = mapped_column(BigId, ForeignKey("bill_corrections.id"), index=True)
    media_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
