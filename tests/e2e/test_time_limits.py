"""Time limits as hub-worker enforces them on the served hub: a stage overdue goes up a level, and a
statutory date passed goes up again and is reported to the single window, once."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from hub.connections import STATUTORY_JOB
from hub.models.meta import utcnow
from hub.workflow import ESCALATION_JOB
from tests.e2e.conftest import ServedHub, file_connection, sign_in

APPLICATIONS = "/api/v1/connections/applications"


def _wait(predicate: Any, what: str, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"hub-worker did not {what} within {seconds} s")


def test_overdue_and_statutory_breach_reach_the_senior_officers_and_the_single_window(
    served_hub: ServedHub, page: Any
) -> None:
    portal, sw_id, number = file_connection(served_hub)
    served_hub.officer("dgm101", "Suresh Verma", "dgm", "DC-101")
    served_hub.officer("gm101", "महेश गुप्ता", "gm", "DC-101")

    def case() -> dict[str, Any]:
        rows = served_hub.sql(
            "SELECT assigned_role, escalation_level FROM workflow_cases WHERE subject_id = :s", s=number
        )
        return {"role": rows[0][0], "level": rows[0][1]}

    # Two days pass with the documents unread: the stage is overdue and goes to the DGM.
    now = utcnow()
    served_hub.shift_case(number, due_at=now - timedelta(hours=1), state_entered_at=now - timedelta(days=2))
    served_hub.run_job_now(ESCALATION_JOB)
    _wait(lambda: case()["role"] == "dgm", "escalate the overdue stage to the DGM")
    sign_in(page, served_hub, "dgm101")
    page.screens.shot("dgm-queue")
    assert number in page.inner_text("table")
    page.get_by_role("button", name="Sign out", exact=False).click()

    # The statutory date passes too: the GM has it, marked, and the single window is told once.
    served_hub.shift_case(number, statutory_due_at=utcnow() - timedelta(minutes=5))
    served_hub.run_job_now(STATUTORY_JOB)

    def breach_notices() -> list[dict[str, Any]]:
        rows = served_hub.reference_sql(
            "SELECT details FROM ref_sw_delivery WHERE application_id = :a", a=sw_id
        )
        return [d for d in (json.loads(r[0]) for r in rows) if d.get("statutory_breached")]

    _wait(lambda: len(breach_notices()) == 1, "tell the single window of the statutory breach")
    assert case()["role"] == "gm"
    sign_in(page, served_hub, "gm101")
    page.screens.shot("gm-queue")
    row = page.locator("tr", has_text=number)
    assert "statutory date passed" in row.inner_text()
    served_hub.run_job_now(STATUTORY_JOB)
    time.sleep(7)  # a further run of the watch finds nothing new to report
    assert len(breach_notices()) == 1
