"""Live-mode fixtures for complaints: reference billing and SMS with the demo personas, officers, the worker."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.demo import PERSONAS
from hub.lookup import process_service, registered
from hub.models.complaint import Complaint
from hub.models.meta import utcnow
from hub.models.workflow import WorkflowCase
from hub.outbox import DeliveryOutcome
from hub.periodic import PeriodicJobs
from hub.systems import Connectors
from tests.hub.outbox_drain import drain_outbox

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CASE_LINK = re.compile(r'href="/console/cases/(\d+)"')


class ComplaintFlow:
    def __init__(self, app: TestApp, engine: Engine, reference: Engine, make_client: Any) -> None:
        self.app = app
        self.engine = engine
        self.reference = reference
        self.registry = app.app.registry
        self.connectors = process_service(self.registry, Connectors)
        self.callcentre = make_client(["complaints:callcentre", "complaints:read"])["headers"]
        self.portal = make_client(["complaints:consumer", "complaints:read"])["headers"]

    @staticmethod
    def persona(key: str = "clean") -> tuple[str, str]:
        persona = PERSONAS[key]
        return persona.consumer_numbers[0], persona.mobile

    def dc_of(self, consumer_number: str) -> str:
        return str(self.connectors["billing"].get_consumer(consumer_number).offices.dc)

    # -- REST ----------------------------------------------------------------------------------
    def call(self, status: int | str = "*", **body: Any) -> Any:
        number, _ = self.persona()
        payload = {
            "ticket_id": "T" + secrets.token_hex(6),
            "consumer_number": number,
            "complaint_type": "supply_failure",
            "description": "No power since 9 pm, whole house",
            **body,
        }
        return self.app.post_json(
            "/api/v1/complaints/callcentre", payload, headers=self.callcentre, status=status
        )

    def status(self, complaint_no: str) -> dict[str, Any]:
        return dict(self.app.get(f"/api/v1/complaints/{complaint_no}", headers=self.callcentre).json)

    # -- hub-worker ----------------------------------------------------------------------------
    def drain(self) -> list[DeliveryOutcome]:
        return drain_outbox(self.registry, self.engine)

    def run_job(self, name: str) -> object:
        job = next(j for j in registered(self.registry, PeriodicJobs) if j.name == name)
        return job.run()

    def sms(self, mobile: str, template: str) -> list[Any]:
        return [m for m in self.connectors["sms"].messages_to(mobile) if m.template_name == template]

    # -- the clock moves on -------------------------------------------------------------------
    def level_time_runs_out(self, complaint_no: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(WorkflowCase)
                .where(WorkflowCase.subject_id == complaint_no)
                .values(due_at=utcnow() - timedelta(minutes=1))
            )

    def standard_passed(self, complaint_no: str, hours_ago: float) -> datetime:
        """The complaint's standard ran out ``hours_ago`` hours ago (registered that much earlier)."""
        due = utcnow() - timedelta(hours=hours_ago)
        with self.engine.begin() as conn:
            conn.execute(
                update(Complaint).where(Complaint.complaint_no == complaint_no).values(sop_due_at=due)
            )
            conn.execute(
                update(WorkflowCase)
                .where(WorkflowCase.subject_id == complaint_no)
                .values(statutory_due_at=due)
            )
        return due

    def complaint(self, complaint_no: str) -> Complaint:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(
                select(Complaint).where(Complaint.complaint_no == complaint_no)
            ).scalar_one()

    def case_id(self, complaint_no: str) -> int:
        with Session(self.engine) as session:
            return int(
                session.execute(
                    select(WorkflowCase.id).where(WorkflowCase.subject_id == complaint_no)
                ).scalar_one()
            )

    # -- officers ------------------------------------------------------------------------------
    def officer(self, roles: list[str], offices: list[str]) -> TestApp:
        from hub.console.officers import create_officer

        username = "o" + secrets.token_hex(4)
        with Session(self.engine) as session, session.begin():
            create_officer(session, username, "सुरेश वर्मा", PASSWORD, roles, offices)
        browser = TestApp(self.app.app)
        token = CSRF.search(browser.get("/console/login").text)
        assert token is not None
        answer = browser.post(
            "/console/login", {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        assert answer.status_int == 302, answer.text
        return browser

    def act(
        self, browser: TestApp, complaint_no: str, action: str, reason: str = "", status: int | str = "*"
    ) -> Any:
        case_id = self.case_id(complaint_no)
        page = browser.get(f"/console/cases/{case_id}", status=status)
        if page.status_int != 200:
            return page
        token = CSRF.search(page.text)
        assert token is not None
        return browser.post(
            f"/console/cases/{case_id}/decide",
            {"action": action, "reason": reason, "csrf_token": token.group(1), "confirm": "yes"},
            status=status,
        )


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any], http_server: tuple[str, Any]) -> dict[str, Any]:
    # The app's public URL is the local server's, so the WSDL names addresses zeep can reach.
    base, _ = http_server
    return {**live_settings, "hub.console.secure_cookie": "false", "hub.public_url": base}


@pytest.fixture()
def flow(
    live_app: TestApp, live_engine: Engine, live_reference_engine: Engine, live_client: Any
) -> ComplaintFlow:
    from connectors.demo import generate_demo_data
    from connectors.reference_db import set_down
    from connectors.sms.reference import RefSmsMessage
    from hub.models.outbox import OutboxMessage

    generate_demo_data(live_reference_engine, consumers=20, seed=1, replace=True)
    with live_reference_engine.begin() as conn:
        conn.execute(delete(RefSmsMessage))
    with live_engine.begin() as conn:
        conn.execute(delete(OutboxMessage))
    set_down(live_reference_engine, "billing", False)
    return ComplaintFlow(live_app, live_engine, live_reference_engine, live_client)
