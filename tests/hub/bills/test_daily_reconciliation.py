"""hub-worker's daily reconciliation from the gateway's own settlement report, and its unmatched
items as the revenue office's queue (closed with an action and a reason, audited)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from connectors.billing.tables import RefLedgerEntry
from connectors.errors import ConnectorUnavailable
from connectors.payment.reference import RefPaymentOrder
from connectors.reference_db import set_down
from hub.bills.reconciliation import RECONCILE_JOB, DailyReconciliation
from hub.cli import main as hub_admin
from hub.lookup import process_service, registered
from hub.models.audit import AuditEntry
from hub.models.bills import ReconciliationItem, ReconciliationRun
from hub.models.meta import IST
from hub.periodic import PeriodicJobs
from tests.hub.bills.conftest import DISCONNECTED, DUES, Bills, csrf, login
from tests.hub.bills.test_reconciliation import ini_file


def today() -> date:
    return datetime.now(UTC).astimezone(IST).date()


def tomorrow_at(hour: int) -> datetime:
    return datetime.combine(today() + timedelta(days=1), time(hour), IST)


def runs(bills: Bills, channel: str = "gateway", day: date | None = None) -> list[ReconciliationRun]:
    with bills.engine.connect() as conn:
        query = select(ReconciliationRun).where(ReconciliationRun.channel == channel)
        if day is not None:
            query = query.where(ReconciliationRun.day == day)
        return list(conn.execute(query.order_by(ReconciliationRun.id)).all())  # type: ignore[arg-type]


def items(bills: Bills, run_id: int) -> dict[str, Any]:
    with bills.engine.connect() as conn:
        rows = conn.execute(
            select(ReconciliationItem.__table__).where(ReconciliationItem.run_id == run_id)
        ).all()
    return {row.category: row for row in rows}


@pytest.fixture()
def day_of_payments(bills: Bills) -> dict[str, str]:
    """Today on the gateway: one payment matched, one billing lost, one the hub never heard of."""
    with bills.engine.begin() as conn:
        conn.execute(delete(ReconciliationItem))
        conn.execute(delete(ReconciliationRun))
    with bills.reference.begin() as conn:
        conn.execute(delete(RefPaymentOrder))
    matched, _ = bills.pay_order(DISCONNECTED)
    bills.webhook(bills.gateway.complete_order(matched["order_id"]), status=202)
    lost, _ = bills.pay_order(DUES)
    bills.webhook(bills.gateway.complete_order(lost["order_id"]), status=202)
    bills.drain()
    assert bills.payment("gateway", lost["order_id"]).state == "posted"
    with bills.reference.begin() as conn:  # billing lost this posting
        conn.execute(
            delete(RefLedgerEntry).where(
                RefLedgerEntry.reference == bills.payment("gateway", lost["order_id"]).billing_reference
            )
        )
    unheard = bills.gateway.create_order(bills.gateway.get_order(matched["order_id"]).amount, "BILL-X", "x")
    bills.gateway.complete_order(unheard.order_id)  # its webhook never reached the hub
    # The reference gateway settles a day once it is over; this one has settled today already.
    bills.gateway.settlement_delay = timedelta(days=-2)
    return {"matched": matched["order_id"], "lost": lost["order_id"], "unheard": unheard.order_id}


def test_the_worker_reconciles_the_previous_day_once_and_fails_closed(
    bills: Bills, day_of_payments: dict[str, str]
) -> None:
    registry = bills.app.app.registry
    assert RECONCILE_JOB in [job.name for job in registered(registry, PeriodicJobs)]
    daily = process_service(registry, DailyReconciliation)

    # Before the configured time (06:00 IST) the day is not due yet.
    daily.run_due(tomorrow_at(5))
    assert runs(bills, day=today()) == []
    assert len(runs(bills, day=today() - timedelta(days=1))) == 1  # the day before is

    # The gateway has not settled: nothing recorded, the day waits.
    bills.gateway.settlement_delay = timedelta(days=30)
    daily.run_due(tomorrow_at(7))
    assert runs(bills, day=today()) == []
    # Billing silent: nothing recorded either.
    bills.gateway.settlement_delay = timedelta(days=-2)
    set_down(bills.reference, "billing")
    try:
        daily.run_due(tomorrow_at(7))
    finally:
        set_down(bills.reference, "billing", down=False)
    assert runs(bills, day=today()) == []

    daily.run_due(tomorrow_at(7))
    [run] = runs(bills, day=today())
    assert run.finished_at is not None and run.started_by == "hub-worker"
    assert run.counts["matched"] == 1
    assert run.counts["missing_in_hub"] == 1
    assert run.counts["missing_in_billing"] == 1
    found = items(bills, run.id)
    assert found["missing_in_hub"].transaction_id == day_of_payments["unheard"]
    assert found["missing_in_billing"].transaction_id == day_of_payments["lost"]
    assert set(found) == {"missing_in_hub", "missing_in_billing"}

    # Once per channel and day: the next runs of the job leave it be.
    daily.run_due(tomorrow_at(8))
    daily.run_due(tomorrow_at(23))
    assert len(runs(bills, day=today())) == 1


class LedgerCutOff:
    """Billing that answers the first part of its ledger and then stops answering."""

    def __init__(self, billing: Any) -> None:
        self.billing = billing

    def payments_posted_tsv(self, day: date) -> Iterator[str]:
        for chunk in self.billing.payments_posted_tsv(day):
            yield chunk
            raise ConnectorUnavailable("billing: the ledger stopped half-way", system="billing")


def test_a_ledger_cut_off_half_way_records_nothing_and_the_day_is_asked_again(
    bills: Bills, day_of_payments: dict[str, str]
) -> None:
    daily = process_service(bills.app.app.registry, DailyReconciliation)
    bills.gateway.settlement_delay = timedelta(days=-2)
    connectors = daily.connectors
    daily.connectors = lambda system: (
        LedgerCutOff(connectors(system)) if system == "billing" else connectors(system)
    )
    try:
        daily.run_due(tomorrow_at(7))
    finally:
        daily.connectors = connectors
    assert runs(bills, day=today()) == []

    # The same connections reconcile the day cleanly once billing answers whole.
    daily.run_due(tomorrow_at(7))
    [run] = runs(bills, day=today())
    assert run.counts["matched"] == 1 and run.counts["missing_in_billing"] == 1


def test_officers_close_items_with_an_action_and_a_reason(
    bills: Bills, day_of_payments: dict[str, str], officer_app: Any
) -> None:
    process_service(bills.app.app.registry, DailyReconciliation).run_due(tomorrow_at(7))
    [run] = runs(bills, day=today())
    found = items(bills, run.id)
    unheard = found["missing_in_hub"]

    login(officer_app, "revenue.one")
    queue = officer_app.get("/console/bills/reconciliation/items")
    assert day_of_payments["unheard"] in queue.text and day_of_payments["lost"] in queue.text
    page = officer_app.get(f"/console/bills/reconciliation/items/{unheard.id}")
    assert "हब में नहीं" in page.text and "Missing in the hub" in page.text
    token = csrf(page)
    url = f"/console/bills/reconciliation/items/{unheard.id}"
    refused = officer_app.post(url, {"action": "written_off", "note": " ", "csrf_token": token}, status=409)
    assert "reason" in refused.text.lower() or "कारण" in refused.text
    officer_app.post(url, {"action": "burn_it", "note": "x", "csrf_token": token}, status=409)
    officer_app.post(url, {"action": "written_off", "note": "x", "csrf_token": "forged"}, status=403)
    officer_app.post(
        url,
        {"action": "refund_requested", "note": "gateway to refund the payer", "csrf_token": token},
        status=302,
    )
    closed = officer_app.get(url)
    assert "officer:revenue.one" in closed.text
    assert "Refund requested" in closed.text and "gateway to refund the payer" in closed.text
    assert '<form method="post" action="' + url not in closed.text  # nothing left to do
    queue = officer_app.get("/console/bills/reconciliation/items")
    assert day_of_payments["unheard"] not in queue.text and day_of_payments["lost"] in queue.text
    # Closing twice is refused; the audit log has the one closing under the officer's name.
    officer_app.post(url, {"action": "written_off", "note": "again", "csrf_token": token}, status=409)
    with bills.engine.connect() as conn:
        audited = conn.execute(
            select(AuditEntry.actor, AuditEntry.action).where(
                AuditEntry.subject_type == "reconciliation_item", AuditEntry.subject_id == str(unheard.id)
            )
        ).all()
    assert audited == [("officer:revenue.one", "bills.reconciliation_refund_requested")]

    # The officer asks for the day again: hub-worker runs it; the day's open items now stand as
    # the new run found them, the closed one stays closed.
    run_page = officer_app.get(f"/console/bills/reconciliation/{run.id}")
    officer_app.post(
        f"/console/bills/reconciliation/{run.id}/rerun", {"csrf_token": csrf(run_page)}, status=302
    )
    bills.drain()
    first, second = runs(bills, day=today())
    assert second.started_by == "officer:revenue.one"
    old = items(bills, first.id)
    assert old["missing_in_hub"].state == "closed" and old["missing_in_billing"].state == "superseded"
    assert {i.state for i in items(bills, second.id).values()} == {"open"}
    queue = officer_app.get("/console/bills/reconciliation/items")
    assert f'/console/bills/reconciliation/items/{old["missing_in_billing"].id}"' not in queue.text
    assert (
        f"/console/bills/reconciliation/items/{items(bills, second.id)['missing_in_billing'].id}"
        in queue.text
    )


def test_only_the_revenue_section_works_the_queue(bills: Bills, officer_app: Any) -> None:
    login(officer_app, "dgm.plain")
    officer_app.get("/console/bills/reconciliation/items", status=403)
    officer_app.get("/console/bills/reconciliation/items/1", status=403)


def test_hub_admin_reconciles_a_channels_day_from_its_report(
    bills: Bills, day_of_payments: dict[str, str], live_settings: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    ini = ini_file(tmp_path, {**live_settings, "hub.payment.settlement_delay_hours": "-48"})
    argv = [str(ini), "bills", "reconcile", "--channel", "gateway", "--day", today().isoformat()]
    assert hub_admin(argv) == 0
    assert '"missing_in_hub": 1' in capsys.readouterr().out
    [run] = runs(bills, day=today())
    assert run.started_by == "hub-admin"
    # A channel with no settlement report needs its file.
    assert (
        hub_admin([str(ini), "bills", "reconcile", "--channel", "counter", "--day", today().isoformat()]) == 2
    )
    set_down(bills.reference, "payment")
    try:
        assert hub_admin(argv) == 1
    finally:
        set_down(bills.reference, "payment", down=False)
    assert len(runs(bills, day=today())) == 1
