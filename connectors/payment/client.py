"""The REST client of the payment gateway.

Wire contract::

    POST {url}/v1/orders            (HTTP Basic key_id:key_secret)
      {"reference": "DN-2026-000123", "amount_paise": 1234550, "currency": "INR",
       "description": "Demand note DN-2026-000123"}
      201 (new) or 200 (same reference, same amount)
      {"order_id": "...", "reference": "...", "amount_paise": 1234550, "currency": "INR",
       "status": "created" | "paid" | "failed", "payment_url": "https://..."}
      409 {"error": "order_conflict"}      same reference, another amount

    GET {url}/v1/orders/{order_id}  -> 200 the order as above; 404 unknown
    GET {url}/v1/health             -> 200 {"status": "ok"}
    GET {url}/v1/settlements/{YYYY-MM-DD}
                                    -> 200 text/csv: "transaction_id,amount,paid_on" then one
                                       line per captured payment of that India day
                                       (order id, rupees "1830.00", YYYY-MM-DD);
                                       404 {"error": "settlement_not_ready"} before the day is settled

The callback the gateway POSTs to the hub is described in :mod:`connectors.payment`.
An answer whose amount or reference differs from what we asked is garbage
(ConnectorUnavailable): never take a partner's word for an amount we set.

Settings (under ``hub.payment.``): ``url``, ``key_id``, ``key_secret``,
``connect_timeout``, ``read_timeout``, ``ca_file``, ``callback_secret``
(+ ``_previous``), ``callback_tolerance``, ``settlement_timeout`` (seconds for a whole
settlement report, default 300).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.payment import (
    SYSTEM,
    CallbackVerifier,
    IPaymentGateway,
    OrderStatus,
    PaymentConfirmation,
    PaymentOrder,
    check_reference,
    from_paise,
    to_paise,
)
from connectors.rest import JsonHttp, field


@implementer(IPaymentGateway)
class HttpPayment:
    def __init__(self, http: JsonHttp, verifier: CallbackVerifier, settlement_timeout: float) -> None:
        self.http = http
        self.verifier = verifier
        self.settlement_timeout = settlement_timeout

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpPayment:
        auth = (context.option("key_id"), context.option("key_secret"))
        return cls(
            JsonHttp.from_context(SYSTEM, context, auth=auth),
            CallbackVerifier.from_context(context),
            context.float_option("settlement_timeout", 300.0),
        )

    def create_order(
        self, amount: Decimal, reference: str, description: str, notify_url: str | None = None
    ) -> PaymentOrder:
        paise = to_paise(amount)
        check_reference(reference)
        _, body = self.http.call(
            "POST",
            "/v1/orders",
            json_body={
                "reference": reference,
                "amount_paise": paise,
                "currency": "INR",
                "description": description[:200],
                **({"notify_url": notify_url} if notify_url else {}),
            },
        )
        order = self._order(body)
        if order.reference != reference or order.amount != from_paise(paise):
            raise ConnectorUnavailable("payment: order does not match what was asked", system=SYSTEM)
        return order

    def get_order(self, order_id: str) -> PaymentOrder:
        _, body = self.http.call("GET", f"/v1/orders/{quote(order_id, safe='')}")
        order = self._order(body)
        if order.order_id != order_id:
            raise ConnectorUnavailable("payment: answer for another order", system=SYSTEM)
        return order

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> PaymentConfirmation:
        return self.verifier.verify(body, headers)

    def settlement_report(self, day: date) -> Iterator[str]:
        try:
            yield from self.http.text_lines(f"/v1/settlements/{day.isoformat()}", self.settlement_timeout)
        except NotFound:
            # Not settled yet: come back later, never "the channel settled nothing".
            raise ConnectorUnavailable(f"payment: settlement of {day} not ready", system=SYSTEM) from None

    def heartbeat(self) -> None:
        _, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable("payment: gateway reports not ok", system=SYSTEM)

    @staticmethod
    def _order(body: Mapping[str, Any]) -> PaymentOrder:
        paise = field(body, "amount_paise", int, SYSTEM)
        url = field(body, "payment_url", str, SYSTEM)
        currency = field(body, "currency", str, SYSTEM)
        if (
            paise <= 0
            or currency != "INR"
            or (not url.startswith("https://") and not url.startswith("http://"))
        ):
            raise ConnectorUnavailable("payment: garbage order", system=SYSTEM)
        try:
            status = OrderStatus(field(body, "status", str, SYSTEM))
        except ValueError:
            raise ConnectorUnavailable("payment: unknown order status", system=SYSTEM) from None
        return PaymentOrder(
            order_id=field(body, "order_id", str, SYSTEM),
            reference=field(body, "reference", str, SYSTEM),
            amount=from_paise(paise),
            currency=currency,
            status=status,
            payment_url=url,
        )
