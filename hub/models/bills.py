"""Bills and payments: gateway orders for bills, payments from every channel, settlement lines."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow

Money = Numeric(12, 2)
BigId = BigInteger().with_variant(Integer(), "sqlite")


class PaymentState(StrEnum):
    # Recorded; the worker decides and posts it to billing.
    ACCEPTED = "accepted"
    # Decided to post (consumer and amount fixed): a retry only repeats billing's idempotent posting.
    POSTING = "posting"
    POSTED = "posted"
    # Held for an officer with a reason (short, excess, closed bill, late capture...).
    SUSPENSE = "suspense"
    REFUNDED = "refunded"


class BillPaymentOrder(Base):
    """A gateway order the hub opened for a consumer's bill; it expires (a later capture is suspense)."""

    __tablename__ = "bill_payment_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    consumer_number: Mapped[str] = mapped_column(String(12), index=True)
    bill_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    payment_url: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class BillPayment(Base):
    """One payment from one channel: (channel, transaction_id) is unique, so it is recorded once."""

    __tablename__ = "bill_payments"
    __table_args__ = (
        UniqueConstraint("channel", "transaction_id", name="uq_bill_payments_channel_transaction"),
        Index("ix_bill_payments_state", "state"),
        Index("ix_bill_payments_paid_on", "channel", "paid_on"),
        # A receipt read by billing's receipt number, within the partner's own channel.
        Index("ix_bill_payments_receipt_number", "channel", "receipt_number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))
    transaction_id: Mapped[str] = mapped_column(String(64))
    # The channel's own receipt id (the bill-payment platform's), kept for reconciliation.
    channel_receipt_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consumer_number: Mapped[str] = mapped_column(String(12), index=True)
    bill_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_at: Mapped[datetime]
    paid_on: Mapped[date] = mapped_column(Date)  # India date of paid_at: the settlement day
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_from: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))
    suspense_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # What billing is told: unique per payment, so billing posts it once whatever the retries.
    billing_reference: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    posted_to: Mapped[str | None] = mapped_column(String(12), nullable=True)
    receipt_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    posted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(12), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PaymentEvent(Base):
    """A channel's notification id seen once: a re-sent or replayed notification is recognised."""

    __tablename__ = "bill_payment_events"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReconciliationRun(Base):
    """One channel's settlement file for one day, matched against the hub and billing's ledger."""

    __tablename__ = "bill_reconciliation_runs"
    __table_args__ = (Index("ix_bill_reconciliation_runs_channel", "channel", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
    lines: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


# Staging for a run (emptied afterwards): plain tables, written and read in bulk by SQL only.
settlement_lines = Table(
    "bill_settlement_lines",
    Base.metadata,
    Column("run_id", Integer, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("transaction_id", String(64), nullable=False),
    Column("amount_paise", BigInteger, nullable=False),
    Index("ix_bill_settlement_lines_run_id", "run_id", "transaction_id"),
)
ledger_lines = Table(
    "bill_ledger_lines",
    Base.metadata,
    Column("run_id", Integer, nullable=False),
    Column("reference", String(64), nullable=False),
    Column("amount_paise", BigInteger, nullable=False),
    Index("ix_bill_ledger_lines_run_id", "run_id", "reference"),
)


class ReconciliationItem(Base):
    """One thing that did not match (office work until an officer closes it)."""

    __tablename__ = "bill_reconciliation_items"
    __table_args__ = (
        Index("ix_bill_reconciliation_items_run_id", "run_id", "category"),
        Index("ix_bill_reconciliation_items_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("bill_reconciliation_runs.id"))
    category: Mapped[str] = mapped_column(String(24))
    transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payment_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel_amount_paise: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    hub_amount_paise: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    billing_amount_paise: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # open (in the office's queue), closed (an officer's action), superseded (a later run of the
    # same channel and day holds the item's current standing)
    state: Mapped[str] = mapped_column(String(12), default="open")
    action: Mapped[str | None] = mapped_column(String(24), nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
