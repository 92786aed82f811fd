"""The reference mail server: records mails in ``ref_email_message`` instead of sending them.

Tests and the demo read what "was sent" with :meth:`ReferenceEmail.mails_to`. Switched down
(``connectors.reference_db.set_down(engine, "email")``) it refuses as a dead server would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.email import SYSTEM, IEmail, Mail
from connectors.errors import ConnectorRejected
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up


class RefEmailMessage(ReferenceBase):
    __tablename__ = "ref_email_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    to: Mapped[str] = mapped_column(String(254), nullable=False, index=True)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


@dataclass(frozen=True)
class SentMail:
    message_id: str
    to: str
    subject: str
    body: str
    idempotency_key: str


@implementer(IEmail)
class ReferenceEmail:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceEmail:
        return cls(context.reference_store())

    def send(self, mail: Mail, idempotency_key: str) -> str:
        ensure_up(self.engine, SYSTEM)
        mail = mail.checked()
        existing = self._by_key(idempotency_key)
        if existing is None:
            try:
                with Session(self.engine) as session, session.begin():
                    row = RefEmailMessage(
                        message_id=f"<{uuid.uuid4().hex}@reference.invalid>",
                        idempotency_key=idempotency_key,
                        to=mail.to,
                        subject=mail.subject,
                        body=mail.body,
                        sent_at=datetime.now(UTC),
                    )
                    session.add(row)
                    return row.message_id
            except IntegrityError:
                # Two workers raced on the same key: the other one sent it.
                existing = self._by_key(idempotency_key)
                if existing is None:
                    raise
        if (existing.to, existing.subject, existing.body) != (mail.to, mail.subject, mail.body):
            raise ConnectorRejected(
                "idempotency key reused for another mail", system=SYSTEM, code="idempotency_conflict"
            )
        return existing.message_id

    def mails_to(self, address: str) -> list[SentMail]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(RefEmailMessage).where(RefEmailMessage.to == address).order_by(RefEmailMessage.id)
            ).all()
            return [SentMail(r.message_id, r.to, r.subject, r.body, r.idempotency_key) for r in rows]

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)

    def _by_key(self, key: str) -> SentMail | None:
        with Session(self.engine) as session:
            r = session.scalars(select(RefEmailMessage).where(RefEmailMessage.idempotency_key == key)).first()
            return SentMail(r.message_id, r.to, r.subject, r.body, r.idempotency_key) if r else None
