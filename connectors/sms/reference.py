"""The reference SMS gateway: records messages in ``ref_sms_message`` instead of sending them.

Tests and the demo read what "was sent" (the OTP, the certificate link)
with :meth:`ReferenceSms.messages_to`. The same DLT checks as the real
client apply, so a template mistake shows up in development.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorRejected
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up
from connectors.sms import (
    SYSTEM,
    DltRegistration,
    ISmsGateway,
    SentSms,
    SmsEncoding,
    normalise_mobile,
    prepare,
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
class ReferenceSms:
    def __init__(self, engine: Engine, registration: DltRegistration) -> None:
        self.engine = engine
        self.registration = registration

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceSms:
        return cls(context.reference_store(), DltRegistration.from_options(context.options))

    def send(self, mobile: str, text: str, template: str, idempotency_key: str) -> str:
        ensure_up(self.engine, SYSTEM)
        req = prepare(self.registration, mobile, text, template, idempotency_key)
        existing = self._by_key(idempotency_key)
        if existing is not None:
            return self._same_or_conflict(existing, req.mobile, text)
        row = RefSmsMessage(
            message_id="REF" + uuid.uuid4().hex[:20].upper(),
            idempotency_key=idempotency_key,
            mobile=req.mobile,
            sender_id=req.sender_id,
            template_name=req.template.name,
            template_id=req.template.template_id,
            text=text,
            encoding=req.encoding.value,
            parts=req.parts,
            sent_at=datetime.now(UTC),
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
                message_id = row.message_id
        except IntegrityError:
            # Two workers raced on the same key: the other one sent it.
            existing = self._by_key(idempotency_key)
            if existing is None:
                raise
            return self._same_or_conflict(existing, req.mobile, text)
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

    @staticmethod
    def _same_or_conflict(existing: SentSms, mobile: str, text: str) -> str:
        if existing.mobile != mobile or existing.text != text:
            raise ConnectorRejected(
                "idempotency key reused for a different message", system=SYSTEM, code="idempotency_conflict"
            )
        return existing.message_id
