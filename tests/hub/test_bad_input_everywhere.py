"""Every REST operation in /openapi.json answers malformed input with a 4xx, never a 500.

Walks the document itself, so a new operation is covered the day it is added.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from webtest import TestApp

from hub.auth.clients import KNOWN_SCOPES

BODIES: list[tuple[str, bytes]] = [
    ("application/json", b"{not json"),
    ("application/json", b"[1, 2, 3]"),
    ("application/json", '{"number": "\u0000\ud7ff\u200b", "purpose": "प्रमाण"}'.encode()),
    ("application/json", b'{"a": ' * 50 + b"1" + b"}" * 50),
    ("text/plain", b"hello"),
    ("application/xml", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'),
]
PLACEHOLDER = re.compile(r"\{[^}]+\}")


def _operations(testapp: TestApp) -> list[tuple[str, str, str]]:
    document = testapp.get("/openapi.json").json
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            found.append(
                (method.upper(), PLACEHOLDER.sub(quote("x/../प्र", safe=""), path), operation["operationId"])
            )
    return found


@pytest.fixture()
def all_scopes(live_client: Any) -> dict[str, str]:
    # Live mode: some refusals are recorded on their own connection (they must
    # outlive the rolled-back request), which the rollback harness cannot host on SQLite.
    return live_client(sorted(KNOWN_SCOPES), ["ladli-behna"])["headers"]


def test_malformed_bodies_never_get_a_500(live_app: TestApp, all_scopes: dict[str, str]) -> None:
    testapp = live_app
    failures = []
    for method, path, operation_id in _operations(testapp):
        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        for content_type, body in BODIES:
            response = testapp.request(
                path,
                method=method,
                body=body,
                headers={**all_scopes, "Content-Type": content_type},
                expect_errors=True,
            )
            if response.status_int >= 500:
                failures.append(
                    (operation_id, content_type, body[:30], response.status_int, response.text[:200])
                )
            elif response.status_int >= 400 and response.content_type not in (
                "application/problem+json",
                "application/json",  # the OAuth token endpoint answers RFC 6749 errors
                "text/xml",  # SOAP-style faults are not in the REST document, but be lenient
                "text/html",  # the officer console's own pages
            ):
                failures.append(
                    (operation_id, content_type, body[:30], response.status_int, response.content_type)
                )
    assert failures == []


def test_odd_query_strings_never_get_a_500(live_app: TestApp, all_scopes: dict[str, str]) -> None:
    testapp = live_app
    failures = []
    for method, path, operation_id in _operations(testapp):
        if method != "GET":
            continue
        for query in (
            "?cursor=%00%ff&purpose=../../x&format=exe&limit=-1",
            "?limit=99999999999999999999&code=%27%20OR%201%3D1%20--",
        ):
            response = testapp.get(path + query, headers=all_scopes, expect_errors=True)
            if response.status_int >= 500:
                failures.append((operation_id, query, response.status_int, response.text[:200]))
    assert failures == []
