"""The transactional outbox: side effects written in the same transaction as the change that causes them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    PARKED = "parked"


class OutboxMessage(Base):
    """One side effect to perform after a commit (an SMS, a callback, a meter command).

    ``key`` orders deliveries: messages sharing a key are delivered strictly in
    id order, and one that is parked holds back the later ones until an
    operator retries it (a status callback must never overtake an earlier one).
    A message without a key has no ordering constraint.

    ``claimed_until``/``claim_token`` are the worker's lease: a worker that is
    killed mid-delivery leaves the lease behind, and the sweep hands the
    message to another worker once it expires.
    """

    __tablename__ = "outbox_messages"
    # AUTOINCREMENT: SQLite must never reuse an id (the id is the receivers'
    # deduplication key, and pruning delivered rows must not recycle it).
    __table_args__ = (
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_messages_key_id", "key", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(60), nullable=False)
    key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def delivery_id(self) -> str:
        """The id receivers deduplicate on: stable across every retry of this message."""
        return f"hub-outbox-{self.id}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "kind": self.kind,
            "key": self.key,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }
