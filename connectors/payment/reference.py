"""The reference payment gateway: orders in ``ref_payment_order``, callbacks signed like the real one.

A payer pays on the checkout page at ``payment_url`` (served by the hub while this backend is
configured: hub/reference_checkout.py); the gateway then marks the order paid
(:meth:`ReferencePayment.complete_order`) and POSTs the signed callback (raw body + headers) to
the merchant's webhook, server to server (:meth:`ReferencePayment.notify`). Tests may call
``complete_order`` directly and post the callback themselves.

Its settlement report of a day (:meth:`ReferencePayment.settlement_report`) lists the orders
paid that India day, from its own table, once the day is over and ``settlement_delay_hours``
more have passed (default 0; a test may set ``settlement_delay`` to hold it back); switched
down (``connectors.reference_db.set_down``) it answers nothing.

Settings (under ``hub.payment.``): ``callback_secret`` (+ ``_previous``,
``callback_tolerance``), ``checkout_url`` (where ``payment_url`` points;
default ``http://127.0.0.1:6543/reference/pay``), ``callback_url`` (the hub's payment
webhook the checkout page notifies; empty: the page pays but notifies no one) and
``settlement_delay_hours``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import BigInteger, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorRejected, NotFound
from connectors.payment import (
    SYSTEM,
    CallbackVerifier,
    IPaymentGateway,
    OrderStatus,
    PaymentConfirmation,
    PaymentOrder,
    PaymentStatus,
    SignedCallback,
    callback_body,
    check_reference,
    from_paise,
    parse_callback,
    sign_callback,
    to_paise,
)
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up
from connectors.settlement import (
    IST,
    SETTLEMENT_HEADER,
    day_bounds,
    refuse_unsettled,
    settlement_line,
)


class RefPaymentOrder(ReferenceBase):
    __tablename__ = "ref_payment_order"

    order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    amount_paise: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    gateway_txn_id: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)
    notify_url: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


@implementer(IPaymentGateway)
class ReferencePayment:
    def __init__(
        self,
        engine: Engine,
        verifier: CallbackVerifier,
        checkout_url: str,
        callback_url: str = "",
        settlement_delay: timedelta = timedelta(0),
    ) -> None:
        self.engine = engine
        self.verifier = verifier
        self.checkout_url = checkout_url.rstrip("/")
        self.callback_url = callback_url
        self.settlement_delay = settlement_delay

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferencePayment:
        return cls(
            context.reference_store(),
            CallbackVerifier.from_context(context),
            context.option("checkout_url", "http://127.0.0.1:6543/reference/pay"),
            context.option("callback_url", ""),
            timedelta(hours=context.float_option("settlement_delay_hours", 0.0)),
        )

    def _order(self, row: RefPaymentOrder) -> PaymentOrder:
        return PaymentOrder(
            order_id=row.order_id,
            reference=row.reference,
            amount=from_paise(row.amount_paise),
            currency=row.currency,
            status=OrderStatus(row.status),
            payment_url=f"{self.checkout_url}/{row.order_id}",
        )

    def create_order(
        self, amount: Decimal, reference: str, description: str, notify_url: str | None = None
    ) -> PaymentOrder:
        ensure_up(self.engine, SYSTEM)
        paise = to_paise(amount)
        check_reference(reference)
        existing = self._by_reference(reference)
        if existing is None:
            row = RefPaymentOrder(
                order_id="order_" + uuid.uuid4().hex[:18],
                reference=reference,
                amount_paise=paise,
                currency="INR",
                description=description[:200],
                status=OrderStatus.CREATED.value,
                notify_url=notify_url,
                created_at=datetime.now(UTC),
            )
            try:
                with Session(self.engine, expire_on_commit=False) as session, session.begin():
                    session.add(row)
                return self._order(row)
            except IntegrityError:
                existing = self._by_reference(reference)
                if existing is None:
                    raise
        if existing.amount != from_paise(paise):
            raise ConnectorRejected(
                "reference already has an order for another amount", system=SYSTEM, code="order_conflict"
            )
        return existing

    def get_order(self, order_id: str) -> PaymentOrder:
        ensure_up(self.engine, SYSTEM)
        with Session(self.engine) as session:
            row = session.get(RefPaymentOrder, order_id)
            if row is None:
                raise NotFound("no such order", system=SYSTEM)
            return self._order(row)

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> PaymentConfirmation:
        return self.verifier.verify(body, headers)

    def complete_order(
        self,
        order_id: str,
        *,
        status: PaymentStatus = PaymentStatus.SUCCESS,
        amount: Decimal | None = None,
        at: datetime | None = None,
        signed_at: int | None = None,
    ) -> SignedCallback:
        """Pay (or fail) an order as a payer would, and return the gateway's signed callback.

        ``amount`` overrides the amount in the callback (to test the hub's
        amount check); ``signed_at`` overrides the signing time (to test staleness).
        """
        paid_at = at or datetime.now(UTC)
        txn_id = "pay_" + uuid.uuid4().hex[:18]
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(RefPaymentOrder, order_id, with_for_update=True)
            if row is None:
                raise NotFound("no such order", system=SYSTEM)
            if row.status == OrderStatus.PAID.value:
                # A second attempt on a paid order: the gateway re-sends the same confirmation.
                assert row.gateway_txn_id is not None and row.paid_at is not None
                txn_id, paid_at = row.gateway_txn_id, row.paid_at
                status = PaymentStatus.SUCCESS
            elif status is PaymentStatus.SUCCESS:
                row.status, row.gateway_txn_id, row.paid_at = OrderStatus.PAID.value, txn_id, paid_at
            else:
                row.status = OrderStatus.FAILED.value
            order = self._order(row)
        if amount is not None:
            order = PaymentOrder(
                order.order_id, order.reference, amount, order.currency, order.status, order.payment_url
            )
        body = callback_body(order, status, txn_id, paid_at)
        return sign_callback(self.verifier.secrets[0], body, signed_at)

    def notify(self, callback: SignedCallback, attempts: int = 3) -> int:
        """POST the signed callback to the order's ``notify_url``, or else the merchant's webhook
        (``callback_url``), server to server, as a gateway does after a payment; a failed delivery
        is tried again a few times. Returns the webhook's last HTTP status (0: it could not be reached)."""
        with Session(self.engine) as session:
            url = session.scalar(
                select(RefPaymentOrder.notify_url).where(
                    RefPaymentOrder.order_id == parse_callback(callback.body).order_id
                )
            )
        url = url or self.callback_url
        if not url:
            raise ConnectorRejected("no callback_url is configured", system=SYSTEM, code="no_callback_url")
        status = 0
        for attempt in range(attempts):
            try:
                answer = httpx.post(
                    url,
                    content=callback.body,
                    headers={**callback.headers, "Content-Type": "application/json"},
                    timeout=httpx.Timeout(10.0, connect=2.0),
                )
                status = answer.status_code
                if status < 500:
                    return status
            except httpx.HTTPError:
                status = 0
            time.sleep(0.2 * (attempt + 1))
        return status

    def settlement_report(self, day: date, now: datetime | None = None) -> Iterator[str]:
        ensure_up(self.engine, SYSTEM)
        refuse_unsettled(SYSTEM, day, self.settlement_delay, now)
        start, end = day_bounds(day)
        with Session(self.engine) as session:
            rows = session.execute(
                select(RefPaymentOrder.order_id, RefPaymentOrder.amount_paise, RefPaymentOrder.paid_at)
                .where(
                    RefPaymentOrder.status == OrderStatus.PAID.value,
                    RefPaymentOrder.paid_at >= start,
                    RefPaymentOrder.paid_at < end,
                )
                .order_by(RefPaymentOrder.paid_at, RefPaymentOrder.order_id)
            ).all()
        yield SETTLEMENT_HEADER
        for order_id, paise, paid_at in rows:
            assert paid_at is not None  # a paid order has its time
            yield settlement_line(order_id, paise, paid_at.astimezone(IST).date())

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(RefPaymentOrder.order_id).limit(1))

    def _by_reference(self, reference: str) -> PaymentOrder | None:
        with Session(self.engine) as session:
            row = session.scalars(
                select(RefPaymentOrder).where(RefPaymentOrder.reference == reference)
            ).first()
            return self._order(row) if row else None
