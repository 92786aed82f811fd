"""Payment gateway: callback signatures, the reference gateway on SQLite/PostgreSQL, the REST client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.payment import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    IPaymentGateway,
    OrderStatus,
    PaymentCallbackInvalid,
    PaymentStatus,
    sign_callback,
    to_paise,
    verify_callback,
)
from connectors.payment.client import HttpPayment
from connectors.payment.reference import ReferencePayment
from connectors.reference_db import set_down
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer
from tests.connectors.messaging_fixtures import FAILURE_MODES, http_context, ref_context, ref_engine

__all__ = ["ref_engine"]

SECRET = "whsec-test-0123456789abcdef"
OLD_SECRET = "whsec-old-0123456789abcdef"
SETTINGS = {"callback_secret": SECRET, "checkout_url": "http://127.0.0.1:6543/reference/pay"}


def good_body(**changes: object) -> bytes:
    data: dict[str, object] = {
        "event": "payment.success",
        "order_id": "order_1",
        "reference": "DN-2026-000123",
        "amount_paise": 1234550,
        "currency": "INR",
        "status": "success",
        "gateway_txn_id": "pay_1",
        "paid_at": "2026-11-23T10:00:00+05:30",
    }
    data.update(changes)
    return json.dumps(data).encode()


# -- amounts and signatures -------------------------------------------------------------
def test_amounts_are_decimal_rupees_and_integer_paise() -> None:
    assert to_paise(Decimal("12345.50")) == 1234550
    assert to_paise(Decimal("1")) == 100
    for bad in (Decimal("0"), Decimal("-1"), Decimal("1.005"), Decimal("NaN"), Decimal("100000000.01")):
        with pytest.raises(ValueError):
            to_paise(bad)
    with pytest.raises(ValueError):
        to_paise(12.5)  # type: ignore[arg-type]


def test_a_signed_callback_verifies_into_a_typed_confirmation() -> None:
    cb = sign_callback(SECRET, good_body())
    confirmation = verify_callback(cb.body, cb.headers, [SECRET])
    assert confirmation.amount == Decimal("12345.50")
    assert confirmation.status is PaymentStatus.SUCCESS
    assert (confirmation.order_id, confirmation.gateway_txn_id) == ("order_1", "pay_1")
    assert (
        confirmation.paid_at.utcoffset() is not None and confirmation.paid_at.hour == 4
    )  # 10:00 IST = 04:30 UTC


def code_of(body: bytes, headers: dict[str, str], secrets: list[str], now: float | None = None) -> str:
    with pytest.raises(PaymentCallbackInvalid) as err:
        verify_callback(body, headers, secrets, now=now)
    return err.value.code


def test_bad_callbacks_get_stable_codes() -> None:
    cb = sign_callback(SECRET, good_body())
    headers = dict(cb.headers)
    assert code_of(cb.body.replace(b"1234550", b"1234555"), headers, [SECRET]) == "payment_bad_signature"
    assert code_of(cb.body, headers, ["another-secret-0123456789"]) == "payment_bad_signature"
    assert (
        code_of(cb.body, {**headers, SIGNATURE_HEADER: "v1=" + "0" * 64}, [SECRET]) == "payment_bad_signature"
    )
    assert (
        code_of(cb.body, {TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER]}, [SECRET]) == "payment_bad_signature"
    )
    # Re-dating an old callback breaks the MAC; a genuinely old one is stale.
    assert (
        code_of(cb.body, {**headers, TIMESTAMP_HEADER: str(int(time.time())) + "0"}, [SECRET])
        == "payment_bad_signature"
    )
    assert code_of(cb.body, headers, [SECRET], now=time.time() + 301) == "payment_stale"
    assert code_of(cb.body, headers, [SECRET], now=time.time() - 301) == "payment_stale"
    for bad in (
        b"not json",
        b"[]",
        good_body(amount_paise=12345.5),
        good_body(amount_paise=True),
        good_body(currency="USD"),
        good_body(status="maybe"),
        good_body(paid_at="2026-11-23T10:00:00"),
        good_body(order_id=None),
    ):
        signed = sign_callback(SECRET, bad)
        assert code_of(signed.body, dict(signed.headers), [SECRET]) == "payment_malformed", bad


def test_header_names_are_case_insensitive_and_old_secret_works_during_rotation() -> None:
    cb = sign_callback(OLD_SECRET, good_body())
    lower = {k.lower(): v for k, v in cb.headers.items()}
    assert verify_callback(cb.body, lower, [SECRET, OLD_SECRET]).order_id == "order_1"
    assert code_of(cb.body, lower, [SECRET]) == "payment_bad_signature"


# -- reference gateway ------------------------------------------------------------------
def test_reference_order_pay_and_verify(ref_engine: Engine) -> None:
    gw = ReferencePayment.from_context(ref_context("payment", ref_engine, **SETTINGS))
    assert IPaymentGateway.providedBy(gw)
    order = gw.create_order(Decimal("1530.00"), "RC-1000012345-1", "पुनः संयोजन शुल्क / reconnection")
    assert order.status is OrderStatus.CREATED and order.amount == Decimal("1530.00")
    assert order.payment_url.endswith(order.order_id)
    assert gw.create_order(Decimal("1530.00"), "RC-1000012345-1", "again") == order  # idempotent
    with pytest.raises(ConnectorRejected) as err:
        gw.create_order(Decimal("1531.00"), "RC-1000012345-1", "other amount")
    assert err.value.code == "order_conflict"

    callback = gw.complete_order(order.order_id)
    confirmation = gw.verify_callback(callback.body, callback.headers)
    assert confirmation.amount == Decimal("1530.00")
    assert confirmation.reference == "RC-1000012345-1"
    assert gw.get_order(order.order_id).status is OrderStatus.PAID
    # Paying again re-sends the same confirmation (same gateway txn id): the hub dedupes on it.
    again = gw.verify_callback(*_parts(gw.complete_order(order.order_id)))
    assert again.gateway_txn_id == confirmation.gateway_txn_id


def _parts(cb: object) -> tuple[bytes, dict[str, str]]:
    return cb.body, dict(cb.headers)  # type: ignore[attr-defined]


def test_reference_drives_the_hubs_bad_cases(ref_engine: Engine) -> None:
    gw = ReferencePayment.from_context(ref_context("payment", ref_engine, **SETTINGS))
    order = gw.create_order(Decimal("99.99"), "DN-7", "demand note")
    short = gw.verify_callback(*_parts(gw.complete_order(order.order_id, amount=Decimal("9.99"))))
    assert short.amount == Decimal("9.99")  # signed, but the hub's amount check must refuse it
    stale = gw.complete_order(order.order_id, signed_at=int(time.time()) - 3600)
    with pytest.raises(PaymentCallbackInvalid) as err:
        gw.verify_callback(*_parts(stale))
    assert err.value.code == "payment_stale"
    failed_order = gw.create_order(Decimal("10"), "DN-8", "demand note")
    failed = gw.verify_callback(
        *_parts(gw.complete_order(failed_order.order_id, status=PaymentStatus.FAILED))
    )
    assert failed.status is PaymentStatus.FAILED
    assert gw.get_order(failed_order.order_id).status is OrderStatus.FAILED
    with pytest.raises(NotFound):
        gw.get_order("order_nope")


def test_reference_down(ref_engine: Engine) -> None:
    gw = ReferencePayment.from_context(ref_context("payment", ref_engine, **SETTINGS))
    set_down(ref_engine, "payment")
    with pytest.raises(ConnectorUnavailable):
        gw.create_order(Decimal("10"), "DN-9", "x")
    with pytest.raises(ConnectorUnavailable):
        gw.heartbeat()


def test_settings_refuse_a_short_secret(ref_engine: Engine) -> None:
    with pytest.raises(ValueError, match="callback_secret"):
        ReferencePayment.from_context(ref_context("payment", ref_engine, callback_secret="short"))


# -- REST client against a fake gateway ------------------------------------------------
class FakeGateway:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, object]] = {}

    def __call__(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != "Basic a2V5OnNlY3JldA==":  # key:secret
            return FakeResponse.json(401, {"error": "unauthorized"})
        if request.path == "/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        if request.method == "POST" and request.path == "/v1/orders":
            body = request.json()
            for order in self.orders.values():
                if order["reference"] == body["reference"]:
                    if order["amount_paise"] != body["amount_paise"]:
                        return FakeResponse.json(409, {"error": "order_conflict"})
                    return FakeResponse.json(200, order)
            order_id = f"order_{len(self.orders) + 1}"
            self.orders[order_id] = {
                **body,
                "order_id": order_id,
                "status": "created",
                "payment_url": f"https://pay.example/checkout/{order_id}",
            }
            return FakeResponse.json(201, self.orders[order_id])
        if request.method == "GET" and request.path.startswith("/v1/orders/"):
            found = self.orders.get(request.path.rsplit("/", 1)[1])
            return (
                FakeResponse.json(200, found) if found else FakeResponse.json(404, {"error": "unknown_order"})
            )
        return FakeResponse.json(404, {"error": "no_route"})


@pytest.fixture
def gateway() -> Iterator[tuple[FakeServer, FakeGateway]]:
    handler = FakeGateway()
    with FakeServer(handler) as server:
        yield server, handler


def client_for(server: FakeServer) -> HttpPayment:
    return HttpPayment.from_context(
        http_context("payment", server.url, key_id="key", key_secret="secret", callback_secret=SECRET)
    )


def test_client_creates_and_reads_orders(gateway: tuple[FakeServer, FakeGateway]) -> None:
    server, handler = gateway
    gw = client_for(server)
    order = gw.create_order(Decimal("12345.50"), "DN-2026-000123", "मांग पत्र / demand note")
    assert (order.order_id, order.amount, order.status) == (
        "order_1",
        Decimal("12345.50"),
        OrderStatus.CREATED,
    )
    assert handler.orders["order_1"]["amount_paise"] == 1234550
    assert handler.orders["order_1"]["description"] == "मांग पत्र / demand note"
    assert gw.create_order(Decimal("12345.50"), "DN-2026-000123", "again") == order
    assert gw.get_order("order_1") == order
    with pytest.raises(NotFound):
        gw.get_order("order_404")
    with pytest.raises(ConnectorRejected) as err:
        gw.create_order(Decimal("1.00"), "DN-2026-000123", "other amount")
    assert err.value.code == "order_conflict"
    cb = sign_callback(SECRET, good_body())
    assert gw.verify_callback(cb.body, cb.headers).amount == Decimal("12345.50")
    gw.heartbeat()


def test_client_refuses_an_order_for_another_amount(gateway: tuple[FakeServer, FakeGateway]) -> None:
    server, _ = gateway

    def lying(request: FakeRequest) -> FakeResponse:
        body = request.json()
        return FakeResponse.json(
            201,
            {
                **body,
                "amount_paise": 100,
                "order_id": "o",
                "status": "created",
                "payment_url": "https://pay.example/o",
            },
        )

    server.handler = lying
    with pytest.raises(ConnectorUnavailable):
        client_for(server).create_order(Decimal("50.00"), "DN-1", "x")


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_client_failures_are_unavailable(gateway: tuple[FakeServer, FakeGateway], mode: str) -> None:
    server, _ = gateway
    gw = client_for(server)
    if mode == "refused":
        server.down()
    else:
        server.mode = mode
    with pytest.raises(ConnectorUnavailable):
        gw.create_order(Decimal("10.00"), "DN-1", "x")
    with pytest.raises(ConnectorUnavailable):
        gw.heartbeat()


def test_the_reference_gateway_calls_back_the_orders_own_webhook_before_the_accounts(
    ref_engine: Engine,
) -> None:
    received: dict[str, list[bytes]] = {"/account": [], "/bills": []}

    def webhook(request: FakeRequest) -> FakeResponse:
        received[request.path].append(request.body)
        return FakeResponse.json(200, {"ok": True})

    with FakeServer(webhook) as merchant:
        settings = {**SETTINGS, "callback_url": f"{merchant.url}/account"}
        gw = ReferencePayment.from_context(ref_context("payment", ref_engine, **settings))
        bill = gw.create_order(Decimal("10.00"), "BILL-1", "bill", notify_url=f"{merchant.url}/bills")
        note = gw.create_order(Decimal("20.00"), "DN-1", "demand note")
        assert gw.notify(gw.complete_order(bill.order_id)) == 200
        assert gw.notify(gw.complete_order(note.order_id)) == 200
    assert [json.loads(b)["reference"] for b in received["/bills"]] == ["BILL-1"]
    assert [json.loads(b)["reference"] for b in received["/account"]] == ["DN-1"]


# -- settlement reports -----------------------------------------------------------------
IST = timezone(timedelta(hours=5, minutes=30))
DAY = date(2026, 11, 23)


def _paid_on(gw: ReferencePayment, reference: str, amount: str, at: datetime) -> str:
    order = gw.create_order(Decimal(amount), reference, "bill")
    gw.complete_order(order.order_id, at=at)
    return order.order_id


def test_reference_settlement_report_lists_the_days_captures_once_the_day_is_over(
    ref_engine: Engine,
) -> None:
    gw = ReferencePayment.from_context(ref_context("payment", ref_engine, **SETTINGS))
    first = _paid_on(gw, "BILL-A", "1830.00", datetime(2026, 11, 23, 0, 5, tzinfo=IST))
    last = _paid_on(gw, "BILL-B", "99.50", datetime(2026, 11, 23, 23, 59, tzinfo=IST))
    _paid_on(gw, "BILL-C", "10.00", datetime(2026, 11, 24, 0, 0, tzinfo=IST))  # the next day
    _paid_on(gw, "BILL-D", "10.00", datetime(2026, 11, 22, 23, 59, tzinfo=IST))  # the day before
    gw.create_order(Decimal("5.00"), "BILL-E", "never paid")
    after = datetime(2026, 11, 24, 0, 1, tzinfo=IST)
    assert list(gw.settlement_report(DAY, now=after)) == [
        "transaction_id,amount,paid_on",
        f"{first},1830.00,2026-11-23",
        f"{last},99.50,2026-11-23",
    ]
    with pytest.raises(ConnectorUnavailable, match="not ready"):
        list(gw.settlement_report(DAY, now=datetime(2026, 11, 23, 23, 59, tzinfo=IST)))
    gw.settlement_delay = timedelta(hours=6)  # the gateway settles late today
    with pytest.raises(ConnectorUnavailable, match="not ready"):
        list(gw.settlement_report(DAY, now=after))
    assert len(list(gw.settlement_report(DAY, now=after + timedelta(hours=6)))) == 3
    set_down(ref_engine, "payment")
    with pytest.raises(ConnectorUnavailable):
        list(gw.settlement_report(DAY, now=after + timedelta(hours=6)))


def settlement_server(lines: list[str]) -> Callable[[FakeRequest], FakeResponse]:
    def handler(request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != "Basic a2V5OnNlY3JldA==":
            return FakeResponse.json(401, {"error": "unauthorized"})
        if request.path == f"/v1/settlements/{DAY.isoformat()}":
            body = "".join(line + "\r\n" for line in lines).encode()
            return FakeResponse(200, body, {"Content-Type": "text/csv; charset=utf-8"})
        if request.path.startswith("/v1/settlements/"):
            return FakeResponse.json(404, {"error": "settlement_not_ready"})
        return FakeResponse.json(404, {"error": "no_route"})

    return handler


def test_client_reads_the_report_the_reference_gateway_makes(ref_engine: Engine) -> None:
    reference = ReferencePayment.from_context(ref_context("payment", ref_engine, **SETTINGS))
    _paid_on(reference, "BILL-A", "1830.00", datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    _paid_on(reference, "BILL-B", "4572.50", datetime(2026, 11, 23, 11, 0, tzinfo=IST))
    expected = list(reference.settlement_report(DAY))
    assert len(expected) == 3
    with FakeServer(settlement_server(expected)) as server:
        gw = client_for(server)
        assert list(gw.settlement_report(DAY)) == expected
        with pytest.raises(ConnectorUnavailable, match="not ready"):
            list(gw.settlement_report(date(2026, 11, 24)))


@pytest.mark.parametrize("mode", [*FAILURE_MODES, "json"])
def test_client_settlement_failures_are_unavailable(mode: str) -> None:
    with FakeServer(settlement_server(["transaction_id,amount,paid_on"])) as server:
        gw = client_for(server)
        if mode == "refused":
            server.down()
        elif mode == "json":
            server.handler = lambda request: FakeResponse.json(200, {"lines": []})
        else:
            server.mode = mode
        with pytest.raises(ConnectorUnavailable):
            list(gw.settlement_report(DAY))


def test_client_report_that_stalls_or_trickles_is_unavailable() -> None:
    lines = ["transaction_id,amount,paid_on"] + [f"order_{n},10.00,2026-11-23" for n in range(50)]
    with FakeServer(settlement_server(lines)) as server:
        server.mode = "trickle_body"
        server.trickle_seconds = 1.0  # past the 0.3 s read timeout
        with pytest.raises(ConnectorUnavailable, match="timed out"):
            list(client_for(server).settlement_report(DAY))
        # A byte every 0.01 s never trips the read timeout; the report's deadline does.
        server.trickle_seconds = 0.01
        slow = HttpPayment.from_context(
            http_context(
                "payment",
                server.url,
                key_id="key",
                key_secret="secret",
                callback_secret=SECRET,
                settlement_timeout="0.5",
            )
        )
        with pytest.raises(ConnectorUnavailable, match="too slow"):
            list(slow.settlement_report(DAY))
