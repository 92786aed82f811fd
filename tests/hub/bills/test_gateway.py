"""The gateway's webhook and the payer's browser return: signed, deduplicated, confirmed, posted once."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update

from connectors.payment import PaymentStatus, sign_callback
from hub.models import BillPaymentOrder
from hub.models.meta import utcnow
from tests.hub.bills.conftest import CLEAN, DISCONNECTED, Bills

SECRET = "test-payment-callback-secret"


def test_webhook_accepted_then_posted_once_with_receipt_sms_and_meters_message(bills: Bills) -> None:
    order, callback = bills.pay_order(DISCONNECTED)
    assert order["amount"] == "1830.00"
    accepted = bills.webhook(callback)
    assert accepted.status_code == 202
    assert accepted.json["state"] == "accepted"
    assert bills.ledger_payments(DISCONNECTED) == []  # nothing posted before the worker runs

    bills.drain()
    payment = bills.payment("gateway", order["order_id"])
    assert payment.state == "posted"
    assert payment.receipt_number
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]
    assert bills.balance(DISCONNECTED) == Decimal("0.00")
    [meters] = bills.messages("meters.payment_posted")
    assert meters.payload == {
        "consumer_number": DISCONNECTED,
        "payment_id": payment.id,
        "amount": "1830.00",
        "channel": "gateway",
    }
    [sms] = bills.messages("sms")
    assert sms.payload["template"] == "payment_receipt"
    assert payment.receipt_number in sms.payload["text"]
    assert sms.payload["mobile"] == "9999000061"

    # The browser comes back after the webhook: the same payment, nothing new.
    returned = bills.app.get(f"/api/v1/bills/payment-orders/{order['order_id']}/return")
    assert returned.status_code == 200
    assert returned.json["payment_id"] == payment.id
    assert returned.json["outcome"] == "already_recorded"
    bills.drain()
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]


def test_browser_return_first_then_webhook_is_one_payment(bills: Bills) -> None:
    order, callback = bills.pay_order(DISCONNECTED)
    first = bills.app.get(f"/api/v1/bills/payment-orders/{order['order_id']}/return")
    assert first.status_code == 202
    second = bills.webhook(callback)
    assert second.status_code == 200
    assert second.json["payment_id"] == first.json["payment_id"]
    bills.drain()
    assert len(bills.payments()) == 1
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]


def test_browser_return_before_payment_is_not_confirmed(bills: Bills) -> None:
    order = bills.app.post(
        f"/api/v1/bills/{DISCONNECTED}/payment-orders", headers=bills.headers("bills:pay")
    ).json
    response = bills.app.get(f"/api/v1/bills/payment-orders/{order['order_id']}/return", status=409)
    assert response.json["code"] == "payment_not_confirmed"
    assert bills.payments() == []


def test_replayed_event_is_recognised(bills: Bills) -> None:
    order, callback = bills.pay_order(DISCONNECTED)
    assert bills.webhook(callback).status_code == 202
    again = bills.webhook(callback)
    assert again.status_code == 200
    assert again.json["outcome"] == "duplicate_event"
    bills.drain()
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]


def test_forged_tampered_and_redated_callbacks_are_refused(bills: Bills) -> None:
    order, callback = bills.pay_order(DISCONNECTED)
    forged = sign_callback("not-the-gateways-secret-at-all", callback.body)
    assert bills.webhook(forged, 401).json["code"] == "payment_bad_signature"
    tampered = callback.body.replace(b'"amount_paise":183000', b'"amount_paise":1')
    assert tampered != callback.body
    response = bills.app.post(
        "/api/v1/bills/payments/gateway",
        tampered,
        headers={**callback.headers, "Content-Type": "application/json"},
        status=401,
    )
    assert response.json["code"] == "payment_bad_signature"
    # Re-dated: the old timestamp is inside the MAC, so only the gateway could sign a new one.
    old = sign_callback(SECRET, callback.body, int(time.time()) - 3600)
    assert bills.webhook(old, 400).json["code"] == "payment_stale"
    headers = dict(old.headers)
    headers["X-Payment-Timestamp"] = str(int(time.time()))
    redated = bills.app.post(
        "/api/v1/bills/payments/gateway",
        old.body,
        headers={**headers, "Content-Type": "application/json"},
        status=401,
    )
    assert redated.json["code"] == "payment_bad_signature"
    assert bills.payments() == []


def test_signed_callback_the_status_api_does_not_confirm_counts_for_nothing(bills: Bills) -> None:
    order, callback = bills.pay_order(DISCONNECTED, amount=Decimal("1.00"))
    response = bills.webhook(callback, 422)
    assert response.json["code"] == "payment_amount_mismatch"
    assert bills.payments() == []


def test_failure_after_success_changes_nothing(bills: Bills) -> None:
    order, success = bills.pay_order(DISCONNECTED)
    assert bills.webhook(success).status_code == 202
    body = success.body.replace(b'"status":"success"', b'"status":"failed"').replace(
        b'"event":"payment.success"', b'"event":"payment.failed"'
    )
    body = body.replace(b'"event_id":"evt_', b'"event_id":"evt_f')
    late_failure = sign_callback(SECRET, body)
    answer = bills.webhook(late_failure)
    assert answer.status_code == 200
    assert answer.json["outcome"] == "payment_failed_noted"
    bills.drain()
    assert bills.payment("gateway", order["order_id"]).state == "posted"


def test_capture_after_the_order_expired_goes_to_suspense(bills: Bills) -> None:
    order, callback = bills.pay_order(DISCONNECTED)
    with bills.engine.begin() as conn:  # the order's validity has run out
        conn.execute(
            update(BillPaymentOrder)
            .where(BillPaymentOrder.order_id == order["order_id"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    answer = bills.webhook(callback)
    assert answer.status_code == 202
    assert answer.json["state"] == "suspense"
    assert answer.json["suspense_reason"] == "late_capture"
    bills.drain()
    assert bills.ledger_payments(DISCONNECTED) == []


def test_no_order_when_nothing_is_due(bills: Bills) -> None:
    response = bills.app.post(
        f"/api/v1/bills/{CLEAN}/payment-orders", headers=bills.headers("bills:pay"), status=422
    )
    assert response.json["code"] == "nothing_due"


def test_failed_payment_records_nothing(bills: Bills) -> None:
    order, failed = bills.pay_order(DISCONNECTED, status=PaymentStatus.FAILED)
    answer = bills.webhook(failed)
    assert answer.status_code == 200
    assert answer.json["outcome"] == "payment_failed_noted"
    assert bills.payments() == []
