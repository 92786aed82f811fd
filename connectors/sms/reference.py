"""The reference SMS gateway: records messages in ``ref_sms_message`` instead of sending them.

Tests and the demo read what "was sent" (the OTP, the certificate link)
with :meth:`ReferenceSms.messages_to`. The same DLT checks as the real
client apply, so a template mistake shows up in development.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorError, ConnectorRejected
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up
from connectors.sms import (
    SYSTEM,
    DltRegistration,
    ISmsGateway,
    OneMessage,
    SentSms,
    Sms,
    SmsEncoding,
    SmsRequest,
    normalise_mobile,
    prepare_many,
)


class RefSmsMessage(ReferenceBase):
    __tablename__ = "ref_sms_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    mobile: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    sender_id: Mapped[str] = mapped_column(String(6), nullable=False)
    template_name: Mapped[str] = mapped_column(String(40), nullable=False)
    template_id: Mapped[str] = mapped_column(String(30), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    encoding: Mapped[str] = mapped_column(String(10), nullable=False)
    parts: Mapped[int] = mapped_column(Integer, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    def as_sent(self) -> SentSms:
        return SentSms(
            message_id=self.message_id,
            mobile=self.mobile,
            text=self.text,
            template_name=self.template_name,
            template_id=self.template_id,
            sender_id=self.sender_id,
            encoding=SmsEncoding(self.encoding),
            parts=self.parts,
            idempotency_key=self.idempotency_key,
            sent_at=self.sent_at,
        )


@implementer(ISmsGateway)
class ReferenceSms(OneMessage):
    def __init__(self, engine: Engine, registration: DltRegistration) -> None:
        self.engine = engine
        self.registration = registration

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceSms:
        return cls(context.reference_store(), DltRegistration.from_options(context.options))

    def send_many(self, messages: Sequence[Sms]) -> dict[str, str | ConnectorError]:
        ensure_up(self.engine, SYSTEM)
        ready, results = prepare_many(self.registration, messages)
        if not ready:
            return results
        try:
            with Session(self.engine) as session, session.begin():
                sent = {
                    row.idempotency_key: row.as_sent()
                    for row in session.scalars(
                        select(RefSmsMessage).where(
                            RefSmsMessage.idempotency_key.in_([req.idempotency_key for req in ready])
                        )
                    )
                }
                for req in ready:
                    existing = sent.get(req.idempotency_key)
                    if existing is not None:
                        results[req.idempotency_key] = _same_or_conflict(existing, req)
                        continue
                    row = _row(req)
                    session.add(row)
                    results[req.idempotency_key] = row.message_id
        except IntegrityError:
            # Another worker sent one of them meanwhile: each is sent on its own.
            return results | {req.idempotency_key: self._send_one(req) for req in ready}
        return results

    def _send_one(self, req: SmsRequest) -> str | ConnectorError:
        existing = self._by_key(req.idempotency_key)
        if existing is not None:
            return _same_or_conflict(existing, req)
        row = _row(req)
        message_id = row.message_id  # the row is expired once its session commits
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            # Two workers raced on the same key: the other one sent it.
            existing = self._by_key(req.idempotency_key)
            if existing is None:
                raise
            return _same_or_conflict(existing, req)
        return message_id

    def messages_to(self, mobile: str) -> list[SentSms]:
        """Every message recorded for ``mobile``, oldest first (tests and demo read OTPs here)."""
        number = normalise_mobile(mobile)
        with Session(self.engine) as session:
            rows = session.scalars(
                select(RefSmsMessage).where(RefSmsMessage.mobile == number).order_by(RefSmsMessage.id)
            ).all()
            return [row.as_sent() for row in rows]

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(RefSmsMessage.id).limit(1))

    def _by_key(self, key: str) -> SentSms | None:
        with Session(self.engine) as session:
            row = session.scalars(select(RefSmsMessage).where(RefSmsMessage.idempotency_key == key)).first()
            return row.as_sent() if row else None


def _row(req: SmsRequest) -> RefSmsMessage:
    return RefSmsMessage(
        message_id="REF" + uuid.uuid4().hex[:20].upper(),
        idempotency_key=req.idempotency_key,
        mobile=req.mobile,
        sender_id=req.sender_id,
        template_name=req.template.name,
        template_id=req.template.template_id,
        text=req.text,
        encoding=req.encoding.value,
        parts=req.parts,
        sent_at=datetime.now(UTC),
    )


def _same_or_conflict(existing: SentSms, req: SmsRequest) -> str | ConnectorError:
    """A key asked again: the message sent then, or a conflict if it named another message."""
    if existing.mobile != req.mobile or existing.text != req.text:
        return ConnectorRejected(
            "idempotency key reused for a different message", system=SYSTEM, code="idempotency_conflict"
        )
    return existing.message_id
