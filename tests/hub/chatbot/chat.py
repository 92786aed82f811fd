"""Driving the chatbot the way the WhatsApp channel does: one Incoming at a time, replies back.

Reusable by the end-to-end test through signed webhooks: :func:`incoming` builds the message
the webhook would store, and :class:`Chat` takes any ``transport`` (an Incoming in, the replies
the consumer would see out); the default one calls :func:`hub.chatbot.converse` directly.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from connectors.whatsapp.messages import Choice, Incoming, IncomingKind, Reply
from hub.chatbot import converse
from hub.models.meta import utcnow

Transport = Callable[[Incoming], list[Reply]]
_serial = itertools.count(1)


def message_id() -> str:
    """A Cloud API message id (``wamid.`` and an opaque tail), new each call."""
    return f"wamid.HBgM{secrets.token_hex(16)}{next(_serial):06d}"


def incoming(
    wa_id: str,
    text: str | None = None,
    *,
    choice: str | None = None,
    kind: IncomingKind | None = None,
    sent_at: datetime | None = None,
    mid: str | None = None,
) -> Incoming:
    """A text (``text``), a tap (``choice``, with ``text`` its title) or another kind of message."""
    if kind is None:
        kind = IncomingKind.INTERACTIVE if choice is not None else IncomingKind.TEXT
    return Incoming(
        wa_id=wa_id,
        message_id=mid or message_id(),
        kind=kind,
        sent_at=sent_at or utcnow(),
        text=text,
        choice_id=choice,
    )


def direct(registry: Any) -> Transport:
    """converse() as the worker calls it, the clock at the message's send time (no queue delay)."""
    return lambda message: converse(registry, message, now=message.sent_at)


class Chat:
    """One WhatsApp number's side of the conversation; each message ``step`` after the last
    (a person types a message in a few seconds; a flood is faster)."""

    def __init__(
        self,
        transport: Transport,
        wa_id: str,
        start: datetime | None = None,
        step: timedelta = timedelta(seconds=5),
    ) -> None:
        self.transport = transport
        self.step = step
        self.wa_id = wa_id
        self.clock = start or utcnow()
        self.last: list[Reply] = []
        self.sent: list[Incoming] = []

    def _next(self) -> datetime:
        self.clock += self.step
        return self.clock

    def deliver(self, message: Incoming) -> list[Reply]:
        self.sent.append(message)
        self.last = self.transport(message)
        return self.last

    def say(self, text: str) -> list[Reply]:
        return self.deliver(incoming(self.wa_id, text, sent_at=self._next()))

    def tap(self, choice_id: str) -> list[Reply]:
        """Tap the button or row ``choice_id`` of the last replies (it must have been offered)."""
        offered = {c.id: c for c in choices(self.last)}
        assert choice_id in offered, f"{choice_id} not offered: {sorted(offered)}"
        return self.deliver(
            incoming(self.wa_id, offered[choice_id].title, choice=choice_id, sent_at=self._next())
        )

    def forge(self, choice_id: str, title: str = "x") -> list[Reply]:
        """A tap on something never offered (a crafted webhook payload)."""
        return self.deliver(incoming(self.wa_id, title, choice=choice_id, sent_at=self._next()))

    def send(self, kind: IncomingKind, text: str | None = None) -> list[Reply]:
        return self.deliver(incoming(self.wa_id, text, kind=kind, sent_at=self._next()))


def choices(replies: Sequence[Reply]) -> list[Choice]:
    return [c for r in replies for c in (*r.buttons, *r.rows)]


def said(replies: Sequence[Reply]) -> str:
    """Everything the consumer would read: texts, captions, button and row titles, file names."""
    parts: list[str] = []
    for reply in replies:
        parts.append(reply.text)
        parts += [f"{c.title} {c.description}" for c in (*reply.buttons, *reply.rows)]
        if reply.document is not None:
            parts.append(reply.document.filename)
    return "\n".join(parts)


def documents(replies: Sequence[Reply]) -> list[tuple[str, str]]:
    return [(r.document.kind, r.document.key) for r in replies if r.document is not None]
