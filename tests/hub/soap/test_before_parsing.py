"""Who may make the hub parse an envelope: the caller is known, and its address not over its limit, first.

A bearer token is judged before the body is read; a WS-Security UsernameToken from the
envelope's Header alone (at most ``hub.soap.max_header_bytes``); the Body only once the
caller is authenticated. The tests tell "not parsed" from "parsed" by behaviour: a Body
that is not well-formed XML is answered as if it were fine, because nothing reads it.
"""

from __future__ import annotations

from typing import Any

import pytest
import transaction
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from tests.hub.addresses import new_address, within_one_window
from tests.hub.soap.conftest import build_soap_app
from tests.hub.soap.soapkit import (
    ENV,
    answer_payload,
    assert_fault,
    echo_payload,
    envelope,
    post,
    username_token,
)

VERSIONS = ["1.1", "1.2"]
LIMIT = 3
TEN_MIB = 10 * 1024 * 1024


def _broken_after_body(version: str, header: str = "", size: int = TEN_MIB) -> bytes:
    """An envelope whose Header is fine and whose Body is ``size`` bytes of unclosed elements."""
    head = f'<s:Envelope xmlns:s="{ENV[version]}">'
    if header:
        head += f"<s:Header>{header}</s:Header>"
    head += "<s:Body><x>"
    data = head.encode()
    return data + b"<i>1</i><unclosed>" * ((size - len(data)) // 18)


@pytest.fixture(scope="module")
def limited_app(engine: Engine, app_settings: dict[str, Any], soap_keyring: Any) -> Any:
    return build_soap_app(
        engine, app_settings, soap_keyring, **{"hub.ratelimit.public_per_minute": str(LIMIT)}
    )


def _client(app: Any, app_session: Session, tm: transaction.TransactionManager) -> TestApp:
    environ = {"hub.dbsession": app_session, "tm.manager": tm, "REMOTE_ADDR": new_address()}
    return TestApp(app, extra_environ=environ)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_large_envelope_without_credentials_is_refused_from_its_header(
    testapp: TestApp, version: str
) -> None:
    testapp.extra_environ["REMOTE_ADDR"] = new_address()
    response = post(testapp, _broken_after_body(version), version=version)
    assert_fault(response, "invalid_token", version=version, status=401)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_wrong_username_token_is_refused_before_the_body_is_parsed(
    testapp: TestApp, shared_partner: dict[str, Any], version: str
) -> None:
    testapp.extra_environ["REMOTE_ADDR"] = new_address()
    header = username_token(shared_partner["client_id"], "not-the-password")
    response = post(testapp, _broken_after_body(version, header), version=version)
    assert_fault(response, "invalid_token", version=version, status=401)


def test_a_wrong_bearer_token_is_refused_before_the_body_is_parsed(testapp: TestApp) -> None:
    response = post(testapp, _broken_after_body("1.1"), headers={"Authorization": "Bearer not-a-token"})
    assert_fault(response, "invalid_token", status=401)


def test_an_authenticated_caller_gets_its_body_parsed(
    testapp: TestApp, shared_partner: dict[str, Any]
) -> None:
    # The same broken Body from a caller the hub knows is read, and found broken.
    header = username_token(shared_partner["client_id"], shared_partner["soap_password"])
    assert_fault(post(testapp, _broken_after_body("1.1", header, 64 * 1024)), "xml_malformed")
    response = post(testapp, _broken_after_body("1.1", size=64 * 1024), headers=shared_partner["headers"])
    assert_fault(response, "xml_malformed")


def test_a_header_past_the_cap_is_refused_unread(testapp: TestApp, shared_partner: dict[str, Any]) -> None:
    testapp.extra_environ["REMOTE_ADDR"] = new_address()
    cap = testapp.app.registry.settings["hub.soap.max_header_bytes"]
    padding = "<p>" + "x" * cap + "</p>"
    header = username_token(shared_partner["client_id"], shared_partner["soap_password"])
    response = post(testapp, envelope(echo_payload(), header=padding + header))
    assert_fault(response, "soap_header_too_large", status=413)
    # A caller with a bearer token is known already: its header is read under the body's cap.
    response = post(testapp, envelope(echo_payload(), header=padding), headers=shared_partner["headers"])
    assert answer_payload(response) is not None


def test_an_address_over_its_limit_is_refused_before_anything_is_parsed(
    limited_app: Any, app_session: Session, tm: transaction.TransactionManager, shared_partner: dict[str, Any]
) -> None:
    app = _client(limited_app, app_session, tm)
    within_one_window()
    codes = [
        post(app, envelope(echo_payload(), header=username_token("nobody", "wrong"))).status_int
        for _ in range(LIMIT + 2)
    ]
    assert codes == [401] * LIMIT + [429, 429]
    # Refused without being parsed: not even a broken document is noticed.
    assert_fault(post(app, b"<not xml"), "rate_limited", status=429)
    refused = post(app, _broken_after_body("1.1"))
    assert_fault(refused, "rate_limited", status=429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # A partner with a bearer token at the same address is judged by its token, not the address.
    answer_payload(post(app, envelope(echo_payload()), headers=shared_partner["headers"]))
    # Another address is not held back.
    other = _client(limited_app, app_session, tm)
    header = username_token(shared_partner["client_id"], shared_partner["soap_password"])
    answer_payload(post(other, envelope(echo_payload(), header=header)))
