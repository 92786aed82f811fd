"""Outages on the network and the notices they cause, each notice written once by a unique key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, UTCDateTime
from hub.models.outbox import BigId


class Outage(Base):
    """A planned or unplanned outage of a substation, feeder or DT.

    ``group_id`` joins outages that are one event for the consumers (a feeder and its DT both
    down): notices are keyed by group, so a consumer below both is told once.
    """

    __tablename__ = "outages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(BigInteger)
    node_code: Mapped[str] = mapped_column(String(40))
    node_kind: Mapped[str] = mapped_column(String(12))
    office_code: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(10))  # planned | unplanned
    state: Mapped[str] = mapped_column(String(12))  # scheduled | open | restored | cancelled
    source: Mapped[str] = mapped_column(String(10))  # officer | scada | headend
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Planned: the end of the announced window; unplanned: the officer's or control room's estimate.
    expected_restoration_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason_en: Mapped[str] = mapped_column(String(200))
    reason_hi: Mapped[str] = mapped_column(String(200))
    updates: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_outages_node_state", "node_code", "state"),
        Index("ix_outages_state_office", "state", "office_code"),
        {"sqlite_autoincrement": True},
    )


class OutageSourceEvent(Base):
    """An event of SCADA or the head-end already applied: the same event id again changes nothing."""

    __tablename__ = "outage_source_events"

    source: Mapped[str] = mapped_column(String(10), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(12))  # outage | restoration
    node_code: Mapped[str] = mapped_column(String(40))
    outage_id: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutageNotice(Base):
    """One notice to one consumer on one channel: at most one per (consumer, group, channel, notice).

    ``notice`` is ``start``, ``update:<outage>:<n>``, ``restored`` or ``cancelled``; ``batch``
    names the fan-out that wrote it, so the outbox rows are made from exactly the rows it won.
    """

    __tablename__ = "outage_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consumer_number: Mapped[str] = mapped_column(String(12))
    group_id: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(20))
    notice: Mapped[str] = mapped_column(String(40))
    outage_id: Mapped[int] = mapped_column(BigInteger)
    batch: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("consumer_number", "group_id", "channel", "notice", name="uq_outage_notices_once"),
        Index("ix_outage_notices_outage", "outage_id"),
    )


class ConsumerContact(Base):
    """How billing says a consumer can be reached (mobile, e-mail), kept by the hub so that an
    outage's notices are written by one statement for every consumer below a node."""

    __tablename__ = "consumer_contacts"

    consumer_number: Mapped[str] = mapped_column(String(12), primary_key=True)
    mobile: Mapped[str | None] = mapped_column(String(10), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
