"""The revenue office's morning, on the hub as `make run` serves it: hub-worker has reconciled
yesterday for every channel that settles by itself (the gateway, the bill-payment platform, the
citizen portal), and an officer reconciles the counters' day in the console from the collection
agency's file, then finds the unmatched items in the office's queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from connectors.demo import PERSONAS
from hub.models.meta import IST
from tests.e2e.conftest import ServedHub, sign_in, until

CONSUMER = PERSONAS["disconnected_ct_meter"].consumer_numbers[0]  # no other end-to-end test reads its bill


def test_the_office_reconciles_every_channel_of_yesterday(
    served_hub: ServedHub, page: Any, tmp_path: Path
) -> None:
    yesterday = (datetime.now(UTC).astimezone(IST).date() - timedelta(days=1)).isoformat()
    # Yesterday a collection centre took two cash payments; its file reached the hub.
    agency = served_hub.client("collection-centre-e2e", "bills:counter")
    collections = (
        "receipt_no,consumer_number,amount,paid_at\n"
        f"CTR-E2E-0001,{CONSUMER},100.00,{yesterday}T10:15:00+05:30\n"
        f"CTR-E2E-0002,{CONSUMER},50.00,{yesterday}T11:30:00+05:30\n"
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
    # The daily job has run (made due now): yesterday of every channel that settles by itself.
    served_hub.run_job_now("bills.reconcile")
    until(
        "yesterday reconciled for gateway, bbps and portal",
        lambda: (
            {
                row[0]
                for row in served_hub.sql(
                    "SELECT channel FROM bill_reconciliation_runs WHERE day = :d AND finished_at IS NOT NULL",
                    d=yesterday,
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
        f"transaction_id,amount,paid_on\nCTR-E2E-0001,100.00,{yesterday}\nCTR-E2E-0099,75.00,{yesterday}\n",
        encoding="utf-8",
    )
    page.select_option("#channel", "counter")
    page.fill("#day", yesterday)
    page.set_input_files("#file", str(settlement))
    page.get_by_role("button", name="Reconcile", exact=False).click()
    page.wait_for_url(f"{served_hub.url}/console/bills/reconciliation/*")
    page.screens.shot("counter-day-reconciled")
    text = page.inner_text("main")
    assert "counter · " + yesterday in text
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
