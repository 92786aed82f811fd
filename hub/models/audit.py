"""The append-only, hash-chained audit log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base

BigSeq = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """One state change or disclosure of personal data.

    ``hash`` = SHA-256 over ``prev_hash`` and the canonical JSON of the entry
    (seq included), so an edited, deleted or reordered row breaks the chain
    (:func:`hub.audit.verify_chain`). ``data`` is stored as the exact canonical
    JSON text that was hashed, so verification never depends on how a database
    re-renders JSON.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject", "subject_type", "subject_id", "seq"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )

    # Assigned by hub.audit under the chain lock, never by the database.
    seq: Mapped[int] = mapped_column(BigSeq, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(60), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(200), nullable=False)
    data_json: Mapped[str] = mapped_column(Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Not a unique index: seq is, and the hash covers seq (see migration 0014).
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    @property
    def data(self) -> Any:
        return json.loads(self.data_json)
