"""Daily reconciliation through hub-admin: every category found, shown in the console, as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from connectors.billing.tables import RefLedgerEntry
from hub.cli import main as hub_admin
from hub.models.bills import (
    BillPayment,
    ReconciliationItem,
    ReconciliationRun,
    ledger_lines,
    settlement_lines,
)
from hub.models.meta import IST
from tests.hub.bills.conftest import DUES, Bills, login


def counter_file(rows: list[tuple[str, str]]) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    lines = ["receipt_no,consumer_number,amount,paid_at"] + [f"{r},{DUES},{a},{now}" for r, a in rows]
    return ("\n".join(lines) + "\n").encode()


def ini_file(tmp_path: Path, settings: dict[str, Any]) -> Path:
    ini = tmp_path / "hub.ini"
    lines = ["[app:main]", "use = egg:discom-hub"]
    lines += [f"{k} = {v.replace('%', '%%')}" for k, v in settings.items() if isinstance(v, str)]
    ini.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ini


def test_every_category_is_found_and_becomes_office_work(
    bills: Bills,
    live_settings: dict[str, Any],
    tmp_path: Path,
    officer_app: Any,
    capsys: Any,
) -> None:
    headers = {**bills.headers("bills:counter"), "Content-Type": "text/csv"}
    payments = [("C-1", "100.00"), ("C-2", "200.00"), ("C-3", "300.00"), ("C-4", "400.00"), ("C-5", "50.00")]
    payments.append(("C-6", "9999.00"))  # more than owed: suspense
    bills.app.post("/api/v1/bills/payments/counter", counter_file(payments), headers=headers, status=202)
    bills.drain()
    assert bills.payment("counter", "C-6").state == "suspense"
    # Billing lost C-5's posting (its ledger no longer has it).
    with bills.reference.begin() as conn:
        conn.execute(
            delete(RefLedgerEntry).where(
                RefLedgerEntry.reference == f"HUB-counter-{bills.payment('counter', 'C-5').id}"
            )
        )
    day = datetime.now(UTC).astimezone(IST).date().isoformat()
    settlement = tmp_path / "counter.csv"
    settlement.write_text(
        "transaction_id,amount,paid_on\n"
        f"C-1,100.00,{day}\n"  # matched
        f"C-2,250.00,{day}\n"  # amount differs
        f"C-4,400.00,{day}\n"  # duplicate at the channel
        f"C-4,400.00,{day}\n"
        f"C-5,50.00,{day}\n"  # missing in billing
        f"C-6,9999.00,{day}\n"  # in suspense
        f"C-9,75.00,{day}\n"  # missing in the hub
        "garbage line\n",  # C-3 is missing at the channel
        encoding="utf-8",
    )
    ini = ini_file(tmp_path, live_settings)
    assert (
        hub_admin(
            [str(ini), "bills", "reconcile", "--channel", "counter", "--day", day, "--file", str(settlement)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert '"matched": 1' in printed
    with bills.engine.connect() as conn:
        run = conn.execute(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(1)).one()
        assert conn.execute(select(settlement_lines)).first() is None  # staging emptied
        assert conn.execute(select(ledger_lines)).first() is None
    counts = run.counts
    assert counts == {
        "matched": 1,
        "missing_in_hub": 1,
        "missing_at_channel": 1,
        "missing_in_billing": 1,
        "amount_differs": 1,
        "duplicate_at_channel": 1,
        "not_yet_posted": 0,
        "in_suspense": 1,
        "billing_only": 0,
        "unreadable_line": 1,
    }
    assert run.lines == 8  # lines after the header

    login(officer_app, "revenue.one")
    page = officer_app.get(f"/console/bills/reconciliation/{run.id}")
    assert "राशि भिन्न" in page.text and "Missing in billing" in page.text
    assert "C-9" in page.text and "line 9" in page.text
    listing = officer_app.get("/console/bills/reconciliation")
    assert f"/console/bills/reconciliation/{run.id}" in listing.text
    report = officer_app.get(f"/console/bills/reconciliation/{run.id}/report.csv")
    assert report.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report.text)))
    by_txn = {(r["category"], r["transaction_id"]): r for r in rows}
    assert by_txn[("amount_differs", "C-2")]["channel_amount"] == "250.00"
    assert by_txn[("amount_differs", "C-2")]["hub_amount"] == "200.00"
    assert ("missing_at_channel", "C-3") in by_txn
    assert ("missing_in_billing", "C-5") in by_txn
    assert len(rows) == 7
    officer_app.get("/console/bills/reconciliation/999999", status=404)


def test_a_file_without_its_header_is_refused(
    bills: Bills, live_settings: dict[str, Any], tmp_path: Path
) -> None:
    settlement = tmp_path / "bad.csv"
    settlement.write_text("C-1,100.00,2026-12-01\n", encoding="utf-8")
    ini = ini_file(tmp_path, live_settings)
    argv = [
        str(ini),
        "bills",
        "reconcile",
        "--channel",
        "bbps",
        "--day",
        "2026-12-01",
        "--file",
        str(settlement),
    ]
    assert hub_admin(argv) == 2


@pytest.mark.parametrize("twice", [False, True], ids=["distinct", "a line twice"])
def test_a_plain_file_matches_a_payment_of_an_earlier_day_and_finds_billing_only_postings(
    bills: Bills, live_settings: dict[str, Any], tmp_path: Path, capsys: Any, twice: bool
) -> None:
    """Every line plain (PostgreSQL takes the file as CSV fields; its lines are its transactions,
    or grouped when an id is on two lines): a payment the file settles that was paid weeks
    before the file's day is matched, not missing in the hub; a posting of the channel in
    billing's ledger with no payment of the day behind it is billing-only."""
    headers = {**bills.headers("bills:counter"), "Content-Type": "text/csv"}
    payments = [("E-1", "100.00"), ("E-2", "200.00"), ("E-3", "300.00")]
    bills.app.post("/api/v1/bills/payments/counter", counter_file(payments), headers=headers, status=202)
    bills.drain()
    today = datetime.now(UTC).astimezone(IST).date()
    earlier = bills.payment("counter", "E-2")
    with bills.engine.begin() as conn:
        conn.execute(
            update(BillPayment).where(BillPayment.id == earlier.id).values(paid_on=today - timedelta(days=40))
        )
    with bills.reference.begin() as conn:
        conn.execute(
            insert(RefLedgerEntry).values(
                consumer_number=DUES,
                entry_date=today,
                kind="payment",
                amount_paise=-4200,
                reference="HUB-counter-999999",
                posted_at=datetime.now(UTC),
            )
        )
    settlement = tmp_path / "counter.csv"
    settlement.write_text(
        "transaction_id,amount,paid_on\n"
        f"E-1,100.00,{today}\n"
        f"E-2,200.00,{today - timedelta(days=40)}\n"
        f"E-3,300.00,{today}\n" + (f"E-3,300.00,{today}\n" if twice else ""),
        encoding="utf-8",
    )
    ini = ini_file(tmp_path, live_settings)
    argv = [str(ini), "bills", "reconcile", "--channel", "counter", "--day", today.isoformat()]
    assert hub_admin([*argv, "--file", str(settlement)]) == 0
    capsys.readouterr()
    with bills.engine.connect() as conn:
        run = conn.execute(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(1)).one()
        items = conn.execute(
            select(ReconciliationItem.category, ReconciliationItem.transaction_id).where(
                ReconciliationItem.run_id == run.id
            )
        ).all()
    # E-2's posting is billing's of today, for a payment of an earlier day: billing-only as well.
    expected = [("billing_only", "HUB-counter-999999"), ("billing_only", f"HUB-counter-{earlier.id}")]
    if twice:
        expected.append(("duplicate_at_channel", "E-3"))
    assert sorted(items) == sorted(expected)
    assert run.counts["matched"] == (2 if twice else 3)
    assert run.counts["missing_in_hub"] == 0
    assert run.lines == (4 if twice else 3)


def test_a_file_that_is_not_plain_csv_is_read_line_by_line_with_the_same_answer(
    bills: Bills, live_settings: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    """Quotes around a field, blanks, a blank line and a backslash: PostgreSQL's first reading (CSV
    fields) is given up and the lines are read whole; each unreadable line is found with its number."""
    headers = {**bills.headers("bills:counter"), "Content-Type": "text/csv"}
    bills.app.post(
        "/api/v1/bills/payments/counter",
        counter_file([("Q-1", "100.00"), ("Q-2", "200.00"), ("Q-3", "300.00")]),
        headers=headers,
        status=202,
    )
    bills.drain()
    today = datetime.now(UTC).astimezone(IST).date()
    settlement = tmp_path / "counter.csv"
    settlement.write_text(
        "transaction_id,amount,paid_on\n"
        f'"Q-1","100.00",{today}\n'  # line 2
        "\n"  # line 3: blank, skipped
        f" Q-2 , 200.00 ,{today}\n"  # line 4
        f"Q-\\3,300.00,{today}\n"  # line 5: a backslash in the id
        f"Q-3,300.00,{today}\n",  # line 6
        encoding="utf-8",
    )
    ini = ini_file(tmp_path, live_settings)
    argv = [str(ini), "bills", "reconcile", "--channel", "counter", "--day", today.isoformat()]
    assert hub_admin([*argv, "--file", str(settlement)]) == 0
    capsys.readouterr()
    with bills.engine.connect() as conn:
        run = conn.execute(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(1)).one()
        items = conn.execute(
            select(ReconciliationItem.category, ReconciliationItem.transaction_id).where(
                ReconciliationItem.run_id == run.id
            )
        ).all()
    assert items == [("unreadable_line", "line 5")]
    assert run.counts["matched"] == 3
    assert run.lines == 4
