"""Drive the no-dues flow through WebTest the way a calling system and an officer would."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.lookup import process_service
from hub.outbox import DeliveryOutcome
from hub.systems import Connectors
from tests.hub.outbox_drain import drain_outbox

# The reference connectors come from tests/conftest.py (CONNECTOR_SETTINGS); the console runs on http here.
NODUES_SETTINGS: dict[str, str] = {"hub.console.secure_cookie": "false"}
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PURPOSE = {"election": "gram_panchayat", "body": "ग्राम पंचायत कोलार", "ward": "7"}


class Flow:
    def __init__(self, app: TestApp, engine: Engine, make_client: Any, reference: Engine) -> None:
        self.app = app
        self.engine = engine
        # The reference systems' own store (switch one down, change what a registry holds).
        self.reference = reference
        self.client = make_client(["nodues:apply", "nodues:read", "certificates:read", "certificates:revoke"])
        self.headers = self.client["headers"]
        self.registry = app.app.registry

    # -- worker ------------------------------------------------------------------------------

    def drain(self) -> list[DeliveryOutcome]:
        """Deliver every due outbox message in-process, as the worker would, until nothing is due."""
        return drain_outbox(self.registry, self.engine)

    def sms(self, mobile: str, template: str | None = None) -> list[Any]:
        sent = process_service(self.registry, Connectors)["sms"].messages_to(mobile)
        return [m for m in sent if template is None or m.template_name == template]

    # -- REST ----------------------------------------------------------------------------------

    def otp(self, to: str, **body: Any) -> dict[str, str]:
        """sendOtp, deliver the SMS, read the code from the reference gateway as the person would."""
        answer = self.app.post_json("/api/v1/nodues/otp", body, headers=self.headers, status=202).json
        assert answer["sent_to"] == "XXXXXX" + to[-4:]
        self.drain()
        text = self.sms(to, "otp")[-1].text
        match = re.match(r"[0-9]{6}", text)
        assert match is not None
        return {"challenge_id": answer["challenge_id"], "otp": match.group(0)}

    def open_account(self, mobile: str, status: int = 201) -> dict[str, Any]:
        proof = self.otp(mobile, purpose="account", mobile=mobile)
        return dict(
            self.app.post_json(
                "/api/v1/nodues/accounts", {"mobile": mobile, **proof}, headers=self.headers, status=status
            ).json
        )

    def connections(self, account_id: str) -> dict[str, Any]:
        return dict(
            self.app.get(f"/api/v1/nodues/accounts/{account_id}/connections", headers=self.headers).json
        )

    def ekyc(self, account_id: str, consumer_number: str, samagra_id: str, registered_mobile: str) -> str:
        proof = self.otp(
            registered_mobile, purpose="ekyc", account_id=account_id, consumer_number=consumer_number
        )
        answer = self.app.post_json(
            f"/api/v1/nodues/accounts/{account_id}/connections/{consumer_number}/ekyc",
            {"samagra_id": samagra_id, **proof},
            headers=self.headers,
            status=202,
        ).json
        assert answer["ekyc_status"] == "submitted"
        self.drain()
        link = next(
            c for c in self.connections(account_id)["connections"] if c["consumer_number"] == consumer_number
        )
        return str(link["ekyc_status"])

    def apply(self, account_id: str, mobile: str, status: int = 202, **fields: Any) -> Any:
        """applyNoDues; ``mobile`` is where the apply OTP goes (the Samagra registry's for the person)."""
        person = {"samagra_id": fields["samagra_id"]} if "samagra_id" in fields else {}
        proof = self.otp(mobile, purpose="apply", account_id=account_id, **person)
        body = {"account_id": account_id, "purpose": PURPOSE, **proof, **fields}
        return self.app.post_json("/api/v1/nodues/applications", body, headers=self.headers, status=status)

    def application(self, application_id: str) -> dict[str, Any]:
        return dict(self.app.get(f"/api/v1/nodues/applications/{application_id}", headers=self.headers).json)

    # -- officers ------------------------------------------------------------------------------

    def officer(self, username: str, roles: list[str], offices: list[str], name: str = "सुरेश वर्मा") -> None:
        from hub.console.officers import create_officer

        with Session(self.engine) as session, session.begin():
            create_officer(session, username, name, PASSWORD, roles, offices)

    def console(self, username: str) -> TestApp:
        """A browser of its own (cookie jar), signed in as ``username``."""
        browser = TestApp(self.app.app)
        page = browser.get("/console/login")
        token = CSRF.search(page.text)
        assert token is not None
        answer = browser.post(
            "/console/login", {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        assert answer.status_int == 302, answer.text
        return browser

    def case_id(self, application_id: str) -> int:
        from hub.nodues.workflow import SUBJECT_TYPE, WORKFLOW
        from hub.workflow import find_case

        with Session(self.engine) as session:
            case = find_case(session, WORKFLOW, SUBJECT_TYPE, application_id)
            assert case is not None
            return case.id

    def decide(
        self, browser: TestApp, application_id: str, action: str, reason: str = "", status: int = 302
    ) -> Any:
        case_id = self.case_id(application_id)
        page = browser.get(f"/console/cases/{case_id}")
        token = CSRF.search(page.text)
        assert token is not None
        answer = browser.post(
            f"/console/cases/{case_id}/decide",
            # As pressed on the confirmation page irreversible actions ask for.
            {"action": action, "reason": reason, "csrf_token": token.group(1), "confirm": "yes"},
            status=status,
        )
        self.drain()
        return answer
