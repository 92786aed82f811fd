"""Remote connect / disconnect commands to smart meters, one per (meter, payment)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class CommandStatus(StrEnum):
    REQUESTED = "requested"  # written; not yet accepted by the head-end
    ACCEPTED = "accepted"  # the head-end took it; waiting for its notification
    EXECUTED = "executed"  # the relay switched (final)
    FAILED = "failed"  # the head-end reported failure; retried after a backoff
    EXPIRED = "expired"  # no answer within the window and the relay did not switch; retried
    FIELD_VISIT = "field_visit"  # in the distribution centre's queue for a visit (final)
    WITHDRAWN = "withdrawn"  # a disconnection no longer due (the dues were paid before it) (final)

    @property
    def final(self) -> bool:
        return self in (CommandStatus.EXECUTED, CommandStatus.FIELD_VISIT, CommandStatus.WITHDRAWN)


class MeterCommand(Base):
    """One remote command. ``transaction_id`` is the unique, idempotency and head-end key.

    A disconnection carries billing's order (``DC-<consumer>-<order>``, no payment).
    A reconnection carries the payment that cleared the dues; the unique
    ``(meter_no, payment_id)`` makes a second delivery of the same payment find
    this row instead of commanding again. Each attempt goes to the head-end as
    ``{transaction_id}.{attempt}``.
    """

    __tablename__ = "meter_commands"
    __table_args__ = (
        UniqueConstraint("meter_no", "payment_id", name="uq_meter_commands_meter_no_payment_id"),
        Index("ix_meter_commands_status_next_check_at", "status", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(String(40), unique=True)
    consumer_number: Mapped[str] = mapped_column(String(12), index=True)
    meter_no: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(12))  # connect / disconnect
    payment_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str] = mapped_column(String(200))
    # A disconnection: the day the written notice was served (section 56 needs 15 clear days).
    notice_served_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the watcher next looks: the window's end (accepted) or the next retry (failed / expired).
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dc_code: Mapped[str] = mapped_column(String(16))
    mobile: Mapped[str] = mapped_column(String(10))
    failure_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    last_notification_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
