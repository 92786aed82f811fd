"""The WhatsApp channel as the hub keeps it: numbers with their consent, messages both ways, bill runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class WhatsAppNumber(Base):
    """A WhatsApp number (``91`` + ten digits) and its consent.

    ``consent`` is ``none`` (never asked: only replies inside the window), ``opted_in`` or
    ``opted_out``; the evidence of the last change (when, how, source) stays on the row and
    every change is in the audit log.
    """

    __tablename__ = "whatsapp_numbers"

    wa_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    consent: Mapped[str] = mapped_column(String(12))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # portal | app | office_form | whatsapp_keyword | ivrs ...: how the consumer said it.
    consent_how: Mapped[str | None] = mapped_column(String(30), nullable=True)
    # Who or what carries it: a client id, an officer, a message id.
    consent_source: Mapped[str | None] = mapped_column(String(120), nullable=True)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WhatsAppSubscription(Base):
    """A connection whose monthly bill goes to a number (billing's registered mobile)."""

    __tablename__ = "whatsapp_subscriptions"

    consumer_number: Mapped[str] = mapped_column(String(12), primary_key=True)
    wa_id: Mapped[str] = mapped_column(String(20))
    subscribed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_whatsapp_subscriptions_wa_id", "wa_id"),)


class WhatsAppInbound(Base):
    """A consumer's message as the webhook delivered it (once: the wamid is unique)."""

    __tablename__ = "whatsapp_inbound"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(256), unique=True)
    wa_id: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    choice_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_whatsapp_inbound_wa_id", "wa_id"),)


class WhatsAppOutbound(Base):
    """A message the hub sends or sent, and what became of it.

    ``key`` makes it exactly once: ``bill:<cycle>:<consumer>``, ``reply:<delivery>:<n>``, or the
    caller's key of :func:`hub.whatsapp.service.send_template`. ``status``: queued, accepted
    (the API took it), sent, delivered, read, failed, skipped (no consent when its turn came).
    ``fallback`` is the SMS sent instead if it fails or is not delivered by ``deadline_at``.
    """

    __tablename__ = "whatsapp_outbound"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    purpose: Mapped[str] = mapped_column(String(12))  # bill | template | reply
    wa_id: Mapped[str] = mapped_column(String(20))
    cycle: Mapped[str | None] = mapped_column(String(7), nullable=True)
    consumer_number: Mapped[str | None] = mapped_column(String(12), nullable=True)
    template: Mapped[str | None] = mapped_column(String(40), nullable=True)
    parameters: Mapped[Any] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    wamid: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # {"template": DLT name, "text": filled text}: what goes by SMS if WhatsApp does not arrive.
    fallback: Mapped[Any] = mapped_column(JSON, nullable=True)
    fell_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_whatsapp_outbound_cycle_status", "cycle", "status"),
        Index("ix_whatsapp_outbound_deadline", "status", "deadline_at"),
    )


class WhatsAppMedia(Base):
    """A document uploaded once and sent by its media id (``bill:<consumer>:<bill number>:<amount>``)."""

    __tablename__ = "whatsapp_media"

    document_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    media_id: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WhatsAppBillRun(Base):
    """A billing cycle's run: where it is (``cursor``: the last consumer number handed off)."""

    __tablename__ = "whatsapp_bill_runs"

    cycle: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    state: Mapped[str] = mapped_column(String(10))  # running | stopped | done
    cursor: Mapped[str] = mapped_column(String(12))
    handed_off: Mapped[int] = mapped_column(Integer)
    # Opted-in subscriptions when the run was started or last resumed (counted once, not per page).
    eligible: Mapped[int] = mapped_column(Integer)
    # Business-initiated messages handed off in the tier's current day (from day_started_at).
    day_count: Mapped[int] = mapped_column(Integer)
    day_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
