"""An officer's day in Chromium: the work list across flows, a search, the office dashboard and its
CSV, on an office PC's screen and on a phone's, by keyboard where an officer would use it."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from connectors.demo import PERSONAS
from tests.e2e.conftest import ServedHub, sign_in

CLEAN = PERSONAS["clean"]


def _file_complaint(hub: ServedHub, client: dict[str, Any], complaint_type: str) -> dict[str, Any]:
    filed = httpx.post(
        hub.url + "/api/v1/complaints/callcentre",
        json={
            "ticket_id": "T-E2E-" + secrets.token_hex(4),
            "consumer_number": CLEAN.consumer_numbers[0],
            "complaint_type": complaint_type,
            "description": "बिजली नहीं है / no supply since morning",
        },
        headers=client["headers"],
        timeout=30,
    )
    assert filed.status_code == 201, filed.text
    return dict(filed.json())


def test_officer_finds_work_searches_and_reads_the_dashboard(served_hub: ServedHub, page: Any) -> None:
    callcentre = served_hub.client("1912 call centre (e2e console)", "complaints:callcentre complaints:read")
    first = _file_complaint(served_hub, callcentre, "supply_failure")
    second = _file_complaint(served_hub, callcentre, "line_breakdown")
    office = first["office_code"]
    username = "ae" + secrets.token_hex(3)
    served_hub.officer(username, "रमेश शर्मा", "dc_assistant_manager", office)

    for width, label in ((1280, "desktop"), (390, "phone")):
        page.set_viewport_size({"width": width, "height": 860})
        sign_in(page, served_hub, username)
        page.get_by_role("link", name="All work", exact=False).click()
        page.wait_for_url("**/console/work")
        table = page.get_by_role("table")
        text = table.inner_text()
        # What breaches first is on top: the no-supply complaint's level runs out before the line's.
        assert text.index(first["complaint_no"]) < text.index(second["complaint_no"])
        page.screens.shot(f"{label}-work-list")

        # Search by keyboard: focus the labelled box, type the complaint number, Enter.
        page.get_by_role("searchbox").focus()
        page.keyboard.type(first["complaint_no"])
        page.keyboard.press("Enter")
        page.wait_for_url("**q=*")
        rows = page.locator("tbody tr")
        assert rows.count() == 1 and first["complaint_no"] in rows.first.inner_text()
        assert "IST" in rows.first.inner_text()
        page.screens.shot(f"{label}-search")

        page.get_by_role("link", name="Dashboard", exact=False).first.click()
        page.wait_for_url("**/console/dashboard")
        assert int(page.locator("#open-total").inner_text()) >= 2
        assert page.get_by_role("img", name="Open complaints by age", exact=False).is_visible()
        assert page.get_by_role("table").count() == 2
        # Nothing wider than the screen but the tables' own scrolling regions.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screens.shot(f"{label}-dashboard")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV", exact=False).click()
        assert download.value.suggested_filename.endswith(".csv")

        page.get_by_role("button", name="Sign out", exact=False).click()
        page.wait_for_url("**/console/login")
