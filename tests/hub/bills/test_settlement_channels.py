"""The bill-payment platform's and the citizen-services portal's days reconciled from their own
settlement (the reference systems configured as `make run` has them), by hub-worker and hub-admin."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.bbps.reference import RefBbpsTxn, ReferenceBbps
from connectors.citizen_portal.reference import ReferencePortal, RefPortalTxn
from connectors.reference_db import set_down
from hub.audit import verify_chain
from hub.bills.reconciliation import DailyReconciliation
from hub.cli import main as hub_admin
from hub.lookup import process_service
from hub.models.audit import AuditEntry
from hub.models.bills import ReconciliationItem, ReconciliationRun
from hub.systems import Connectors
from tests.hub.bills.conftest import DISCONNECTED, DUES, DUES_CLEAR, Bills, csrf, login
from tests.hub.bills.test_daily_reconciliation import items, runs, today, tomorrow_at
from tests.hub.bills.test_reconciliation import ini_file


def _bill_number(bills: Bills, consumer: str) -> str:
    answer = bills.app.get(f"/api/v1/bills/{consumer}", headers=bills.headers("bills:fetch")).json
    return str(answer["bill"]["bill_number"])


def _amount_due(bills: Bills, consumer: str) -> Decimal:
    answer = bills.app.get(f"/api/v1/bills/{consumer}", headers=bills.headers("bills:fetch")).json
    return Decimal(answer["bill"]["amount"])


def _clean_runs(bills: Bills) -> None:
    with bills.engine.begin() as conn:
        conn.execute(delete(ReconciliationItem))
        conn.execute(delete(ReconciliationRun))
    with bills.reference.begin() as conn:
        conn.execute(delete(RefBbpsTxn))
        conn.execute(delete(RefPortalTxn))


def test_the_platforms_day_is_reconciled_from_its_own_file(bills: Bills) -> None:
    _clean_runs(bills)
    platform: ReferenceBbps = process_service(bills.app.app.registry, Connectors)["bbps"]
    headers = bills.headers("bills:bbps")
    now = datetime.now(UTC)
    # Paid on the platform and notified: posted, and settled.
    paid = platform.pay(
        DISCONNECTED, _bill_number(bills, DISCONNECTED), _amount_due(bills, DISCONNECTED), at=now
    )
    bills.app.post_json(
        "/api/v1/bills/payments/bbps", platform.notification(paid), headers=headers, status=202
    )
    # Paid and notified, then reversed by the platform: the hub holds money the platform never settled.
    reversed_ = platform.pay(DUES, _bill_number(bills, DUES), _amount_due(bills, DUES), at=now)
    bills.app.post_json(
        "/api/v1/bills/payments/bbps", platform.notification(reversed_), headers=headers, status=202
    )
    platform.reverse(reversed_)
    # Paid on the platform, its notification never reached the hub.
    unheard = platform.pay(DUES_CLEAR, "B-2026-11-0042", Decimal("250.00"), at=now)
    # A failed attempt is in the file but is not settlement.
    platform.pay(DUES_CLEAR, "B-2026-11-0042", Decimal("99.00"), at=now, status="FAILED")
    bills.drain()
    assert bills.payment("bbps", paid).state == "posted"

    daily = process_service(bills.app.app.registry, DailyReconciliation)
    assert daily.settlement_systems["bbps"] == "bbps"
    # The platform has not published the day yet, then is down: nothing recorded, the day waits.
    platform.settlement_delay = timedelta(days=30)
    daily.run_due(tomorrow_at(7))
    assert runs(bills, "bbps", today()) == []
    platform.settlement_delay = timedelta(days=-2)
    set_down(bills.reference, "bbps")
    try:
        daily.run_due(tomorrow_at(7))
    finally:
        set_down(bills.reference, "bbps", down=False)
    assert runs(bills, "bbps", today()) == []

    daily.run_due(tomorrow_at(7))
    [run] = runs(bills, "bbps", today())
    assert run.source == "bbps settlement report"
    assert run.counts["matched"] == 1
    found = items(bills, run.id)
    assert set(found) == {"missing_in_hub", "missing_at_channel"}
    assert found["missing_in_hub"].transaction_id == unheard
    assert found["missing_at_channel"].transaction_id == reversed_
    # Once a day: the next run leaves it be.
    daily.run_due(tomorrow_at(9))
    assert len(runs(bills, "bbps", today())) == 1


def test_the_portals_day_is_reconciled_from_its_statement(
    bills: Bills, live_settings: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    _clean_runs(bills)
    portal: ReferencePortal = process_service(bills.app.app.registry, Connectors)["citizen_portal"]
    headers = bills.headers("bills:portal")
    now = datetime.now(UTC)
    settled = portal.pay(
        DISCONNECTED, _bill_number(bills, DISCONNECTED), _amount_due(bills, DISCONNECTED), at=now
    )
    bills.app.post_json("/api/v1/bills/payments/portal", portal.advice(settled), headers=headers, status=202)
    refunded = portal.pay(DUES, _bill_number(bills, DUES), _amount_due(bills, DUES), at=now)
    bills.app.post_json("/api/v1/bills/payments/portal", portal.advice(refunded), headers=headers, status=202)
    portal.refund(refunded)
    bills.drain()

    # hub-admin reads the portal's statement (two records a page: it walks the pages).
    ini = ini_file(
        tmp_path,
        {
            **live_settings,
            "hub.citizen_portal.page_size": "1",
            "hub.citizen_portal.settlement_delay_hours": "-48",
        },
    )
    argv = [str(ini), "bills", "reconcile", "--channel", "portal", "--day", today().isoformat()]
    assert hub_admin(argv) == 0
    assert '"missing_at_channel": 1' in capsys.readouterr().out
    [run] = runs(bills, "portal", today())
    assert run.started_by == "hub-admin" and run.counts["matched"] == 1
    found = items(bills, run.id)
    assert set(found) == {"missing_at_channel"}
    assert found["missing_at_channel"].transaction_id == refunded
    # The portal down: hub-admin says so and records nothing more.
    set_down(bills.reference, "citizen_portal")
    try:
        assert hub_admin(argv) == 1
    finally:
        set_down(bills.reference, "citizen_portal", down=False)
    assert len(runs(bills, "portal", today())) == 1


def test_counters_are_still_reconciled_from_a_file(bills: Bills) -> None:
    daily = process_service(bills.app.app.registry, DailyReconciliation)
    assert "counter" not in daily.settlement_systems
    assert set(daily.settlement_systems) == {"gateway", "bbps", "portal"}


def _counter_day(bills: Bills, officer_app: Any, day: str) -> None:
    page = officer_app.get("/console/bills/counter")
    collections = (
        "receipt_no,consumer_number,amount,paid_at\n"
        f"CTR-101-0001,{DISCONNECTED},1830.00,{day}T10:15:00+05:30\n"
        f"CTR-101-0002,{DUES},500.00,{day}T10:20:00+05:30\n"
    )
    officer_app.post(
        "/console/bills/counter",
        {"csrf_token": csrf(page)},
        upload_files=[("file", "counter.csv", collections.encode(), "text/csv")],
        status=302,
    )
    bills.drain()


def test_an_officer_reconciles_the_counters_day_from_the_agencys_file(bills: Bills, officer_app: Any) -> None:
    _clean_runs(bills)
    with Session(bills.engine) as session:
        audit_head = session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0)))
    login(officer_app, "revenue.one")
    yesterday = (today() - timedelta(days=1)).isoformat()
    _counter_day(bills, officer_app, yesterday)
    page = officer_app.get("/console/bills/reconciliation")
    assert '<option value="counter">' in page.text and '<option value="bbps">' not in page.text

    def upload(body: bytes, status: int, **fields: str) -> Any:
        form = {"csrf_token": csrf(page), "channel": "counter", "day": yesterday, **fields}
        return officer_app.post(
            "/console/bills/reconciliation",
            form,
            upload_files=[("file", "agency-settlement.csv", body, "text/csv")],
            status=status,
        )

    settlement = (
        f"transaction_id,amount,paid_on\nCTR-101-0001,1830.00,{yesterday}\nCTR-999-0009,10.00,{yesterday}\n"
    )
    # Refused, nothing recorded: a channel that settles by itself, a day not yet over, a file that
    # is not a settlement file or not UTF-8, billing silent, an expired form.
    assert "channel" in upload(settlement.encode(), 409, channel="bbps").text
    assert "one of the 31 days" in upload(settlement.encode(), 409, day=today().isoformat()).text
    assert "must start with" in upload(b"receipt,amount\nX,1\n", 409).text
    assert "not UTF-8" in upload("transaction_id,amount,paid_on\nक,1.00,x\n".encode("utf-16"), 409).text
    set_down(bills.reference, "billing")
    try:
        assert "billing did not answer" in upload(settlement.encode(), 503).text
    finally:
        set_down(bills.reference, "billing", down=False)
    assert upload(settlement.encode(), 403, csrf_token="stale").status_code == 403
    assert runs(bills, "counter") == []

    done = upload(settlement.encode(), 302)
    [run] = runs(bills, "counter")
    assert done.location.endswith(f"/console/bills/reconciliation/{run.id}")
    assert run.started_by == "officer:revenue.one" and run.source == "file agency-settlement.csv uploaded"
    assert run.counts["matched"] == 1
    found = items(bills, run.id)
    assert set(found) == {"missing_in_hub", "missing_at_channel"}
    assert found["missing_in_hub"].transaction_id == "CTR-999-0009"
    assert found["missing_at_channel"].transaction_id == "CTR-101-0002"
    run_page = officer_app.get(done.location)
    assert "reconciled" in run_page.text and "Reconcile this day again" not in run_page.text
    # The unmatched items are in the revenue officer's work list across flows, found by transaction.
    work = officer_app.get("/console/work", {"q": "CTR-999-0009"})
    assert f'/console/bills/reconciliation/items/{found["missing_in_hub"].id}"' in work.text
    assert "Missing in the hub" in work.text
    listed = officer_app.get("/console/work", {"flow": "reconciliation"}).text
    assert f'/console/bills/reconciliation/items/{found["missing_at_channel"].id}"' in listed
    manager = TestApp(bills.app.app, extra_environ={"wsgi.url_scheme": "https"})
    login(manager, "dgm.plain")  # a distribution centre's manager: not the revenue section's work
    assert "/console/bills/reconciliation/items/" not in manager.get("/console/work").text
    # Another file for the day: the new run's items stand, the first run's open ones are superseded.
    upload(settlement.replace("CTR-999-0009,10.00", "CTR-101-0002,500.00").encode(), 302)
    first, second = runs(bills, "counter")
    assert second.counts["matched"] == 2
    assert {i.state for i in items(bills, first.id).values()} == {"superseded"}
    # Superseded items are no one's work any more.
    assert "/console/bills/reconciliation/items/" not in officer_app.get("/console/work").text
    # Each run is in the audit chain: who, from what, what it found and what it superseded.
    with Session(bills.engine) as session:
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.subject_id, AuditEntry.data_json)
            .where(AuditEntry.action == "bills.reconciliation_run", AuditEntry.seq > audit_head)
            .order_by(AuditEntry.seq)
        ).all()
        assert verify_chain(session).ok
    assert [(actor, subject) for actor, subject, _ in audited] == [
        ("officer:revenue.one", str(first.id)),
        ("officer:revenue.one", str(second.id)),
    ]
    last = json.loads(audited[1][2])
    assert last["superseded"] == 2 and last["counts"]["matched"] == 2 and last["channel"] == "counter"
    assert last["source"] == "file agency-settlement.csv uploaded"


def test_only_the_revenue_section_uploads_settlement_files(bills: Bills, officer_app: Any) -> None:
    login(officer_app, "dgm.plain")
    officer_app.post("/console/bills/reconciliation", {"channel": "counter"}, status=403)


def test_a_channel_whose_settlement_system_is_missing_is_said_at_startup(
    live_settings: dict[str, Any], live_engine: Any, caplog: Any
) -> None:
    from hub import main

    settings = {k: v for k, v in live_settings.items() if not k.startswith("hub.citizen_portal.")}
    with caplog.at_level("WARNING", logger="hub.bills"):
        app = main({}, **settings, **{"hub.test_engine": live_engine})
    said = [r.getMessage() for r in caplog.records if r.name == "hub.bills"]
    assert said == [
        "channel portal is reconciled from citizen_portal, which has no backend "
        "(hub.citizen_portal.backend): its days will wait"
    ]
    # The channel stays the daily job's: its days wait until the system is configured.
    assert process_service(app.registry, DailyReconciliation).settlement_systems["portal"] == "citizen_portal"
