"""Input an attacker sends to break the hub gets a 4xx problem, never a 500, on either database.

Each case once answered 500 (some only on PostgreSQL, which refuses what SQLite stores).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.auth.clients import KNOWN_SCOPES


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_int == status, response.text[:300]
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.json
    assert body["code"] == code
    assert body["status"] == status
    return body


@pytest.fixture()
def all_scopes(make_client: Any) -> dict[str, str]:
    return make_client(sorted(KNOWN_SCOPES), ["ladli-behna"])["headers"]


@pytest.fixture(scope="module")
def logging_app(engine: Any, app_settings: dict[str, Any]) -> Any:
    """The app with its access log on, written as each request ends."""
    from hub import main

    return main({}, **app_settings, **{"hub.test_engine": engine, "hub.access_log": "true"})


@pytest.mark.parametrize(
    "path", ["/api/v1/certificates/%FF", "/api/v1/certificates/%C3%28/xml", "/verify%FF"]
)
def test_a_path_that_is_not_utf8_is_a_400_and_logs_a_json_line(
    logging_app: Any, capfd: pytest.CaptureFixture[str], path: str
) -> None:
    response = TestApp(logging_app).get(path, expect_errors=True)
    body = assert_problem(response, 400, "bad_request")
    assert "instance" not in body  # the undecodable bytes are not echoed
    # The test settings log records as text; the access line is always JSON.
    access = [json.loads(line) for line in capfd.readouterr().err.splitlines() if '"hub.access"' in line]
    assert [(entry["status"], entry["path"][:4]) for entry in access] == [(400, path[:4])]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/certificates/MPCZ%00ND",
        "/api/v1/certificates/MPCZ%00ND/pdf",
        "/api/v1/certificates/A%00/revocation",
    ],
)
def test_a_nul_in_a_certificate_number_is_a_400(
    testapp: TestApp, all_scopes: dict[str, str], path: str
) -> None:
    method = "POST" if path.endswith("revocation") else "GET"
    response = testapp.request(
        path,
        method=method,
        body=b'{"reason": "x", "revoked_by": "y"}' if method == "POST" else b"",
        headers={**all_scopes, "Content-Type": "application/json"},
        expect_errors=True,
    )
    assert_problem(response, 400, "bad_request")


@pytest.mark.parametrize("path", ["/console/login", "/console/logout"])
def test_multipart_without_a_boundary_on_the_console_is_a_400(testapp: TestApp, path: str) -> None:
    response = testapp.post(
        path, b"username=a&password=b", headers={"Content-Type": "multipart/form-data"}, expect_errors=True
    )
    assert_problem(response, 400, "bad_request")


def test_a_json_integer_of_5000_digits_is_malformed_json(
    testapp: TestApp, all_scopes: dict[str, str]
) -> None:
    response = testapp.post(
        "/api/v1/certificates/verify",
        b'{"number": "MPCZ/ND/2026-27/000001", "code": ' + b"7" * 5000 + b"}",
        headers={**all_scopes, "Content-Type": "application/json"},
        expect_errors=True,
    )
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize(
    ("before", "code"), [(1e30, "range"), (10**30, "range"), (1.5, "type"), ("12", "type")]
)
def test_list_disclosures_with_a_before_no_database_holds_is_a_400(
    testapp: TestApp, all_scopes: dict[str, str], before: Any, code: str
) -> None:
    response = testapp.post_json(
        "/api/v1/kyc/my/disclosures",
        {"samagra_id": "900000021", "mobile": "9899990020", "before": before},
        headers=all_scopes,
        expect_errors=True,
    )
    body = assert_problem(response, 400, "validation_failed")
    assert body["errors"] == [{"field": "before", "code": code, "message": body["errors"][0]["message"]}]


def test_text_too_long_for_its_column_at_the_commit_is_a_400_too(wsgi_app: Any, dbsession: Session) -> None:
    """The same refusal when the flush that meets it is the commit's (after the view returned)."""
    from pyramid.request import Request
    from pyramid.response import Response

    from hub.db import transaction_errors_tween_factory
    from hub.models.officer import Officer

    def handler(request: Request) -> Response:
        dbsession.add(Officer(username="u" * 61, name="N\x00", password_hash="x"))
        dbsession.commit()  # what pyramid_tm's commit does: flush, then COMMIT
        return Response("never")

    request = Request.blank("/console/login")
    request.registry = wsgi_app.registry
    response = transaction_errors_tween_factory(handler, wsgi_app.registry)(request)
    body = assert_problem(response, 400, "validation_failed")
    assert {(e["field"], e["code"]) for e in body["errors"]} == {("username", "too_long"), ("name", "format")}
