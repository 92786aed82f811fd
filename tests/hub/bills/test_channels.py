"""The bill-payment platform, the citizen-services portal and counter files: each format, each fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.errors import ConnectorUnavailable
from connectors.reference_db import set_down
from hub.lookup import process_service
from hub.systems import Connectors
from tests.hub.bills.conftest import DISCONNECTED, DUES, UNKNOWN, Bills


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def bill_number(bills: Bills, consumer: str) -> str:
    answer = bills.app.get(f"/api/v1/bills/{consumer}", headers=bills.headers("bills:fetch")).json
    return str(answer["bill"]["bill_number"])


def bbps(bills: Bills, **override: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transaction_id": "BBPS0001",
        "receipt_id": "RCPT0001",
        "consumer_number": DISCONNECTED,
        "bill_number": bill_number(bills, DISCONNECTED),
        "amount": "1830.00",
        "paid_at": _now(),
    }
    body.update(override)
    return body


def test_bbps_notification_posted_once_and_status_readable(bills: Bills) -> None:
    headers = bills.headers("bills:bbps")
    body = bbps(bills)
    first = bills.app.post_json("/api/v1/bills/payments/bbps", body, headers=headers)
    assert first.status_code == 202
    again = bills.app.post_json("/api/v1/bills/payments/bbps", body, headers=headers)
    assert again.status_code == 200
    assert again.json["outcome"] == "already_recorded"
    bills.drain()
    status = bills.app.get("/api/v1/bills/payments/bbps/BBPS0001", headers=headers).json
    assert status["state"] == "posted"
    assert status["receipt_number"]
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]
    assert (
        bills.app.get("/api/v1/bills/payments/bbps/NOPE1", headers=headers, status=404).json["code"]
        == "not_found"
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": "1830.01"}, "payment_conflict"),
        ({"consumer_number": DUES}, "payment_conflict"),
        ({"receipt_id": "RCPT0002"}, "payment_conflict"),
    ],
)
def test_same_transaction_with_other_details_is_a_conflict(
    bills: Bills, change: dict[str, str], code: str
) -> None:
    headers = bills.headers("bills:bbps")
    body = bbps(bills)
    bills.app.post_json("/api/v1/bills/payments/bbps", body, headers=headers, status=202)
    response = bills.app.post_json(
        "/api/v1/bills/payments/bbps", {**body, **change}, headers=headers, status=409
    )
    assert response.json["code"] == code


def test_redated_notification_is_a_conflict(bills: Bills) -> None:
    headers = bills.headers("bills:bbps")
    body = bbps(bills)
    bills.app.post_json("/api/v1/bills/payments/bbps", body, headers=headers, status=202)
    earlier = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0).isoformat()
    response = bills.app.post_json(
        "/api/v1/bills/payments/bbps", {**body, "paid_at": earlier}, headers=headers, status=409
    )
    assert response.json["code"] == "payment_conflict"


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (1830.0, "type"),
        (1830, "type"),
        ("1830.001", "format"),
        ("-1830.00", "format"),
        ("0.00", "range"),
        ("1e3", "format"),
        ("+5", "format"),
        (" 1830", "format"),
        ("NaN", "format"),
        ("99999999999", "format"),
        ("10000000.01", "range"),
        (None, "required"),
        (True, "type"),
    ],
)
def test_amounts_in_every_wrong_shape_are_refused(bills: Bills, amount: Any, code: str) -> None:
    response = bills.app.post_json(
        "/api/v1/bills/payments/bbps",
        bbps(bills, amount=amount),
        headers=bills.headers("bills:bbps"),
        status=400,
    )
    assert response.json["code"] == "validation_failed"
    assert {"field": "amount", "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in response.json["errors"]
    ]
    assert bills.payments() == []


def test_payment_dated_in_the_future_is_refused(bills: Bills) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    response = bills.app.post_json(
        "/api/v1/bills/payments/bbps",
        bbps(bills, paid_at=later),
        headers=bills.headers("bills:bbps"),
        status=400,
    )
    assert response.json["errors"][0]["field"] == "paid_at"


def test_channel_needs_its_own_scope(bills: Bills) -> None:
    bills.app.post_json("/api/v1/bills/payments/bbps", bbps(bills), status=401)
    denied = bills.app.post_json(
        "/api/v1/bills/payments/bbps", bbps(bills), headers=bills.headers("bills:portal"), status=403
    )
    assert denied.json["code"] == "insufficient_scope"


def test_same_payment_from_two_channels_second_goes_to_suspense(bills: Bills) -> None:
    bills.app.post_json(
        "/api/v1/bills/payments/bbps", bbps(bills), headers=bills.headers("bills:bbps"), status=202
    )
    portal = {
        "cs_txn_no": "CS-778812",
        "ivrs_no": DISCONNECTED,
        "amount_paise": 183000,
        "txn_datetime": _now(),
    }
    bills.app.post_json(
        "/api/v1/bills/payments/portal", portal, headers=bills.headers("bills:portal"), status=202
    )
    bills.drain()
    assert bills.payment("bbps", "BBPS0001").state == "posted"
    second = bills.payment("portal", "CS-778812")
    assert (second.state, second.suspense_reason) == ("suspense", "nothing_due")
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]
    assert len(bills.messages("meters.payment_posted")) == 1


def test_portal_amount_in_paise_float_refused(bills: Bills) -> None:
    portal = {"cs_txn_no": "CS-1", "ivrs_no": DISCONNECTED, "amount_paise": 183000.5, "txn_datetime": _now()}
    response = bills.app.post_json(
        "/api/v1/bills/payments/portal", portal, headers=bills.headers("bills:portal"), status=400
    )
    assert response.json["errors"][0]["field"] == "amount_paise"


@pytest.mark.parametrize(
    ("amount", "bill", "reason"),
    [
        ("1000.00", None, "short_payment"),
        ("2000.00", None, "excess_payment"),
        ("1830.00", "BL0000000000000", "closed_bill"),
    ],
)
def test_amounts_that_do_not_match_go_to_suspense(
    bills: Bills, amount: str, bill: str | None, reason: str
) -> None:
    body = bbps(bills, amount=amount)
    if bill:
        body["bill_number"] = bill
    bills.app.post_json("/api/v1/bills/payments/bbps", body, headers=bills.headers("bills:bbps"), status=202)
    bills.drain()
    payment = bills.payment("bbps", "BBPS0001")
    assert (payment.state, payment.suspense_reason) == ("suspense", reason)
    assert bills.ledger_payments(DISCONNECTED) == []
    assert bills.messages("meters.payment_posted") == []


def test_unknown_consumer_goes_to_suspense(bills: Bills) -> None:
    bills.app.post_json(
        "/api/v1/bills/payments/bbps",
        bbps(bills, consumer_number=UNKNOWN),
        headers=bills.headers("bills:bbps"),
        status=202,
    )
    bills.drain()
    assert bills.payment("bbps", "BBPS0001").suspense_reason == "unknown_consumer"


def test_billing_down_payment_kept_and_posted_when_it_returns(bills: Bills) -> None:
    body = bbps(bills)
    set_down(bills.reference, "billing")
    try:
        accepted = bills.app.post_json(
            "/api/v1/bills/payments/bbps", body, headers=bills.headers("bills:bbps")
        )
        assert accepted.status_code == 202
        outcomes = bills.drain()
        assert [o.result for o in outcomes] == ["retry"]
        assert bills.payment("bbps", "BBPS0001").state == "accepted"
    finally:
        set_down(bills.reference, "billing", False)
    bills.due_now()
    bills.drain()
    assert bills.payment("bbps", "BBPS0001").state == "posted"
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]


class CrashAfterPosting:
    """Billing posts, then the worker dies before it records the posting."""

    def __init__(self, billing: Any) -> None:
        self.billing = billing

    def __getattr__(self, name: str) -> Any:
        return getattr(self.billing, name)

    def post_payment_many(self, postings: Any) -> Any:
        self.billing.post_payment_many(postings)
        raise ConnectorUnavailable("worker killed", system="billing")


def test_worker_crash_between_posting_and_recording_posts_once(bills: Bills) -> None:
    bills.app.post_json(
        "/api/v1/bills/payments/bbps", bbps(bills), headers=bills.headers("bills:bbps"), status=202
    )
    connectors = dict(process_service(bills.app.app.registry, Connectors))
    connectors["billing"] = CrashAfterPosting(connectors["billing"])
    [outcome] = bills.drain(connectors)
    assert outcome.result == "retry"
    assert bills.payment("bbps", "BBPS0001").state == "posting"
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]
    bills.due_now()
    bills.drain()
    payment = bills.payment("bbps", "BBPS0001")
    assert payment.state == "posted"
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]
    assert len(bills.messages("meters.payment_posted")) == 1


COUNTER_CSV = (
    "receipt_no,consumer_number,amount,paid_at\n"
    f"CTR-101-0001,{DISCONNECTED},1830.00,2026-12-01T10:15:00+05:30\n"
    f"CTR-101-0002,{DUES},500.00,2026-12-01T10:20:00+05:30\n"
)


def test_counter_file_each_receipt_once_partial_payment_posted(bills: Bills) -> None:
    headers = {**bills.headers("bills:counter"), "Content-Type": "text/csv"}
    first = bills.app.post("/api/v1/bills/payments/counter", COUNTER_CSV.encode(), headers=headers)
    assert first.status_code == 202
    assert [p["outcome"] for p in first.json["payments"]] == ["accepted", "accepted"]
    again = bills.app.post("/api/v1/bills/payments/counter", COUNTER_CSV.encode(), headers=headers)
    assert again.status_code == 200
    assert [p["outcome"] for p in again.json["payments"]] == ["already_recorded", "already_recorded"]
    bills.drain()
    assert bills.payment("counter", "CTR-101-0001").state == "posted"
    assert bills.payment("counter", "CTR-101-0002").state == "posted"  # counters take part payments
    assert bills.balance(DUES) == Decimal("4072.50")


def test_counter_file_with_a_bad_line_records_nothing(bills: Bills) -> None:
    bad = COUNTER_CSV + f"CTR-101-0003,{DUES},12.5.0,2026-12-01T10:25:00+05:30\nCTR-101-0001,{DUES},1.00,x\n"
    response = bills.app.post(
        "/api/v1/bills/payments/counter",
        bad.encode(),
        headers={**bills.headers("bills:counter"), "Content-Type": "text/csv"},
        status=400,
    )
    fields = {(e["field"], e["code"]) for e in response.json["errors"]}
    assert ("line/4/amount", "format") in fields
    assert ("line/5/receipt_no", "duplicate") in fields
    assert ("line/5/paid_at", "format") in fields
    assert bills.payments() == []


def test_counter_file_needs_its_header_and_csv(bills: Bills) -> None:
    headers = bills.headers("bills:counter")
    no_header = bills.app.post(
        "/api/v1/bills/payments/counter",
        COUNTER_CSV.split("\n", 1)[1].encode(),
        headers={**headers, "Content-Type": "text/csv"},
        status=400,
    )
    assert no_header.json["errors"][0]["field"] == "line/1"
    wrong_type = bills.app.post(
        "/api/v1/bills/payments/counter",
        COUNTER_CSV.encode(),
        headers={**headers, "Content-Type": "text/plain"},
        status=415,
    )
    assert wrong_type.json["code"] == "unsupported_media_type"
