"""Headers browsers act on: nosniff on every response, and the pages' own policies."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from webtest import TestApp

from hub.lookup import registered
from hub.soap.service import SoapRoutes


def _all(response: Any, name: str) -> list[str]:
    return [value for key, value in response.headerlist if key.lower() == name.lower()]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "/healthz", {}),
        ("get", "/openapi.json", {}),
        ("get", "/api/v1/ping", {"status": 401}),  # problem+json from the API deriver
        ("get", "/no/such/page", {"status": 404}),  # problem+json from the not-found view
        ("post", "/api/v1/certificates/verify", {"params": b"{", "status": 400}),
        ("get", "/verify", {}),
        ("get", "/docs", {}),
    ],
)
def test_every_response_says_nosniff(
    testapp: TestApp, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    if method == "post":
        kwargs = {**kwargs, "content_type": "application/json"}
    response = getattr(testapp, method)(path, **kwargs)
    assert _all(response, "X-Content-Type-Options") == ["nosniff"]


def test_a_soap_fault_made_before_the_app_says_nosniff(testapp: TestApp) -> None:
    # The SOAP ingress tween answers an oversized envelope itself, above every other tween.
    cap = registered(testapp.app.registry, SoapRoutes).body_caps["/soap/singlewindow"]
    response = testapp.post(
        "/soap/singlewindow",
        b"<" * (cap + 1),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        status=413,
    )
    assert b"body_too_large" in response.body
    assert _all(response, "X-Content-Type-Options") == ["nosniff"]


def _policy(response: Any) -> dict[str, str]:
    (policy,) = _all(response, "Content-Security-Policy")
    return {d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2] for d in policy.split(";") if d.strip()}


def test_docs_page_has_a_policy_and_cannot_be_framed(testapp: TestApp) -> None:
    page = testapp.get("/docs")
    policy = _policy(page)
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert _all(page, "X-Frame-Options") == ["DENY"]
    # Its inline script runs (allowed by its hash), and nothing else would.
    script = page.text.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert policy["connect-src"] == "'self'"


def test_verify_page_cannot_be_framed(testapp: TestApp) -> None:
    page = testapp.get("/verify")
    policy = _policy(page)
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'none'" and policy["form-action"] == "'self'"
    assert _all(page, "X-Frame-Options") == ["DENY"]
