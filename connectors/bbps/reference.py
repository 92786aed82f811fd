"""The reference bill-payment platform: its transactions in ``ref_bbps_txn``, its reconciliation
file built from them as the operating unit builds it.

A consumer pays the discom's bill in a platform app (:meth:`ReferenceBbps.pay`); the platform
keeps the transaction and notifies the biller (:meth:`ReferenceBbps.notification` is that
notification's body, which a test or the demo posts to the hub as the platform would). A
transaction can fail or be reversed later (:meth:`ReferenceBbps.reverse`). Once an India day is
over and ``settlement_delay_hours`` more have passed (default 0), its file is ready
(:meth:`ReferenceBbps.recon_file`); switched down (``connectors.reference_db.set_down``) the
platform answers nothing.

Settings (under ``hub.bbps.``): ``biller_id``, ``settlement_delay_hours``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, String, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from connectors.base import ConnectorContext
from connectors.bbps import (
    DEFAULT_BILLER_ID,
    RECON_HEADER,
    SYSTEM,
    read_recon_file,
    recon_line,
    trailer_line,
)
from connectors.errors import NotFound
from connectors.payment import to_paise
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up
from connectors.settlement import IST, day_bounds, refuse_unsettled


class RefBbpsTxn(ReferenceBase):
    __tablename__ = "ref_bbps_txn"

    txn_ref_id: Mapped[str] = mapped_column(String(35), primary_key=True)
    receipt_id: Mapped[str] = mapped_column(String(35), nullable=False, unique=True)
    consumer_number: Mapped[str] = mapped_column(String(12), nullable=False)
    bill_number: Mapped[str] = mapped_column(String(64), nullable=False)
    amount_paise: Mapped[int] = mapped_column(BigInteger, nullable=False)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    payment_channel: Mapped[str] = mapped_column(String(5), nullable=False)


class ReferenceBbps:
    def __init__(self, engine: Engine, biller_id: str, settlement_delay: timedelta = timedelta(0)) -> None:
        self.engine = engine
        self.biller_id = biller_id
        self.settlement_delay = settlement_delay

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceBbps:
        return cls(
            context.reference_store(),
            context.option("biller_id", DEFAULT_BILLER_ID),
            timedelta(hours=context.float_option("settlement_delay_hours", 0.0)),
        )

    def pay(
        self,
        consumer_number: str,
        bill_number: str,
        amount: Decimal,
        *,
        at: datetime | None = None,
        status: str = "SUCCESS",
        payment_channel: str = "MOB",
    ) -> str:
        """A consumer's payment on the platform; its transaction reference id."""
        ensure_up(self.engine, SYSTEM)
        paid_at = at or datetime.now(UTC)
        stamp = paid_at.astimezone(IST).strftime("%y%m%d")
        txn = RefBbpsTxn(
            txn_ref_id=f"CC01{stamp}{secrets.token_hex(5).upper()}",
            receipt_id=f"BR{stamp}{secrets.token_hex(6).upper()}",
            consumer_number=consumer_number,
            bill_number=bill_number,
            amount_paise=to_paise(amount),
            paid_at=paid_at,
            status=status,
            payment_channel=payment_channel,
        )
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(txn)
        return txn.txn_ref_id

    def reverse(self, txn_ref_id: str) -> None:
        """The platform refunds a successful transaction to the payer (it is then not settled)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(RefBbpsTxn).where(RefBbpsTxn.txn_ref_id == txn_ref_id).values(status="REVERSED")
            ).rowcount
        if not changed:
            raise NotFound(f"no transaction {txn_ref_id}", system=SYSTEM)

    def notification(self, txn_ref_id: str) -> dict[str, Any]:
        """The payment notification the platform sends the biller (the hub's ``bbps`` channel)."""
        with Session(self.engine) as session:
            txn = session.get(RefBbpsTxn, txn_ref_id)
            if txn is None:
                raise NotFound(f"no transaction {txn_ref_id}", system=SYSTEM)
            return {
                "transaction_id": txn.txn_ref_id,
                "receipt_id": txn.receipt_id,
                "consumer_number": txn.consumer_number,
                "bill_number": txn.bill_number,
                "amount": f"{txn.amount_paise // 100}.{txn.amount_paise % 100:02d}",
                "paid_at": txn.paid_at.astimezone(IST).isoformat(),
            }

    def recon_file(self, day: date, now: datetime | None = None) -> Iterator[str]:
        """The biller's reconciliation file of ``day``, line by line, as the operating unit serves it."""
        ensure_up(self.engine, SYSTEM)
        refuse_unsettled(SYSTEM, day, self.settlement_delay, now)
        start, end = day_bounds(day)
        with Session(self.engine) as session:
            rows = session.scalars(
                select(RefBbpsTxn)
                .where(RefBbpsTxn.paid_at >= start, RefBbpsTxn.paid_at < end)
                .order_by(RefBbpsTxn.paid_at, RefBbpsTxn.txn_ref_id)
            ).all()
        yield RECON_HEADER
        settled = 0
        for row in rows:
            if row.status == "SUCCESS":
                settled += row.amount_paise
            yield recon_line(
                row.txn_ref_id,
                self.biller_id,
                row.consumer_number,
                row.bill_number,
                row.amount_paise,
                row.paid_at,
                row.status,
                row.payment_channel,
            )
        yield trailer_line(len(rows), settled)

    def settlement_report(self, day: date, now: datetime | None = None) -> Iterator[str]:
        return read_recon_file(self.recon_file(day, now), day, self.biller_id)

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(func.count()).select_from(RefBbpsTxn).where(RefBbpsTxn.txn_ref_id == ""))
