"""The reference single-window portal: deliveries recorded in ``ref_sw_delivery``, deduped by id.

In-process, so nothing is signed; the wire format and signatures are
exercised by :mod:`connectors.singlewindow.client` against the fake portal
in ``tests/connectors/fake_singlewindow.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up
from connectors.singlewindow import SYSTEM, DeliveryReceipt, ISingleWindowCallback, StatusUpdate


class RefSwDelivery(ReferenceBase):
    __tablename__ = "ref_sw_delivery"

    delivery_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    application_no: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(60), nullable=False)
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    remarks: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    def as_update(self) -> StatusUpdate:
        return StatusUpdate(
            delivery_id=self.delivery_id,
            application_id=self.application_id,
            application_no=self.application_no,
            status=self.status,
            sequence=self.sequence,
            occurred_at=self.occurred_at,
            remarks=self.remarks,
            details=json.loads(self.details),
        )


@implementer(ISingleWindowCallback)
class ReferenceSingleWindow:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceSingleWindow:
        return cls(context.reference_store())

    def deliver(self, update: StatusUpdate) -> DeliveryReceipt:
        ensure_up(self.engine, SYSTEM)
        row = RefSwDelivery(
            delivery_id=update.delivery_id,
            application_id=update.application_id,
            application_no=update.application_no,
            status=update.status,
            sequence=update.sequence,
            occurred_at=update.occurred_at,
            remarks=update.remarks,
            details=json.dumps(dict(update.details), ensure_ascii=False, sort_keys=True),
            received_at=datetime.now(UTC),
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            with Session(self.engine) as session:
                if session.get(RefSwDelivery, update.delivery_id) is None:
                    raise
            return DeliveryReceipt(update.delivery_id, duplicate=True)
        return DeliveryReceipt(update.delivery_id, duplicate=False)

    def received(self, application_id: str | None = None) -> list[StatusUpdate]:
        """What the portal has received (per application: in sequence order)."""
        query = select(RefSwDelivery).order_by(
            RefSwDelivery.application_id, RefSwDelivery.sequence, RefSwDelivery.received_at
        )
        if application_id is not None:
            query = query.where(RefSwDelivery.application_id == application_id)
        with Session(self.engine) as session:
            return [row.as_update() for row in session.scalars(query)]

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(RefSwDelivery.delivery_id).limit(1))
