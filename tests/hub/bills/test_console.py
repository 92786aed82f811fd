"""The revenue section's pages: suspense resolved by an officer (audited), counter files uploaded."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from webtest import TestApp

from hub.models import AuditEntry
from tests.hub.bills.conftest import DISCONNECTED, DUES, Bills, csrf, login
from tests.hub.bills.test_channels import COUNTER_CSV, bbps


def test_officer_applies_a_short_payment_and_it_is_posted_and_audited(
    bills: Bills, officer_app: TestApp
) -> None:
    bills.app.post_json(
        "/api/v1/bills/payments/bbps",
        bbps(bills, amount="1000.00"),
        headers=bills.headers("bills:bbps"),
        status=202,
    )
    bills.drain()
    payment = bills.payment("bbps", "BBPS0001")
    assert payment.state == "suspense"
    login(officer_app, "revenue.one")
    page = officer_app.get("/console/bills/suspense")
    assert "BBPS0001" in page.text
    assert "देय से कम भुगतान" in page.text and "Paid less than due" in page.text
    # No note: refused, nothing changes.
    refused = officer_app.post(
        f"/console/bills/suspense/{payment.id}",
        {"resolution": "apply", "note": "", "csrf_token": csrf(page)},
        status=409,
    )
    assert "reason is required" in refused.text
    done = officer_app.post(
        f"/console/bills/suspense/{payment.id}",
        {"resolution": "apply", "note": "consumer confirmed part payment", "csrf_token": csrf(page)},
        status=302,
    )
    assert done.location.endswith("/console/bills/suspense")
    bills.drain()
    posted = bills.payment("bbps", "BBPS0001")
    assert (posted.state, posted.resolution, posted.resolved_by) == ("posted", "apply", "officer:revenue.one")
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1000.00")]
    with bills.engine.connect() as conn:
        actions = list(
            conn.execute(
                select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.subject_id == str(payment.id))
            ).all()
        )
    assert ("bills.suspense_apply", "officer:revenue.one") in actions
    # Resolved once: a second resolution is refused.
    again = officer_app.post(
        f"/console/bills/suspense/{payment.id}",
        {"resolution": "refund", "note": "twice", "csrf_token": csrf(page)},
        status=409,
    )
    assert "not in suspense" in again.text


def test_adjust_posts_to_another_connection_and_refund_posts_nothing(
    bills: Bills, officer_app: TestApp
) -> None:
    headers = bills.headers("bills:bbps")
    bills.app.post_json(
        "/api/v1/bills/payments/bbps", bbps(bills, amount="2000.00"), headers=headers, status=202
    )
    bills.app.post_json(
        "/api/v1/bills/payments/bbps",
        bbps(bills, transaction_id="BBPS0002", receipt_id="RCPT0002", amount="1.00"),
        headers=headers,
        status=202,
    )
    bills.drain()
    excess, short = bills.payment("bbps", "BBPS0001"), bills.payment("bbps", "BBPS0002")
    login(officer_app, "revenue.one")
    page = officer_app.get("/console/bills/suspense")
    officer_app.post(
        f"/console/bills/suspense/{excess.id}",
        {
            "resolution": "adjust",
            "consumer_number": DUES,
            "note": "wrong IVRS typed",
            "csrf_token": csrf(page),
        },
        status=302,
    )
    officer_app.post(
        f"/console/bills/suspense/{short.id}",
        {"resolution": "refund", "note": "refund through the platform", "csrf_token": csrf(page)},
        status=302,
    )
    bills.drain()
    assert bills.payment("bbps", "BBPS0001").state == "posted"
    assert bills.ledger_payments(DUES) == [Decimal("2000.00")]
    assert bills.payment("bbps", "BBPS0002").state == "refunded"
    assert bills.ledger_payments(DISCONNECTED) == []
    [meters] = bills.messages("meters.payment_posted")
    assert meters.payload["consumer_number"] == DUES


def test_only_the_revenue_section_sees_payments(bills: Bills, officer_app: TestApp) -> None:
    assert officer_app.get("/console/bills/suspense", status=302).location.endswith("/console/login")
    login(officer_app, "dgm.plain")
    assert officer_app.get("/console/bills/suspense", status=403).json["code"] == "forbidden"


def test_officer_uploads_a_counter_file(bills: Bills, officer_app: TestApp) -> None:
    login(officer_app, "revenue.one")
    page = officer_app.get("/console/bills/counter")
    done = officer_app.post(
        "/console/bills/counter",
        {"csrf_token": csrf(page)},
        upload_files=[("file", "counter.csv", COUNTER_CSV.encode(), "text/csv")],
        status=302,
    )
    assert "2 new payments" in officer_app.get(done.location).text
    bad = officer_app.post(
        "/console/bills/counter",
        {"csrf_token": csrf(page)},
        upload_files=[
            ("file", "counter.csv", b"receipt_no,consumer_number,amount,paid_at\nX,1,1.0.0,y\n", "text/csv")
        ],
        status=409,
    )
    assert "line/2/amount" in bad.text
    bills.drain()
    assert bills.payment("counter", "CTR-101-0001").received_from == "officer:revenue.one"
    assert bills.payment("counter", "CTR-101-0001").state == "posted"


def test_adjusting_to_an_unknown_consumer_is_refused(bills: Bills, officer_app: TestApp) -> None:
    bills.app.post_json(
        "/api/v1/bills/payments/bbps",
        bbps(bills, amount="2000.00"),
        headers=bills.headers("bills:bbps"),
        status=202,
    )
    bills.drain()
    payment = bills.payment("bbps", "BBPS0001")
    login(officer_app, "revenue.one")
    page = officer_app.get("/console/bills/suspense")
    refused = officer_app.post(
        f"/console/bills/suspense/{payment.id}",
        {"resolution": "adjust", "consumer_number": "1019999999", "note": "typo", "csrf_token": csrf(page)},
        status=409,
    )
    assert "billing does not know" in refused.text
    assert bills.payment("bbps", "BBPS0001").state == "suspense"
