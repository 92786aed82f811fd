"""The payment gateway: orders for demand notes and dues, and their signed callbacks.

The hub creates an *order* for an amount and its own payment reference (a
demand note number, a reconnection payment id), sends the payer to the
order's ``payment_url``, and learns the outcome from the gateway's callback
(a server-to-server POST). The callback is trusted only after
:func:`verify_callback`:

* ``X-Payment-Timestamp``: Unix seconds when the gateway signed;
* ``X-Payment-Signature``: ``v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>``.

The timestamp is inside the MAC, so an old callback cannot be re-dated; a
timestamp outside ``callback_tolerance`` seconds (default 300) is
``payment_stale``. Comparison is constant-time (``hmac.compare_digest``).
Several secrets may be configured during a rotation. Within the window a
replayed callback verifies again: the hub must treat confirmations
idempotently by ``gateway_txn_id`` and check the amount against what it
asked for (``amount_mismatch`` is the hub's check, it knows the demand).

Amounts are ``Decimal`` rupees in Python and integer paise on the wire:
no floats anywhere near money.

Settings (under ``hub.payment.``)::

    backend = connectors.payment.reference:ReferencePayment  (or connectors.payment.client:HttpPayment)
    callback_secret = ...            HMAC secret shared with the gateway (required)
    callback_secret_previous = ...   optional, accepted during a rotation
    callback_tolerance = 300         seconds
"""

# ruff: noqa: N805  (zope.interface methods are declared without self)
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from zope.interface import Interface

from connectors.base import ConnectorContext
from connectors.errors import ConnectorRejected

SYSTEM = "payment"
TIMESTAMP_HEADER = "X-Payment-Timestamp"
SIGNATURE_HEADER = "X-Payment-Signature"
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")
MAX_AMOUNT = Decimal("100000000.00")  # one crore rupees: a demand note above it is a typo


class OrderStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    FAILED = "failed"


class PaymentStatus(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True)
class PaymentOrder:
    order_id: str
    reference: str
    amount: Decimal
    currency: str
    status: OrderStatus
    payment_url: str


@dataclass(frozen=True)
class PaymentConfirmation:
    """A verified callback: what the gateway says happened to an order."""

    order_id: str
    reference: str
    amount: Decimal
    currency: str
    status: PaymentStatus
    gateway_txn_id: str
    paid_at: datetime
    # The gateway's id of this notification: the same event re-sent carries the same id.
    event_id: str | None = None


@dataclass(frozen=True)
class SignedCallback:
    """A callback as the gateway would POST it (raw body + headers): the reference backend's output."""

    body: bytes
    headers: Mapping[str, str]


class PaymentCallbackInvalid(ConnectorRejected):
    """A callback that must not be believed. ``code``: payment_bad_signature, payment_stale,
    payment_malformed."""

    code = "payment_callback_invalid"


def to_paise(amount: Decimal) -> int:
    """Rupees to paise; refuses floats, more than two decimals, zero, negatives and absurd amounts."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError("amount must be a finite Decimal")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise ValueError("amount must be positive and at most 1,00,00,000.00")
    paise = amount * 100
    if paise != paise.to_integral_value():
        raise ValueError("amount has more than two decimal places")
    return int(paise)


def from_paise(paise: int) -> Decimal:
    return (Decimal(paise) / 100).quantize(Decimal("0.01"))


def check_reference(reference: str) -> str:
    if not _REFERENCE.match(reference):
        raise ValueError("payment reference must be 1-64 letters, digits or _./-")
    return reference


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def sign_callback(secret: str, body: bytes, timestamp: int | None = None) -> SignedCallback:
    ts = int(time.time()) if timestamp is None else timestamp
    return SignedCallback(
        body=body,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: signature(secret, ts, body),
        },
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_callback(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> PaymentConfirmation:
    """Check a callback's signature and age, then parse it; raise PaymentCallbackInvalid if not good."""
    if not secrets:
        raise ValueError("no callback secret configured")
    ts_raw = _header(headers, TIMESTAMP_HEADER)
    sig = _header(headers, SIGNATURE_HEADER)
    if not ts_raw or not sig or not ts_raw.isascii() or not ts_raw.isdigit() or len(ts_raw) > 12:
        raise PaymentCallbackInvalid("callback not signed", system=SYSTEM, code="payment_bad_signature")
    ts = int(ts_raw)
    # Check the MAC first: an unsigned stale message must not teach the sender about our clock.
    if not any(hmac.compare_digest(signature(secret, ts, body), sig) for secret in secrets):
        raise PaymentCallbackInvalid("callback signature wrong", system=SYSTEM, code="payment_bad_signature")
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise PaymentCallbackInvalid("callback outside the time window", system=SYSTEM, code="payment_stale")
    return parse_callback(body)


def parse_callback(body: bytes) -> PaymentConfirmation:
    def bad(what: str) -> PaymentCallbackInvalid:
        return PaymentCallbackInvalid(f"callback malformed ({what})", system=SYSTEM, code="payment_malformed")

    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad("not JSON") from None
    if not isinstance(data, dict):
        raise bad("not an object")
    strings = {}
    for key in ("order_id", "reference", "currency", "status", "gateway_txn_id", "paid_at"):
        value = data.get(key)
        if not isinstance(value, str) or not value or len(value) > 100:
            raise bad(key)
        strings[key] = value
    paise = data.get("amount_paise")
    if not isinstance(paise, int) or isinstance(paise, bool) or paise <= 0:
        raise bad("amount_paise")
    if strings["currency"] != "INR":
        raise bad("currency")
    try:
        status = PaymentStatus(strings["status"])
        paid_at = datetime.fromisoformat(strings["paid_at"])
    except ValueError:
        raise bad("status or paid_at") from None
    if paid_at.tzinfo is None:
        raise bad("paid_at without zone")
    event_id = data.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or not event_id or len(event_id) > 100):
        raise bad("event_id")
    return PaymentConfirmation(
        order_id=strings["order_id"],
        reference=strings["reference"],
        amount=from_paise(paise),
        currency="INR",
        status=status,
        gateway_txn_id=strings["gateway_txn_id"],
        paid_at=paid_at.astimezone(UTC),
        event_id=event_id,
    )


def callback_body(
    order: PaymentOrder, status: PaymentStatus, gateway_txn_id: str, paid_at: datetime
) -> bytes:
    """The callback JSON a gateway sends for ``order`` (amount as the gateway recorded it)."""
    event = hashlib.sha256(f"{order.order_id}|{status.value}|{gateway_txn_id}".encode()).hexdigest()
    return json.dumps(
        {
            "event_id": "evt_" + event[:24],
            "event": "payment." + status.value,
            "order_id": order.order_id,
            "reference": order.reference,
            "amount_paise": to_paise(order.amount),
            "currency": order.currency,
            "status": status.value,
            "gateway_txn_id": gateway_txn_id,
            "paid_at": paid_at.isoformat(),
        },
        separators=(",", ":"),
    ).encode("utf-8")


class CallbackVerifier:
    """The secrets and window from settings; shared by the reference and real gateway classes."""

    def __init__(self, secrets: Sequence[str], tolerance: float) -> None:
        if not secrets or any(len(s) < 16 for s in secrets):
            raise ValueError("connector payment: 'callback_secret' must be at least 16 characters")
        self.secrets = tuple(secrets)
        self.tolerance = tolerance

    @classmethod
    def from_context(cls, context: ConnectorContext) -> CallbackVerifier:
        secrets = [context.option("callback_secret")]
        previous = context.options.get("callback_secret_previous")
        if previous:
            secrets.append(previous)
        return cls(secrets, context.float_option("callback_tolerance", 300.0))

    def verify(
        self, body: bytes, headers: Mapping[str, str], now: float | None = None
    ) -> PaymentConfirmation:
        return verify_callback(body, headers, self.secrets, tolerance=self.tolerance, now=now)


class IPaymentGateway(Interface):
    """The payment gateway (``request.find_service(IPaymentGateway)``)."""

    def create_order(  # type: ignore[empty-body]
        amount: Decimal, reference: str, description: str, notify_url: str | None = None
    ) -> PaymentOrder:
        """Open an order for ``amount`` rupees under the hub's unique ``reference``.

        ``notify_url``: where the gateway POSTs this order's signed callback, when the flow
        that opened it has a webhook of its own (bills); otherwise the merchant account's
        configured webhook (``callback_url``) is called.

        Idempotent on ``reference``: the same reference and amount give the
        same order; a different amount under it is ConnectorRejected
        (``order_conflict``). ``description`` is shown to the payer.
        """

    def get_order(order_id: str) -> PaymentOrder:  # type: ignore[empty-body]
        """The order's current state (for reconciliation when a callback was lost). NotFound if unknown."""

    def verify_callback(body: bytes, headers: Mapping[str, str]) -> PaymentConfirmation:  # type: ignore[empty-body]
        """Verify the raw callback body and headers; raise PaymentCallbackInvalid if not to be believed."""

    def settlement_report(day: date) -> Iterator[str]:  # type: ignore[empty-body]
        """The gateway's settlement report of ``day`` (India time): CSV lines (no line ends),
        the header ``transaction_id,amount,paid_on`` first, then one line per captured payment:
        the order id, the amount in rupees (``1830.00``) and the India date it was paid.

        ConnectorUnavailable while the gateway cannot answer or the day's report is not
        ready yet (a gateway settles a day only after it has ended). The iteration may
        raise part-way: the caller keeps nothing of a report it could not read to the end.
        """

    def heartbeat() -> None:  # type: ignore[misc]
        """Return if the gateway answers; raise ConnectorUnavailable if not."""
