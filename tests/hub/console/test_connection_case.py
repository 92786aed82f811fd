"""A new-connection case as the officer sees it: the query asked, the applicant's answer, words not codes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.console.officers import create_officer
from hub.models.workflow import WorkflowCase

# The single window, the document host and the hub wired to them, as the connection tests have them.
from tests.hub.connections.conftest import (  # noqa: F401
    Hub,
    doc_host,
    hub,
    hub_url,
    live_settings,
    off_list_host,
    offices,
    portal,
    sw_key,
)
from tests.hub.connections.samples import document, lt_industrial_form, submission

URL = "/api/v1/connections/applications"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture()
def client(live_client: Any) -> dict[str, Any]:
    made: dict[str, Any] = live_client(["connections:apply"])
    return made


def test_the_officer_reads_the_applicants_answer_to_their_query(
    hub: Hub,  # noqa: F811 (the imported fixture)
    client: dict[str, Any],
) -> None:
    sw_id = "SW-CONSOLE-Q1"
    ack = hub.app.post_json(
        URL, submission(sw_id, lt_industrial_form(area_class="metro")), headers=client["headers"], status=201
    ).json
    with Session(hub.engine) as session, session.begin():
        case = session.scalars(
            select(WorkflowCase).where(WorkflowCase.subject_id == ack["application_no"])
        ).one()
        case_id, office = case.id, case.office_code
        create_officer(session, "oa.query", "Anita Sharma", PASSWORD, ["dc_office_assistant"], [office])
    officer = TestApp(hub.app.app, extra_environ={"wsgi.url_scheme": "https"})
    token = CSRF.search(officer.get("/console/login").text)
    assert token is not None
    officer.post(
        "/console/login",
        {"username": "oa.query", "password": PASSWORD, "csrf_token": token.group(1)},
        status=302,
    )
    # The officer asks, in the console.
    page = officer.get(f"/console/cases/{case_id}")
    token = CSRF.search(page.text)
    assert token is not None
    question = "स्वामित्व प्रमाण सत्यापित नहीं / Ownership proof is not attested"
    officer.post(
        f"/console/cases/{case_id}/decide",
        {"action": "raise_query", "reason": question, "csrf_token": token.group(1)},
        status=302,
    )
    # The applicant answers through the single window, with a document.
    hub.app.post_json(
        f"{URL}/{sw_id}/query-response",
        {"answer": "Attested copy attached", "documents": [document("ownership_proof", b"attested")]},
        headers=client["headers"],
    )
    page = officer.get(f"/console/cases/{case_id}").text
    section = page[page.index("Queries to the applicant and answers") :]
    row = section[section.index(question) :].split("</tr>")[0]
    assert "Attested copy attached" in row
    assert "ownership_proof.pdf" in row and "IST" in row
    # Values and actions in words.
    assert "महानगर / Metropolitan city" in page and "निम्नदाब औद्योगिक / LT industrial" in page
    assert "आवेदक ने उत्तर दिया" in page and "Ask the applicant" in page
    for raw in (">metro<", "lt_industrial", ">raise_query<", ">answer<", "UTC"):
        assert raw not in page, raw
