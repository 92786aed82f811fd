"""The reference WhatsApp Cloud API: records messages in the reference store instead of sending them.

It plays the platform for development, tests and benches:

* :meth:`ReferenceWhatsApp.send` records the body (the same wamid again for the same
  idempotency key: a retried delivery sends nothing twice) and :meth:`upload_media`
  records an upload's size and SHA-256 (not its bytes: a million bills are not kept twice);
* :meth:`ReferenceWhatsApp.take_status_webhook` makes the webhook body the platform would
  post next, with the statuses each recorded message has not reported yet: ``sent``,
  ``delivered``, ``read`` by default; ``failed`` (131026, undeliverable) for a number told
  ``fail``; only ``sent`` for a number told ``silent`` (never delivered: the hub's SMS
  fallback after the deadline); a send refused outright (HTTP 400) for ``reject``;
* :func:`set_behaviour` tells it so for one number or ``*`` (every number), with an optional
  delay per send (a slow platform); :func:`connectors.reference_db.set_down` makes it
  unreachable.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorRejected
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up
from connectors.whatsapp import SYSTEM, IWhatsApp
from connectors.whatsapp.wire import status_entry, status_webhook

BEHAVIOURS = ("deliver", "fail", "silent", "reject")
UNDELIVERABLE = 131026


class RefWhatsAppMessage(ReferenceBase):
    __tablename__ = "ref_whatsapp_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wamid: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    to: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    behaviour: Mapped[str] = mapped_column(String(10), nullable=False)
    # How far the statuses were reported: 0 none, then one per status taken.
    reported: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.body)
        return body


class RefWhatsAppMedia(ReferenceBase):
    __tablename__ = "ref_whatsapp_media"

    media_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    mime_type: Mapped[str] = mapped_column(String(80), nullable=False)
    filename: Mapped[str] = mapped_column(String(120), nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class RefWhatsAppBehaviour(ReferenceBase):
    __tablename__ = "ref_whatsapp_behaviour"

    wa_id: Mapped[str] = mapped_column(String(20), primary_key=True)  # or "*"
    behaviour: Mapped[str] = mapped_column(String(10), nullable=False)
    delay_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


def set_behaviour(engine: Engine, wa_id: str, behaviour: str, delay_ms: int = 0) -> None:
    """What the platform does with messages to ``wa_id`` (``*``: every number without its own)."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"behaviour is one of {', '.join(BEHAVIOURS)}")
    with Session(engine) as session, session.begin():
        row = session.get(RefWhatsAppBehaviour, wa_id)
        if row is None:
            session.add(RefWhatsAppBehaviour(wa_id=wa_id, behaviour=behaviour, delay_ms=delay_ms))
        else:
            row.behaviour, row.delay_ms = behaviour, delay_ms


def clear_behaviours(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.query(RefWhatsAppBehaviour).delete()


def _statuses_of(behaviour: str) -> tuple[str, ...]:
    if behaviour == "fail":
        return ("sent", "failed")
    if behaviour == "silent":
        return ("sent",)
    return ("sent", "delivered", "read")


@implementer(IWhatsApp)
class ReferenceWhatsApp:
    def __init__(self, engine: Engine, phone_number_id: str) -> None:
        self.engine = engine
        self.phone_number_id = phone_number_id
        self._behaviours_read = 0.0
        self._behaviours: dict[str, tuple[str, int]] = {}

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceWhatsApp:
        return cls(context.reference_store(), context.options.get("phone_number_id", "106540352242922"))

    def _behaviour(self, wa_id: str) -> tuple[str, int]:
        # Read at most once a second: a bill run sends thousands a second and the setting
        # changes only when a test or an operator says so.
        now = time.monotonic()
        if now - self._behaviours_read > 1.0:
            with Session(self.engine) as session:
                rows = session.scalars(select(RefWhatsAppBehaviour)).all()
                self._behaviours = {r.wa_id: (r.behaviour, r.delay_ms) for r in rows}
            self._behaviours_read = now
        return self._behaviours.get(wa_id) or self._behaviours.get("*") or ("deliver", 0)

    def forget_behaviours(self) -> None:
        """Read :func:`set_behaviour`'s table again at the next send (tests change it)."""
        self._behaviours_read = 0.0

    def upload_media(self, content: bytes, mime_type: str, filename: str) -> str:
        ensure_up(self.engine, SYSTEM)
        if not content:
            raise ConnectorRejected("empty media", system=SYSTEM, code="whatsapp_rejected")
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        with Session(self.engine) as session, session.begin():
            session.add(
                RefWhatsAppMedia(
                    media_id=media_id,
                    sha256=hashlib.sha256(content).hexdigest(),
                    size=len(content),
                    mime_type=mime_type,
                    filename=filename,
                    uploaded_at=datetime.now(UTC),
                )
            )
        return media_id

    def send(self, to: str, message: dict[str, Any], idempotency_key: str) -> str:
        ensure_up(self.engine, SYSTEM)
        if not idempotency_key or len(idempotency_key) > 120:
            raise ValueError("idempotency_key must be 1-120 characters")
        if message.get("messaging_product") != "whatsapp" or message.get("to") != to:
            raise ConnectorRejected("not a Cloud API message body", system=SYSTEM, code="whatsapp_rejected")
        # As the real client does: the key travels as the callback data the statuses echo.
        message = {**message, "biz_opaque_callback_data": idempotency_key}
        behaviour, delay_ms = self._behaviour(to)
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if behaviour == "reject":
            raise ConnectorRejected(
                "recipient refused by the platform", system=SYSTEM, code="whatsapp_rejected"
            )
        row = RefWhatsAppMessage(
            wamid="wamid.REF" + secrets.token_hex(12).upper(),
            idempotency_key=idempotency_key,
            to=to,
            kind=str(message.get("type")),
            body=json.dumps(message, ensure_ascii=False, separators=(",", ":")),
            behaviour=behaviour,
            reported=0,
            done=False,
            sent_at=datetime.now(UTC),
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
                return row.wamid
        except IntegrityError:
            # Sent before under this key (a retried delivery): the same message, nothing re-sent.
            with Session(self.engine) as session:
                existing = session.scalars(
                    select(RefWhatsAppMessage).where(RefWhatsAppMessage.idempotency_key == idempotency_key)
                ).first()
            if existing is None:
                raise
            if existing.to != to:
                raise ConnectorRejected(
                    "idempotency key reused for another number", system=SYSTEM, code="idempotency_conflict"
                ) from None
            return existing.wamid

    def messages_to(self, wa_id: str) -> list[RefWhatsAppMessage]:
        """Every message recorded for ``wa_id``, oldest first (tests and the demo read them)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                session.scalars(
                    select(RefWhatsAppMessage)
                    .where(RefWhatsAppMessage.to == wa_id)
                    .order_by(RefWhatsAppMessage.id)
                )
            )

    def take_status_webhook(
        self, limit: int = 500, steps: int = 3, wamids: Sequence[str] = ()
    ) -> bytes | None:
        """The next webhook body with up to ``steps`` further statuses of each message not yet
        done (only ``wamids`` if given), oldest first; None when nothing is left to report."""
        entries: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            query = select(RefWhatsAppMessage).where(RefWhatsAppMessage.done.is_(False))
            if wamids:
                query = query.where(RefWhatsAppMessage.wamid.in_(list(wamids)))
            for row in session.scalars(query.order_by(RefWhatsAppMessage.id).limit(limit)):
                statuses = _statuses_of(row.behaviour)
                callback = row.as_json().get("biz_opaque_callback_data")
                upto = min(len(statuses), row.reported + steps)
                for status in statuses[row.reported : upto]:
                    error = UNDELIVERABLE if status == "failed" else None
                    entries.append(status_entry(row.wamid, status, row.to, now, callback, error))
                session.execute(
                    update(RefWhatsAppMessage)
                    .where(RefWhatsAppMessage.id == row.id)
                    .values(reported=upto, done=upto >= len(statuses))
                )
        if not entries:
            return None
        return status_webhook(self.phone_number_id, entries)

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(RefWhatsAppMessage.id).limit(1))
