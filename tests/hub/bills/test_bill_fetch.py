"""Bill fetch as bill-payment platforms call a biller: amount due, nothing due, or consumer not found."""

from __future__ import annotations

from decimal import Decimal

from connectors.reference_db import set_down
from tests.hub.bills.conftest import CLEAN, DISCONNECTED, DUES, DUES_CLEAR, UNKNOWN, Bills


def test_amount_due_names_the_bill_and_its_late_amount(bills: Bills) -> None:
    answer = bills.app.get(f"/api/v1/bills/{DUES}", headers=bills.headers("bills:fetch")).json
    assert answer["status"] == "amount_due"
    bill = answer["bill"]
    assert bill["amount"] == "4572.50"
    assert bill["bill_number"].startswith(f"BL{DUES}")
    assert bill["due_date"] > bill["bill_date"]
    assert Decimal(bill["late_payment_amount"]) > Decimal(bill["amount"])
    assert Decimal(bill["current_amount"]) + Decimal(bill["arrears"]) == Decimal("4572.50")


def test_nothing_due_carries_no_bill(bills: Bills) -> None:
    answer = bills.app.get(f"/api/v1/bills/{CLEAN}", headers=bills.headers("bills:fetch")).json
    assert answer == {"consumer_number": CLEAN, "status": "nothing_due", "bill": None}


def test_unknown_consumer_is_a_404_problem(bills: Bills) -> None:
    response = bills.app.get(f"/api/v1/bills/{UNKNOWN}", headers=bills.headers("bills:fetch"), status=404)
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "consumer_not_found"
    malformed = bills.app.get("/api/v1/bills/12ab", headers=bills.headers("bills:fetch"), status=404)
    assert malformed.json["code"] == "consumer_not_found"


def test_linked_connections_at_once_each_answered_in_order(bills: Bills) -> None:
    numbers = [DUES, DUES_CLEAR, UNKNOWN, DISCONNECTED]
    answer = bills.app.post_json(
        "/api/v1/bills/fetch", {"consumer_numbers": numbers}, headers=bills.headers("bills:fetch")
    ).json
    assert [(b["consumer_number"], b["status"]) for b in answer["bills"]] == [
        (DUES, "amount_due"),
        (DUES_CLEAR, "nothing_due"),
        (UNKNOWN, "consumer_not_found"),
        (DISCONNECTED, "amount_due"),
    ]
    assert answer["bills"][3]["bill"]["amount"] == "1830.00"


def test_more_than_25_connections_is_refused(bills: Bills) -> None:
    response = bills.app.post_json(
        "/api/v1/bills/fetch",
        {"consumer_numbers": [f"10100000{i:02d}" for i in range(26)]},
        headers=bills.headers("bills:fetch"),
        status=400,
    )
    assert response.json["errors"][0]["code"] == "too_many"


def test_fetch_needs_the_scope(bills: Bills) -> None:
    bills.app.get(f"/api/v1/bills/{DUES}", status=401)
    denied = bills.app.get(f"/api/v1/bills/{DUES}", headers=bills.headers("bills:bbps"), status=403)
    assert denied.json["code"] == "insufficient_scope"


def test_billing_down_is_503_with_retry_after(bills: Bills) -> None:
    set_down(bills.reference, "billing")
    try:
        response = bills.app.get(f"/api/v1/bills/{DUES}", headers=bills.headers("bills:fetch"), status=503)
    finally:
        set_down(bills.reference, "billing", False)
    assert response.json["code"] == "dependency_unavailable"
    assert response.headers["Retry-After"]
