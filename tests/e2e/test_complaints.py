"""A complaint's life on the served hub: the 1912 call centre files it, its level's time and then its
standard run out under hub-worker, an officer closes it in Chromium, the consumer reopens it from
the portal; the compensation for the missed standard is credited in billing once, and the case
file for the forum comes from the case page."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

import httpx

from connectors.demo import PERSONAS
from hub.complaints import STANDARDS_JOB
from hub.db import make_engine
from hub.models.meta import utcnow
from hub.workflow import ESCALATION_JOB
from tests.e2e.conftest import ServedHub, sign_in

COMPLAINTS = "/api/v1/complaints"


def _wait(predicate: Any, what: str, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"hub-worker did not {what} within {seconds} s")


def _standard_passed(hub: ServedHub, complaint_no: str, hours_ago: float) -> None:
    """The hours pass: the complaint was registered long enough ago that its standard ran out."""
    from sqlalchemy import update

    from hub.models.complaint import Complaint
    from hub.models.workflow import WorkflowCase

    due = utcnow() - timedelta(hours=hours_ago)
    engine = make_engine(hub.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(Complaint).where(Complaint.complaint_no == complaint_no).values(sop_due_at=due)
            )
            conn.execute(
                update(WorkflowCase)
                .where(WorkflowCase.subject_id == complaint_no)
                .values(statutory_due_at=due)
            )
    finally:
        engine.dispose()


def test_a_complaint_from_1912_breaches_escalates_closes_and_reopens(
    served_hub: ServedHub, page: Any
) -> None:
    persona = PERSONAS["clean"]
    number, mobile = persona.consumer_numbers[0], persona.mobile
    callcentre = served_hub.client("1912 call centre", "complaints:callcentre complaints:read")
    portal = served_hub.client("Discom portal (complaints)", "complaints:consumer")

    ticket = "1912-" + secrets.token_hex(5)
    body = {
        "ticket_id": ticket,
        "consumer_number": number,
        "complaint_type": "supply_failure",
        "description": "पूरे घर की बिजली रात 9 बजे से बंद / no supply since 9 pm",
    }
    filed = httpx.post(
        served_hub.url + COMPLAINTS + "/callcentre", json=body, headers=callcentre["headers"], timeout=30
    )
    assert filed.status_code == 201, filed.text
    complaint_no = filed.json()["complaint_no"]
    # The call centre's retry of the same ticket is the same complaint.
    again = httpx.post(
        served_hub.url + COMPLAINTS + "/callcentre", json=body, headers=callcentre["headers"], timeout=30
    )
    assert again.status_code == 200 and again.json()["complaint_no"] == complaint_no

    def status() -> dict[str, Any]:
        answer = httpx.get(
            f"{served_hub.url}{COMPLAINTS}/{complaint_no}", headers=callcentre["headers"], timeout=30
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def texts(template: str) -> list[str]:
        rows = served_hub.reference_sql(
            "SELECT text FROM ref_sms_message WHERE mobile = :m AND template_name = :t ORDER BY id",
            m=mobile,
            t=template,
        )
        return [r[0] for r in rows if complaint_no in r[0]]

    _wait(lambda: len(texts("complaint_registered")) == 1, "send the complaint number by SMS")
    office = status()["office_code"]
    served_hub.officer("am" + complaint_no[-6:], "रमेश यादव", "dc_assistant_manager", office)
    served_hub.officer("mgr" + complaint_no[-6:], "Anita Sharma", "dc_manager", office)
    served_hub.officer("dgm" + complaint_no[-6:], "सुनील वर्मा", "dgm", office)

    # The assistant manager's queue has it.
    sign_in(page, served_hub, "am" + complaint_no[-6:])
    assert complaint_no in page.inner_text("main")
    page.screens.shot("assistant-manager-queue")
    page.get_by_role("button", name="Sign out", exact=False).click()

    # Two hours with nobody on it: the level's time runs out and hub-worker hands it to the manager.
    now = utcnow()
    served_hub.shift_case(complaint_no, due_at=now - timedelta(minutes=5))
    served_hub.run_job_now(ESCALATION_JOB)
    _wait(lambda: status()["with_role"] == "dc_manager", "escalate the complaint to the manager")
    _wait(lambda: len(texts("complaint_update")) == 1, "tell the consumer who holds it now")

    # Its standard (4 h) passes too, 7 h ago: hub-worker records the breach and hands it up again, once.
    _standard_passed(served_hub, complaint_no, hours_ago=7)
    served_hub.run_job_now(STANDARDS_JOB)
    _wait(lambda: status()["history"][-1]["action"] == "statutory_breach", "record the missed standard")
    assert status()["with_role"] == "dgm"

    # The DGM closes it in the console, with the action taken.
    sign_in(page, served_hub, "dgm" + complaint_no[-6:])
    row = page.locator("tr", has_text=complaint_no)
    row.get_by_role("link").first.click()
    page.wait_for_selector("h1")
    assert "Standard of performance" in page.inner_text("main")
    page.screens.shot("dgm-case")
    page.fill("#reason", "सर्विस लाइन जोड़ी गई / service line rejoined at pole 17")
    page.get_by_role("button", name="Resolve", exact=False).click()
    page.wait_for_url(f"{served_hub.url}/console*")
    page.screens.shot("dgm-resolved")
    answer = status()
    assert answer["status"] == "resolved" and answer["action_taken"].endswith("rejoined at pole 17")
    # Resolved after its standard: ₹50 for each started 6 hours late (7 h: two), credited once.
    assert answer["compensation"] == "100.00"

    def credits() -> list[Any]:
        return served_hub.reference_sql(
            "SELECT amount_paise FROM ref_ledger_entry WHERE reference = :r", r=f"COMP/{complaint_no}"
        )

    _wait(lambda: credits() == [(-10000,)], "credit the compensation in billing")
    _wait(lambda: len(texts("complaint_compensation")) == 1, "tell the consumer of the compensation")
    _wait(lambda: len(texts("complaint_resolved")) == 1, "tell the consumer of the resolution")

    # The case file for the forum from the case page: a signed PDF.
    page.goto(
        f"{served_hub.url}/console/cases/{served_hub.sql('SELECT id FROM workflow_cases WHERE subject_id = :s', s=complaint_no)[0][0]}"
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Case file", exact=False).click()
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF") and b"/ByteRange" in pdf

    # Not satisfied: the consumer reopens it from the portal; it is back with the assistant manager.
    reopened = httpx.post(
        f"{served_hub.url}{COMPLAINTS}/{complaint_no}/reopen",
        json={"consumer_number": number, "reason": "फिर से बिजली बंद / supply failed again"},
        headers=portal["headers"],
        timeout=30,
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "open" and reopened.json()["with_role"] == "dc_assistant_manager"
    page.get_by_role("button", name="Sign out", exact=False).click()
    sign_in(page, served_hub, "am" + complaint_no[-6:])
    assert complaint_no in page.inner_text("main")
    page.screens.shot("assistant-manager-reopened")
    # Compensation is paid once per complaint, reopened or not.
    time.sleep(2)
    assert credits() == [(-10000,)]
