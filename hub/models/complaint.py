"""Consumer complaints: one row per complaint, its workflow case keyed by ``complaint_no``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Complaint(Base):
    """A complaint as registered, with what became of it.

    ``(client_id, ticket_id)`` is unique: the call centre's ticket id is its idempotency key,
    and ``request_digest`` tells a repeat of the same ticket from a different one reusing its id.
    ``level`` mirrors the workflow case's escalation level (0: the distribution centre's
    first level), so a listener can tell an officer acting below the case's level.
    """

    __tablename__ = "complaints"
    __table_args__ = (
        UniqueConstraint("client_id", "ticket_id", name="uq_complaints_client_id_ticket_id"),
        Index("ix_complaints_consumer_number", "consumer_number"),
        Index("ix_complaints_mobile", "mobile"),  # the console's search by mobile
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    complaint_no: Mapped[str] = mapped_column(String(20), unique=True)
    channel: Mapped[str] = mapped_column(String(12))  # callcentre / portal / office / whatsapp
    client_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ticket_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    filed_by: Mapped[str] = mapped_column(String(200))
    consumer_number: Mapped[str] = mapped_column(String(12))
    mobile: Mapped[str] = mapped_column(String(10))
    complaint_type: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    office_code: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(30))
    level: Mapped[int] = mapped_column(Integer, default=0)
    # The standard of performance: the whole complaint's time limit, across escalations.
    sop_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    action_taken: Mapped[str | None] = mapped_column(Text, nullable=True)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating_remarks: Mapped[str | None] = mapped_column(String(500), nullable=True)
    compensation_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    compensation_receipt: Mapped[str | None] = mapped_column(String(40), nullable=True)
