"""The revenue office's morning, on the hub as `make run` serves it: hub-worker has reconciled
the latest day due (yesterday, once 06:00 IST has passed) for every channel that settles by
itself (the gateway, the bill-payment platform, the citizen portal), and an officer reconciles
the counters' day in the console from the collection agency's file, then finds the unmatched
items in the office's queue."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx

from connectors.demo import PERSONAS
from hub.models.meta import IST
from tests.e2e.conftest import ServedHub, sign_in, until

RECONCILE_AT = time(6, 0)
CONSUMER = PERSONAS["disconnected_ct_meter"].consumer_numbers[0]  # no other end-to-end test reads its bill


def test_the_office_reconciles_every_channel_of_the_latest_day(
    served_hub: ServedHub, page: Any, tmp_path: Path
) -> None:
    # The latest day hub-worker reconciles now: yesterday once hub.bills.reconcile_at (06:00 IST
    # as `make run` has it) has passed, the day before until then.
    now = datetime.now(UTC).astimezone(IST)
    day = (now.date() - timedelta(days=1 if now.time() >= RECONCILE_AT else 2)).isoformat()
    # That day a collection centre took two cash payments; its file reached the hub.
    agency = served_hub.client("collection-centre-e2e", "bills:counter")
    collections = (
        "receipt_no,consumer_number,amount,paid_at\n"
        f"CTR-E2E-0001,{CONSUMER},100.00,{day}T10:15:00+05:30\n"
        f"CTR-E2E-0002,{CONSUMER},50.00,{day}T11:30:00+05:30\n"
    )
    sent = httpx.post(
        f"{served_hub.url}/api/v1/bills/payments/counter",
        content=collections.encode(),
        headers={**agency["headers"], "Content-Type": "text/csv"},
        timeout=10,
    )
    assert sent.status_code in (200, 202), sent.text
    until(
        "hub-worker posts both to billing",
        lambda: (
            served_hub.sql(
                "SELECT COUNT(*) FROM bill_payments WHERE channel = 'counter' AND state = 'posted' "
                "AND transaction_id LIKE 'CTR-E2E-%'"
            )[0][0]
            == 2
        ),
    )
    # The daily job has run (made due now): the day of every channel that settles by itself.
    served_hub.run_job_now("bills.reconcile")
    until(
        "the day reconciled for gateway, bbps and portal",
        lambda: (
            {
                row[0]
                for row in served_hub.sql(
                    "SELECT channel FROM bill_reconciliation_runs WHERE day = :d AND finished_at IS NOT NULL",
                    d=day,
                )
            }
            >= {"gateway", "bbps", "portal"}
        ),
    )

    served_hub.officer("revenue.e2e", "सुनीता वर्मा", "revenue", "DIV-BPL-1")
    sign_in(page, served_hub, "revenue.e2e")
    page.goto(f"{served_hub.url}/console/bills/reconciliation")
    for channel in ("gateway", "bbps", "portal"):
        assert page.get_by_role("link", name=channel, exact=True).count() >= 1
    page.screens.shot("reconciliation-runs")

    # The agency's settlement: the first receipt, and one the hub never heard of.
    settlement = tmp_path / "agency-settlement.csv"
    settlement.write_text(
        f"transaction_id,amount,paid_on\nCTR-E2E-0001,100.00,{day}\nCTR-E2E-0099,75.00,{day}\n",
        encoding="utf-8",
    )
    page.select_option("#channel", "counter")
    page.fill("#day", day)
    page.set_input_files("#file", str(settlement))
    page.get_by_role("button", name="Reconcile", exact=False).click()
    page.wait_for_url(f"{served_hub.url}/console/bills/reconciliation/*")
    page.screens.shot("counter-day-reconciled")
    text = page.inner_text("main")
    assert "counter · " + day in text
    assert "CTR-E2E-0099" in text and "CTR-E2E-0002" in text
    assert "officer:revenue.e2e" in text
    # The unmatched items are the office's work.
    page.goto(f"{served_hub.url}/console/bills/reconciliation/items")
    assert "CTR-E2E-0099" in page.inner_text("main")
    page.screens.shot("office-queue")
    # And in the officer's work list across flows, found by its transaction id.
    page.goto(f"{served_hub.url}/console/work")
    page.get_by_role("searchbox").fill("CTR-E2E-0099")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=*")
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "Missing in the hub" in rows.first.inner_text()
    page.screens.shot("work-list-unmatched")
