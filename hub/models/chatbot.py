"""The WhatsApp chatbot's memory: one conversation row per number, and the messages it answered.

A number has one row for good (its language is remembered); the step it is at, and what it
was asked so far, expire after the configured idle time. ``last_sent_at`` is the send time of
the newest message acted on, so a delivery older than it (out of order, or a replay after its
id was pruned) is never acted on and cannot rewind the conversation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow


class ChatConversation(Base):
    __tablename__ = "chatbot_conversations"

    wa_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), default="en")
    # Whether the consumer chose the language (else it follows the script they write in).
    language_chosen: Mapped[bool] = mapped_column(default=False)
    step: Mapped[str] = mapped_column(String(24), default="menu")
    # What the current step needs (chosen connection, complaint type, OTP challenge...): small, bounded.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_active_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A flood from one number: messages counted per minute, answered up to a limit.
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatMessageSeen(Base):
    """A message id acted on once: the same delivery again gets no second answer (pruned after days)."""

    __tablename__ = "chatbot_messages_seen"
    __table_args__ = (Index("ix_chatbot_messages_seen_seen_at", "seen_at"),)

    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    wa_id: Mapped[str] = mapped_column(String(20))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
