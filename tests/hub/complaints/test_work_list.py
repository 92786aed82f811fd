"""The officer's work list across flows and the office dashboard, driven through the console."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import update

from hub.complaints.dashboard import bar_chart
from hub.models.complaint import Complaint
from hub.models.meta import utcnow
from hub.models.workflow import WorkflowCase
from tests.hub.complaints.conftest import ComplaintFlow

DASH_OFFICE = "DC-DASH-1"
ROW_LINK = re.compile(r'<td><a href="/console/cases/\d+">([^<]+)</a>')


def test_work_list_sorts_by_breach_filters_and_searches(flow: ComplaintFlow) -> None:
    number, mobile = flow.persona("clean")
    dc = flow.dc_of(number)
    first = flow.call(status=201).json["complaint_no"]
    second = flow.call(status=201, complaint_type="line_breakdown").json["complaint_no"]
    officer = flow.officer(["dc_assistant_manager"], [dc])
    stranger = flow.officer(["dc_assistant_manager"], ["DC-NOWHERE-9"])

    page = officer.get("/console/work")
    assert page.status_int == 200
    listed = ROW_LINK.findall(page.text)
    # supply_failure's level is due in 2 h, line_breakdown's in 6 h: the first breaches first.
    assert listed.index(first) < listed.index(second)
    assert "शिकायतें" in page.text and "Complaints" in page.text and "IST" in page.text
    assert 'role="search"' in page.text and '<label for="q">' in page.text
    # The mobile is shown masked, never whole.
    assert mobile not in page.text and mobile[-4:] in page.text

    # The second becomes overdue: it now comes first, and the overdue filter keeps only it.
    flow.level_time_runs_out(second)
    listed = ROW_LINK.findall(officer.get("/console/work").text)
    assert listed.index(second) < listed.index(first)
    assert ROW_LINK.findall(officer.get("/console/work", {"overdue": "1"}).text) == [second]

    # Search by complaint number, consumer number and mobile finds it; other flows find nothing.
    assert ROW_LINK.findall(officer.get("/console/work", {"q": first}).text) == [first]
    assert {first, second} <= set(ROW_LINK.findall(officer.get("/console/work", {"q": number}).text))
    assert {first, second} <= set(ROW_LINK.findall(officer.get("/console/work", {"q": mobile}).text))
    assert ROW_LINK.findall(officer.get("/console/work", {"q": first, "flow": "nodues"}).text) == []
    assert ROW_LINK.findall(officer.get("/console/work", {"q": first, "flow": "complaints"}).text) == [first]
    assert ROW_LINK.findall(officer.get("/console/work", {"q": first, "status": "open"}).text) == [first]

    # Hostile or odd input is a filter that matches nothing, never an error.
    odd = officer.get("/console/work", {"q": "' OR 1=1 --", "page": "-3", "flow": "<x>", "office": "शाखा"})
    assert odd.status_int == 200 and ROW_LINK.findall(odd.text) == [] and 'role="alert"' in odd.text
    devanagari = officer.get("/console/work", {"q": "शिकायत१२३"})
    assert devanagari.status_int == 200 and "<x>" not in odd.text

    # Another office's officer sees none of it, even searching for it.
    assert ROW_LINK.findall(stranger.get("/console/work", {"q": first}).text) == []


def test_work_list_pages(flow: ComplaintFlow) -> None:
    number, _ = flow.persona("clean")
    dc = flow.dc_of(number)
    filed = [flow.call(status=201).json["complaint_no"] for _ in range(27)]
    officer = flow.officer(["dc_assistant_manager"], [dc])
    page_one = officer.get("/console/work", {"q": number})
    assert "page 1 of 2" in page_one.text and 'rel="next"' in page_one.text
    page_two = officer.get("/console/work", {"q": number, "page": "2"})
    seen = ROW_LINK.findall(page_one.text) + ROW_LINK.findall(page_two.text)
    assert len(seen) == len(set(seen)) and set(filed) <= set(seen)
    # A page past the end shows the last one.
    assert ROW_LINK.findall(
        officer.get("/console/work", {"q": number, "page": "99"}).text
    ) == ROW_LINK.findall(page_two.text)


def test_dashboard_counts_pendency_standards_breaches_and_compensation(flow: ComplaintFlow) -> None:
    in_time = flow.call(status=201).json["complaint_no"]
    late = flow.call(status=201).json["complaint_no"]
    open_breached = flow.call(status=201, complaint_type="line_breakdown").json["complaint_no"]
    within = flow.call(status=201).json["complaint_no"]  # open, within its standard
    now = utcnow()
    with flow.engine.begin() as conn:
        # An office of their own, so the module's other complaints do not count here.
        conn.execute(
            update(Complaint)
            .where(Complaint.complaint_no.in_([in_time, late, open_breached, within]))
            .values(office_code=DASH_OFFICE)
        )
        conn.execute(
            update(Complaint)
            .where(Complaint.complaint_no == in_time)
            .values(resolved_at=now, state="resolved")
        )
        conn.execute(
            update(Complaint)
            .where(Complaint.complaint_no == late)
            .values(
                resolved_at=now,
                state="resolved",
                sop_due_at=now.replace(year=now.year - 1),
                compensation_amount=50,
                compensation_receipt="R-1",
            )
        )
        conn.execute(
            update(Complaint)
            .where(Complaint.complaint_no == open_breached)
            .values(
                sop_due_at=now.replace(year=now.year - 1),
                registered_at=now.replace(year=now.year - 1),
                level=2,
            )
        )
        conn.execute(update(WorkflowCase).where(WorkflowCase.subject_id == in_time).values(closed_at=now))
    dgm = flow.officer(["dgm"], [DASH_OFFICE])
    page = dgm.get("/console/dashboard")
    assert re.search(r'id="open-total">2<', page.text)
    assert re.search(r'id="breaches">2<', page.text)
    assert re.search(r'id="compensation">₹50.00<', page.text)
    assert 'role="img"' in page.text and "<title" in page.text and "<caption" in page.text
    assert "Pendency by age and level" in page.text and "मानकों के विरुद्ध प्रदर्शन" in page.text
    assert "Level 2" in page.text and "over 7 days" in page.text
    assert "No supply" in page.text and "विद्युत आपूर्ति बंद" in page.text  # the standards file's names

    exported = dgm.get("/console/dashboard.csv", {"office": DASH_OFFICE})
    assert exported.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.body.decode("utf-8-sig"))))
    standards = {r[1]: r for r in rows if r and r[0] == "standard"}
    supply = standards["supply_failure"]
    assert supply[2:7] == ["3", "1", "1", "1", "0"] and supply[7] == "50" and supply[9] == "50.00"
    assert standards["line_breakdown"][6] == "1"
    assert any(r[:3] == ["pendency", "7 दिन से अधिक", "over 7 days"] for r in rows)

    # An office not the officer's is not shown: the dashboard stays on their own offices.
    other = dgm.get("/console/dashboard.csv", {"office": "DC-ELSEWHERE-1"})
    assert DASH_OFFICE in other.body.decode("utf-8-sig").splitlines()[0]
    # Signed out: back to sign-in.
    assert flow.app.get("/console/dashboard", status=302).location.endswith("/console/login")


def test_dashboard_of_a_circle_covers_every_distribution_centre_below_it(flow: ComplaintFlow) -> None:
    from sqlalchemy.orm import Session

    from hub.offices import load_offices

    with Session(flow.engine) as session, session.begin():
        load_offices(
            session,
            [
                {"code": "CIR-JUR", "level": "circle", "parent_code": ""},
                {"code": "DIV-JUR-1", "level": "division", "parent_code": "CIR-JUR"},
                {"code": "DIV-JUR-2", "level": "division", "parent_code": "CIR-JUR"},
                {"code": "ZON-JUR-1A", "level": "zone", "parent_code": "DIV-JUR-1"},
                {"code": "ZON-JUR-2A", "level": "zone", "parent_code": "DIV-JUR-2"},
                {"code": "DC-JUR-1", "level": "dc", "parent_code": "ZON-JUR-1A"},
                {"code": "DC-JUR-2", "level": "dc", "parent_code": "ZON-JUR-2A"},
                {"code": "DC-JUR-3", "level": "dc", "parent_code": "ZON-JUR-2A"},
            ],
        )
    placed = {"DC-JUR-1": 1, "DC-JUR-2": 2, "DC-JUR-3": 1}
    filed = {
        office: [flow.call(status=201).json["complaint_no"] for _ in range(n)] for office, n in placed.items()
    }
    with flow.engine.begin() as conn:
        for office, numbers in filed.items():
            conn.execute(
                update(Complaint).where(Complaint.complaint_no.in_(numbers)).values(office_code=office)
            )

    def open_total(offices: list[str], **query: str) -> int:
        found = re.search(
            r'id="open-total">(\d+)<', flow.officer(["se"], offices).get("/console/dashboard", query).text
        )
        assert found is not None
        return int(found.group(1))

    assert open_total(["CIR-JUR"]) == 4
    assert open_total(["DIV-JUR-2"]) == 3
    assert open_total(["DIV-JUR-1"]) == 1
    # One of the officer's offices chosen: that office and those below it.
    assert open_total(["DIV-JUR-1", "DIV-JUR-2"], office="DIV-JUR-1") == 1
    exported = flow.officer(["se"], ["CIR-JUR"]).get("/console/dashboard.csv")
    first = exported.body.decode("utf-8-sig").splitlines()[0]
    assert all(code in first for code in placed)


def test_chart_escapes_its_labels() -> None:
    chart = str(bar_chart("c", "<t>", [("<script>", 1.0, "1")]))
    assert "<script>" not in chart and "&lt;script&gt;" in chart
