"""The energy audit on the served hub: hub-worker reads the GIS's feed and audits last month of the
demo data on its own; every row matches the month computed here from the reference systems' raw
rows; an officer drills down from the discom to a transformer in Chromium; the public page shows a
distribution centre's figures."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from hub.db import make_engine
from hub.energy import AUDIT_JOB
from hub.energy.service import INDIA, previous_month
from tests.e2e.conftest import ServedHub, sign_in
from tests.hub.energy.test_audit import RESULT_KEYS, expected_month

LEVELS = ("circle", "division", "dc", "feeder", "dt")


def test_last_month_is_audited_as_the_raw_rows_say_and_drills_down_to_a_dt(
    served_hub: ServedHub, page: Any
) -> None:
    period = previous_month(datetime.now(INDIA).date())
    reader = served_hub.client("Energy audit cell", "energy:read")
    served_hub.run_job_now(AUDIT_JOB)

    def state() -> str | None:
        answer = httpx.get(f"{served_hub.url}/api/v1/energy/audits", headers=reader["headers"], timeout=30)
        assert answer.status_code == 200, answer.text
        month = next((a for a in answer.json()["audits"] if a["period"] == period), None)
        return None if month is None else str(month["state"])

    deadline = time.monotonic() + 90
    while state() != "computed":
        assert time.monotonic() < deadline, f"hub-worker did not audit {period}: {state()}"
        time.sleep(1)

    columns = ", ".join(RESULT_KEYS)
    got = {
        (row[0], row[1]): dict(zip(RESULT_KEYS, row[2:], strict=True))
        for row in served_hub.sql(
            f"SELECT level, code, {columns} FROM energy_audit_results WHERE period = :p", p=period
        )
    }
    reference = make_engine(served_hub.reference_url, pool_size=1)
    try:
        expected = expected_month(reference, period)
    finally:
        reference.dispose()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == value, key

    # An officer goes from the work queue to the report and down to one transformer.
    served_hub.officer("ee.energy", "राकेश मीणा", "dc_office_assistant", "DC-101")
    sign_in(page, served_hub, "ee.energy")
    page.get_by_role("link", name="Energy audit", exact=False).click()
    page.wait_for_selector("h2")
    assert period in page.inner_text("main")
    page.screens.shot("discom")
    for level in LEVELS:
        rows = page.locator("table tbody tr")
        # The first row below with consumers billed (the report lists every node, empty ones too).
        target = next(
            rows.nth(i)
            for i in range(rows.count())
            if rows.nth(i).locator("td").nth(7).inner_text() != "0.00"
        )
        code = target.locator("a").first.inner_text()
        target.locator("a").first.click()
        page.wait_for_url(lambda url, code=code: f"code={code}" in url)
        heading = page.inner_text("h2")
        assert code in heading, (level, heading)
        if level in ("dc", "dt"):
            page.screens.shot(level)
        if level == "dc":
            dc = code
    assert page.locator("table tbody tr").count() == 0  # a transformer has nothing below it

    # The public page of that distribution centre, as the discom publishes it: no sign-in.
    public = httpx.get(f"{served_hub.url}/energy-audit/dc/{dc}", timeout=30)
    assert public.status_code == 200 and dc in public.text and period in public.text
