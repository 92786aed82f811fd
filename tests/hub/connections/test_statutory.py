"""The statutory date of a new connection: stage limits inside it, the worker's watch, the console's clocks.

LIVE mode (tests/hub/connections/conftest.py): the single window files over
REST, hub-worker's periodic job and outbox delivery run as the worker runs
them, and the fake single window records every signed callback. Time moves
the way the other time-limit tests move it: a case is filed, then its clock
is set back as if it had been filed days ago.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from webtest import TestApp

from forms.newconnection.workflow import WORKFLOW_NAME
from hub.connections.config import AREA_CLASSES
from hub.console.officers import create_officer
from hub.lookup import process_service, registered
from hub.models import AuditEntry, JobLease
from hub.models.connection import ConnectionApplication
from hub.models.workflow import WorkflowBreach, WorkflowCase
from hub.periodic import PeriodicJob, PeriodicJobs, run_due_jobs
from hub.systems import Connectors
from hub.workflow import WorkflowRegistry
from tests.connectors.fake_singlewindow import FakeSingleWindow
from tests.hub.connections.conftest import Hub
from tests.hub.connections.samples import lt_industrial_form, submission

URL = "/api/v1/connections/applications"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
STATUTORY_JOB = "connections.statutory_dates"  # its lease row's name in job_leases


@pytest.fixture()
def client(live_client: Any) -> dict[str, Any]:
    made: dict[str, Any] = live_client(["connections:apply"])
    return made


def file_metro(hub: Hub, client: dict[str, Any], sw_id: str) -> dict[str, Any]:
    ack: dict[str, Any] = hub.app.post_json(
        URL, submission(sw_id, lt_industrial_form(area_class="metro")), headers=client["headers"], status=201
    ).json
    assert ack["statutory_days"] == 3
    return ack


def case_of(session: Session, application_no: str) -> WorkflowCase:
    return session.scalars(select(WorkflowCase).where(WorkflowCase.subject_id == application_no)).one()


def file_days_ago(hub: Hub, application_no: str, days: float) -> None:
    """Move a case's clock back: as if it had been filed ``days`` earlier and left untouched."""
    back = timedelta(days=days)
    with Session(hub.engine) as session, session.begin():
        case = case_of(session, application_no)
        case.created_at -= back
        case.state_entered_at -= back
        assert case.due_at is not None and case.statutory_due_at is not None
        case.due_at -= back
        case.statutory_due_at -= back
        application = session.scalars(
            select(ConnectionApplication).where(ConnectionApplication.application_no == application_no)
        ).one()
        application.created_at -= back


def worker_jobs(hub: Hub) -> list[PeriodicJob]:
    """Every periodic job the app registered: what hub-worker's scheduler runs."""
    jobs: list[PeriodicJob] = registered(hub.app.app.registry, PeriodicJobs)
    return jobs


def breach_notices(portal: FakeSingleWindow, sw_id: str) -> list[Any]:
    return [u for u in portal.updates_for(sw_id) if u.details.get("statutory_breached")]


def test_stage_limits_fit_inside_the_statutory_period_of_every_area_class(
    hub: Hub, client: dict[str, Any]
) -> None:
    workflows: WorkflowRegistry = process_service(hub.app.app.registry, WorkflowRegistry)
    definition = workflows.get(WORKFLOW_NAME)  # what new cases start under
    # A metro application filed over REST gets its first stage's share of 3 days, not 48 hours.
    ack = file_metro(hub, client, "SW-STAT-LIMIT")
    with Session(hub.engine) as session:
        case = case_of(session, ack["application_no"])
        assert case.version == definition.version
        assert case.due_at is not None
        assert case.due_at - case.created_at == timedelta(hours=12)

    days_by_area = hub.service.settings.timeline_days
    assert set(days_by_area) == set(AREA_CLASSES)
    discom_stages = [s for s in definition.states.values() if s.clock == "running" and not s.terminal]
    assert discom_stages
    for area, days in days_by_area.items():
        period = timedelta(days=days)
        limits = [stage.limit(period) for stage in discom_stages]
        assert all(limit is not None and limit > timedelta(0) for limit in limits), area
        assert sum((limit for limit in limits if limit is not None), timedelta(0)) <= period, area
    # Any period at all, not only the configured ones (days may be changed in the settings).
    for hours in range(1, 24 * 60):
        period = timedelta(hours=hours)
        total = sum((stage.limit(period) or timedelta(0) for stage in discom_stages), timedelta(0))
        assert total <= period


def test_metro_case_past_its_statutory_date_is_escalated_and_the_single_window_told_once(
    hub: Hub, client: dict[str, Any], portal: FakeSingleWindow
) -> None:
    late = file_metro(hub, client, "SW-STAT-LATE")
    on_time = file_metro(hub, client, "SW-STAT-ONTIME")
    # The late one was filed four days ago (3 days metro: one day past its date).
    file_days_ago(hub, late["application_no"], 4)
    jobs = worker_jobs(hub)

    # hub-worker's scheduler: every job runs when this worker holds its lease. The stage
    # limit (12 h) ran out long ago: the DGM got it; the statutory date too: the GM has it now.
    ran = run_due_jobs(hub.engine, jobs, "worker-a")
    with Session(hub.engine) as session:
        case = case_of(session, late["application_no"])
        assert case.assigned_role == "gm" and case.escalation_level == 2
        assert STATUTORY_JOB in ran
        breaches = session.scalars(
            select(WorkflowBreach).where(WorkflowBreach.case_id == case.id).order_by(WorkflowBreach.id)
        ).all()
        assert [(b.state, b.escalated_to) for b in breaches] == [
            ("document_scrutiny", "dgm"),
            ("statutory_due_date", "gm"),
        ]
        audited = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "new_connection.statutory_breach",
                AuditEntry.subject_id == late["application_no"],
            )
        ).all()
        assert len(audited) == 1 and audited[0].actor == "system"
        untouched = case_of(session, on_time["application_no"])
        assert untouched.assigned_role == "dc_office_assistant" and untouched.escalation_level == 0

    # Another worker while the lease is held: nothing. After a restart (lease gone) and two
    # workers at once: still one breach, one escalation, one notice.
    job = next(job for job in jobs if job.name == STATUTORY_JOB)
    assert run_due_jobs(hub.engine, [job], "worker-b") == []
    with hub.engine.begin() as conn:
        conn.execute(delete(JobLease).where(JobLease.name == STATUTORY_JOB))
    assert run_due_jobs(hub.engine, [job], "worker-c") == [STATUTORY_JOB]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait()
        try:
            job.run()
        except Exception as exc:  # SQLite: a second writer at the same instant may be told to retry
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) <= 1
    with Session(hub.engine) as session:
        case = case_of(session, late["application_no"])
        assert case.escalation_level == 2
        assert (
            len(
                session.scalars(
                    select(WorkflowBreach).where(
                        WorkflowBreach.case_id == case.id, WorkflowBreach.state == "statutory_due_date"
                    )
                ).all()
            )
            == 1
        )

    hub.drain()
    notices = breach_notices(portal, "SW-STAT-LATE")
    assert len(notices) == 1
    notice = notices[0]
    assert notice.status == "document_scrutiny"  # the application's status did not change
    assert notice.details["reason"] == "statutory_date_passed"
    assert notice.details["escalated_to"] == "gm"
    assert "Statutory date" in notice.remarks and "IST" in notice.remarks
    assert [u.sequence for u in portal.updates_for("SW-STAT-LATE")] == [1, 2]
    assert breach_notices(portal, "SW-STAT-ONTIME") == []
    # What the single window pulls says the same.
    pulled = hub.app.get(f"{URL}/SW-STAT-LATE", headers=client["headers"]).json
    assert [h["action"] for h in pulled["history"]] == ["start", "escalate", "statutory_breach"]
    assert pulled["status"] == "document_scrutiny" and pulled["status_sequence"] == 2

    # The officer console: both clocks, in IST, the overdue case first and marked.
    console = TestApp(hub.app.app, extra_environ={"wsgi.url_scheme": "https"})
    with Session(hub.engine) as session, session.begin():
        offices = {case_of(session, a["application_no"]).office_code for a in (late, on_time)}
        create_officer(session, "dc.stat", "Anita Sharma", PASSWORD, ["dc_office_assistant", "gm"], offices)
    token = CSRF.search(console.get("/console/login").text)
    assert token is not None
    console.post(
        "/console/login",
        {"username": "dc.stat", "password": PASSWORD, "csrf_token": token.group(1)},
        status=302,
    )
    page = console.get("/console").text
    assert "Statutory date" in page and "Stage time left" in page
    rows = page.split("<tr")[2:]
    # First although its escalation gave the DGM a fresh stage limit, later than the other's.
    assert late["application_no"] in rows[0]
    waiting = next(row for row in rows if on_time["application_no"] in row)
    assert "statutory date passed" in rows[0] and 'class="overdue"' in rows[0]
    assert "statutory date passed" not in waiting and 'class="overdue"' not in waiting
    assert rows[0].count(" IST") == 2 and waiting.count(" IST") == 2  # stage and statutory, each in IST
    with Session(hub.engine) as session:
        due = case_of(session, on_time["application_no"]).statutory_due_at
        assert due is not None
    from hub.models.meta import IST

    assert due.astimezone(IST).strftime("%d-%m-%Y %H:%M IST") in waiting
    # The case page says it too, beside its summary's statutory due date.
    link = re.search(r'href="([^"]+)"', rows[0])
    assert link is not None
    case_page = console.get(link.group(1)).text
    assert "statutory date passed" in case_page and " IST" in case_page


def test_a_case_reported_late_is_compensated_once_at_release(
    hub: Hub, client: dict[str, Any], portal: FakeSingleWindow
) -> None:
    from datetime import datetime
    from decimal import Decimal

    from connectors.payment import PaymentStatus  # noqa: F401  (the gateway's callback below)

    ack = file_metro(hub, client, "SW-STAT-COMP")
    file_days_ago(hub, ack["application_no"], 4)
    with hub.engine.begin() as conn:
        conn.execute(delete(JobLease))  # a worker starting afresh: every job is due
    run_due_jobs(hub.engine, worker_jobs(hub), "worker-d")
    hub.officer("SW-STAT-COMP", "accept_documents", "gm")
    hub.officer("SW-STAT-COMP", "inspection_passed", "dc_assistant_manager")
    hub.officer("SW-STAT-COMP", "issue_demand_note", "dc_manager")
    order_id = hub.application("SW-STAT-COMP").payment_order_id
    callback = process_service(hub.app.app.registry, Connectors)["payment"].complete_order(order_id)
    hub.app.post("/api/v1/connections/payments", callback.body, headers=dict(callback.headers))
    hub.officer("SW-STAT-COMP", "sanction", "dc_manager")
    due = datetime.fromisoformat(
        hub.app.get(f"{URL}/SW-STAT-COMP", headers=client["headers"]).json["statutory_due_at"]
    )
    hub.officer("SW-STAT-COMP", "release", "dc_assistant_manager", now=due + timedelta(days=1, hours=2))
    application = hub.application("SW-STAT-COMP")
    assert application.delay_days == 2 and application.compensation_amount == Decimal("2000.00")
    with Session(hub.engine) as session:
        case = case_of(session, ack["application_no"])
        statutory = session.scalars(
            select(WorkflowBreach).where(
                WorkflowBreach.case_id == case.id, WorkflowBreach.state == "statutory_due_date"
            )
        ).all()
        assert len(statutory) == 1  # the watch's record; the release did not add another
    hub.drain()
    assert len(breach_notices(portal, "SW-STAT-COMP")) == 1
    assert portal.updates_for("SW-STAT-COMP")[-1].details["compensation"] == "2000.00"
