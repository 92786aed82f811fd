"""The reference citizen-services portal: its transactions in ``ref_portal_txn``, its settlement
statement paged from them as the portal serves it.

A citizen pays the discom's bill on the portal (:meth:`ReferencePortal.pay`); the portal keeps
the transaction and sends the discom its payment advice (:meth:`ReferencePortal.advice` is that
advice's body, which a test or the demo posts to the hub as the portal would). A payment can be
refunded later (:meth:`ReferencePortal.refund`). Once an India day is over and
``settlement_delay_hours`` more have passed (default 0), its statement is ready
(:meth:`ReferencePortal.statement_page`, ``page_size`` records a page, default 500); switched down
(``connectors.reference_db.set_down``) the portal answers nothing.

Settings (under ``hub.citizen_portal.``): ``dept_code``, ``page_size``, ``settlement_delay_hours``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, String, case, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from connectors.base import ConnectorContext
from connectors.citizen_portal import DEFAULT_DEPT_CODE, SYSTEM, read_statement, statement_date
from connectors.errors import NotFound
from connectors.payment import to_paise
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up
from connectors.settlement import IST, day_bounds, refuse_unsettled


class RefPortalTxn(ReferenceBase):
    __tablename__ = "ref_portal_txn"

    cs_txn_no: Mapped[str] = mapped_column(String(30), primary_key=True)
    ivrs_no: Mapped[str] = mapped_column(String(12), nullable=False)
    bill_no: Mapped[str] = mapped_column(String(64), nullable=False)
    amount_paise: Mapped[int] = mapped_column(BigInteger, nullable=False)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False)


class ReferencePortal:
    def __init__(
        self, engine: Engine, dept_code: str, page_size: int = 500, settlement_delay: timedelta = timedelta(0)
    ) -> None:
        if page_size < 1:
            raise ValueError(f"connector {SYSTEM}: page_size must be positive")
        self.engine = engine
        self.dept_code = dept_code
        self.page_size = page_size
        self.settlement_delay = settlement_delay

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferencePortal:
        return cls(
            context.reference_store(),
            context.option("dept_code", DEFAULT_DEPT_CODE),
            int(context.float_option("page_size", 500)),
            timedelta(hours=context.float_option("settlement_delay_hours", 0.0)),
        )

    def pay(self, ivrs_no: str, bill_no: str, amount: Decimal, *, at: datetime | None = None) -> str:
        """A citizen's payment on the portal; its transaction number."""
        ensure_up(self.engine, SYSTEM)
        paid_at = at or datetime.now(UTC)
        txn = RefPortalTxn(
            cs_txn_no=f"CS{paid_at.astimezone(IST).strftime('%y%m%d')}{secrets.token_hex(5).upper()}",
            ivrs_no=ivrs_no,
            bill_no=bill_no,
            amount_paise=to_paise(amount),
            paid_at=paid_at,
            status="SUCCESS",
        )
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(txn)
        return txn.cs_txn_no

    def refund(self, cs_txn_no: str) -> None:
        """The portal returns a payment to the citizen (it is then not settled)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(RefPortalTxn).where(RefPortalTxn.cs_txn_no == cs_txn_no).values(status="REFUNDED")
            ).rowcount
        if not changed:
            raise NotFound(f"no transaction {cs_txn_no}", system=SYSTEM)

    def advice(self, cs_txn_no: str) -> dict[str, Any]:
        """The payment advice the portal sends the discom (the hub's ``portal`` channel)."""
        with Session(self.engine) as session:
            txn = session.get(RefPortalTxn, cs_txn_no)
            if txn is None:
                raise NotFound(f"no transaction {cs_txn_no}", system=SYSTEM)
            return {
                "cs_txn_no": txn.cs_txn_no,
                "ivrs_no": txn.ivrs_no,
                "bill_no": txn.bill_no,
                "amount_paise": txn.amount_paise,
                "txn_datetime": txn.paid_at.astimezone(IST).isoformat(),
            }

    def statement_page(self, day: date, page: int, now: datetime | None = None) -> dict[str, Any]:
        """One page of ``day``'s settlement statement, as the portal answers it. NotFound past the last page."""
        ensure_up(self.engine, SYSTEM)
        refuse_unsettled(SYSTEM, day, self.settlement_delay, now)
        start, end = day_bounds(day)
        of_day = (RefPortalTxn.paid_at >= start, RefPortalTxn.paid_at < end)
        with Session(self.engine) as session:
            count, settled = session.execute(
                select(
                    func.count(),
                    func.coalesce(
                        func.sum(
                            case((RefPortalTxn.status == "SUCCESS", RefPortalTxn.amount_paise), else_=0)
                        ),
                        0,
                    ),
                ).where(*of_day)
            ).one()
            pages = max(1, -(-count // self.page_size))
            if not 1 <= page <= pages:
                raise NotFound(f"no page {page}", system=SYSTEM)
            rows = session.scalars(
                select(RefPortalTxn)
                .where(*of_day)
                .order_by(RefPortalTxn.paid_at, RefPortalTxn.cs_txn_no)
                .offset((page - 1) * self.page_size)
                .limit(self.page_size)
            ).all()
        return {
            "dept_code": self.dept_code,
            "date": statement_date(day),
            "page": page,
            "pages": pages,
            "total_records": count,
            "total_amount_paise": int(settled),
            "records": [
                {
                    "cs_txn_no": row.cs_txn_no,
                    "ivrs_no": row.ivrs_no,
                    "bill_no": row.bill_no,
                    "amount_paise": row.amount_paise,
                    "txn_datetime": row.paid_at.astimezone(IST).isoformat(),
                    "status": row.status,
                }
                for row in rows
            ],
        }

    def settlement_report(self, day: date, now: datetime | None = None) -> Iterator[str]:
        return read_statement(lambda page: self.statement_page(day, page, now), day, self.dept_code)

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(func.count()).select_from(RefPortalTxn).where(RefPortalTxn.cs_txn_no == ""))
