"""New-connection applications from the state single window, their documents, payments and incidents."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow

Money = Numeric(12, 2)
Load = Numeric(12, 3)


class ConnectionApplication(Base):
    """One application. ``status`` mirrors the workflow case's state; ``status_seq`` numbers
    the updates pushed to the single window (its ``sequence``)."""

    __tablename__ = "connection_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_no: Mapped[str] = mapped_column(String(40), unique=True)
    sw_application_id: Mapped[str] = mapped_column(String(64), unique=True)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[int] = mapped_column(Integer)
    form_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    acknowledgement: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_by: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))  # rest / soap
    enterprise_name: Mapped[str] = mapped_column(String(120))
    mobile: Mapped[str] = mapped_column(String(10))
    district: Mapped[str] = mapped_column(String(40))
    area_class: Mapped[str] = mapped_column(String(20))
    office_code: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    connected_load_kw: Mapped[Decimal] = mapped_column(Load)
    contract_demand_kva: Mapped[Decimal | None] = mapped_column(Load, nullable=True)
    supply_voltage: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(40))
    status_seq: Mapped[int] = mapped_column(Integer, default=0)
    statutory_days: Mapped[int] = mapped_column(Integer)
    query_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    demand_note_number: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    demand_amount: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    demand_lines: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    payment_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payment_url: Mapped[str | None] = mapped_column(String(300), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(nullable=True)
    sanction_letter_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consumer_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(nullable=True)
    delay_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    compensation_amount: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    compensation_receipt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConnectionDocument(Base):
    """A document of an application: bytes received inline or fetched once, hash verified."""

    __tablename__ = "connection_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("connection_applications.id"), index=True)
    doc_type: Mapped[str] = mapped_column(String(40))
    file_name: Mapped[str] = mapped_column(String(120))
    media_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConnectionPayment(Base):
    """A confirmed demand-note payment; the gateway's transaction id is unique (replays are refused)."""

    __tablename__ = "connection_payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("connection_applications.id"), index=True)
    gateway_txn_id: Mapped[str] = mapped_column(String(100), unique=True)
    order_id: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(20))


class ConnectionIncident(Base):
    """A refused input (bad hash, off-list URL, limits, signature, replay...), written outside the
    request's transaction so it survives the rollback that keeps the application unchanged."""

    __tablename__ = "connection_incidents"
    __table_args__ = (Index("ix_connection_incidents_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    operation: Mapped[str] = mapped_column(String(60))
    code: Mapped[str] = mapped_column(String(60))
    caller: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[str] = mapped_column(Text)
