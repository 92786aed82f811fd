"""The reference DBT scheme: notices recorded in ``ref_dbt_notification``, deduped by id."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Integer, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.dbt import SYSTEM, IDbtNotifier, KycChangeNotice
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up


class RefDbtNotification(ReferenceBase):
    __tablename__ = "ref_dbt_notification"

    notification_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    cursor: Mapped[str] = mapped_column(String(200), nullable=False)
    changed_count: Mapped[int] = mapped_column(Integer, nullable=False)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


@implementer(IDbtNotifier)
class ReferenceDbt:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceDbt:
        return cls(context.reference_store())

    def notify(self, notice: KycChangeNotice) -> None:
        ensure_up(self.engine, SYSTEM)
        try:
            with Session(self.engine) as session, session.begin():
                session.add(
                    RefDbtNotification(
                        notification_id=notice.notification_id,
                        scheme=notice.scheme,
                        cursor=notice.cursor,
                        changed_count=notice.changed_count,
                        as_of=notice.as_of,
                        received_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            with Session(self.engine) as session:
                if session.get(RefDbtNotification, notice.notification_id) is None:
                    raise

    def notices(self, scheme: str | None = None) -> list[KycChangeNotice]:
        query = select(RefDbtNotification).order_by(RefDbtNotification.received_at)
        if scheme is not None:
            query = query.where(RefDbtNotification.scheme == scheme)
        with Session(self.engine) as session:
            return [
                KycChangeNotice(r.notification_id, r.scheme, r.cursor, r.changed_count, r.as_of)
                for r in session.scalars(query)
            ]

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(RefDbtNotification.notification_id).limit(1))
