"""Hostile input against the SOAP layer: each gets a well-formed Fault with its code, and nothing leaks."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import pytest
from sqlalchemy import select
from webtest import TestApp

from hub.lookup import registered
from hub.models.soap import SoapNonce
from hub.soap.security import PASSWORD_TEXT
from hub.soap.service import SoapRoutes
from tests.hub.soap.echo_service import ACTION, NS, PATH
from tests.hub.soap.soapkit import (
    ENV,
    MEDIA,
    SENTINEL,
    answer_payload,
    assert_fault,
    echo_payload,
    envelope,
    minutes_ago,
    post,
    username_token,
)

VERSIONS = ["1.1", "1.2"]


@pytest.fixture()
def partner(shared_partner: dict[str, Any], testapp: TestApp) -> dict[str, Any]:
    return shared_partner


# ----------------------------------------------------------------- parser attacks


@pytest.mark.parametrize("version", VERSIONS)
def test_xxe_reading_a_local_file(
    testapp: TestApp, partner: dict[str, Any], version: str, tmp_path: Any
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SENTINEL)
    body = (
        f'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        + envelope(echo_payload("&xxe;"), version).decode().split("?>", 1)[1]
    ).encode()
    response = post(testapp, body, version=version, headers=partner["headers"])
    assert_fault(response, "xml_doctype_forbidden", version=version)


@pytest.mark.parametrize("version", VERSIONS)
def test_billion_laughs(testapp: TestApp, partner: dict[str, Any], version: str) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    body = (
        f"<!DOCTYPE lolz [{entities}]>".encode()
        + envelope(echo_payload("&lol9;"), version).split(b"?>", 1)[1]
    )
    response = post(testapp, body, version=version, headers=partner["headers"])
    assert_fault(response, "xml_doctype_forbidden", version=version)
    assert b"lollol" not in response.body


def test_external_dtd(testapp: TestApp, partner: dict[str, Any]) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE s:Envelope SYSTEM "http://127.0.0.1:9/evil.dtd">'
        + envelope(echo_payload()).split(b"?>", 1)[1]
    )
    assert_fault(post(testapp, body, headers=partner["headers"]), "xml_doctype_forbidden")


def test_doctype_late_in_a_long_prolog(testapp: TestApp, partner: dict[str, Any]) -> None:
    # Past the parser's cheap 4 KB prolog scan: the parsed tree's doctype still catches it.
    body = (
        b'<?xml version="1.0"?>'
        + b"<!--"
        + b"x" * 5000
        + b"-->"
        + b"<!DOCTYPE s:Envelope>"
        + envelope(echo_payload()).split(b"?>", 1)[1]
    )
    assert_fault(post(testapp, body, headers=partner["headers"]), "xml_doctype_forbidden")


@pytest.mark.parametrize(
    ("depth", "code"),
    # Past our limit (64), and past libxml2's own (256), which fails the parse itself.
    [(100, "xml_too_deep"), (5000, "xml_malformed")],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_deep_nesting(testapp: TestApp, partner: dict[str, Any], version: str, depth: int, code: str) -> None:
    deep = "<x>" * depth + SENTINEL + "</x>" * depth
    response = post(
        testapp, envelope(echo_payload("a", deep), version), version=version, headers=partner["headers"]
    )
    assert_fault(response, code, version=version)


@pytest.mark.parametrize(
    "where",
    ["prolog", "body"],
)
def test_processing_instruction(testapp: TestApp, partner: dict[str, Any], where: str) -> None:
    pi = f'<?xml-stylesheet href="http://127.0.0.1:9/{SENTINEL}.xsl"?>'
    base = envelope(echo_payload())
    if where == "prolog":
        body = base.replace(b"?>", b"?>" + pi.encode(), 1)
    else:
        body = base.replace(b"<s:Body>", b"<s:Body>" + pi.encode())
    assert_fault(post(testapp, body, headers=partner["headers"]), "soap_envelope_invalid")


def test_malformed_xml(testapp: TestApp, partner: dict[str, Any]) -> None:
    body = envelope(echo_payload()).replace(b"</s:Envelope>", f"<{SENTINEL}".encode())
    assert_fault(post(testapp, body, headers=partner["headers"]), "xml_malformed")


# ----------------------------------------------------------------- size


@pytest.mark.parametrize("version", VERSIONS)
def test_fifty_megabyte_body_is_refused_before_it_is_read(testapp: TestApp, version: str) -> None:
    body = envelope(echo_payload("a" * (50 * 1024 * 1024)), version)
    response = post(testapp, body, version=version)
    assert_fault(response, "body_too_large", version=version, status=413)
    assert len(response.body) < 2000


class _EndlessBody(io.RawIOBase):
    """A chunked request body that never ends; counts what the app read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = len(buffer)
        buffer[:n] = b"<" * n
        self.read_bytes += n
        return n


def test_chunked_body_without_length_is_capped_by_the_ingress_tween(soap_app: Any) -> None:
    # Called directly: in the full app pyramid_retry's make_body_seekable copies
    # a chunked body before any tween runs (reported to the platform owner).
    from pyramid.request import Request

    from hub.soap.tween import soap_ingress_tween_factory

    called: list[bool] = []
    tween = soap_ingress_tween_factory(lambda request: called.append(True), soap_app.registry)
    stream = _EndlessBody()
    request = Request.blank(PATH, method="POST")
    request.environ["wsgi.input"] = stream
    request.environ.pop("CONTENT_LENGTH", None)
    request.headers["Transfer-Encoding"] = "chunked"
    request.headers["Content-Type"] = MEDIA["1.2"]
    response = tween(request)
    assert_fault(response, "body_too_large", version="1.2", status=413)
    assert not called
    cap = registered(soap_app.registry, SoapRoutes).body_caps[PATH]
    assert stream.read_bytes == cap + 1


# ----------------------------------------------------------------- protocol


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/xml", ""])
def test_wrong_content_type(testapp: TestApp, partner: dict[str, Any], content_type: str) -> None:
    response = post(testapp, envelope(echo_payload()), content_type=content_type, headers=partner["headers"])
    assert_fault(response, "unsupported_media_type", status=415)


def test_wrong_soap_action_11(testapp: TestApp, partner: dict[str, Any]) -> None:
    headers = {**partner["headers"], "SOAPAction": f'"{ACTION}Trouble"'}
    assert_fault(post(testapp, envelope(echo_payload()), headers=headers), "soap_action_mismatch")


def test_missing_soap_action_11(testapp: TestApp, partner: dict[str, Any]) -> None:
    response = post(testapp, envelope(echo_payload()), operation=None, headers=partner["headers"])
    assert_fault(response, "soap_action_mismatch")


def test_wrong_action_parameter_12(testapp: TestApp, partner: dict[str, Any]) -> None:
    content_type = f'{MEDIA["1.2"]}; action="{ACTION}{SENTINEL}"'
    response = post(
        testapp,
        envelope(echo_payload(), "1.2"),
        version="1.2",
        content_type=content_type,
        headers=partner["headers"],
    )
    assert_fault(response, "soap_action_mismatch", version="1.2")


@pytest.mark.parametrize(("declared", "sent"), [("1.1", "1.2"), ("1.2", "1.1")])
def test_envelope_of_the_other_version(
    testapp: TestApp, partner: dict[str, Any], declared: str, sent: str
) -> None:
    response = post(testapp, envelope(echo_payload(), sent), version=declared, headers=partner["headers"])
    prefix = "soap" if declared == "1.1" else "env"
    assert_fault(
        response,
        "soap_version_mismatch",
        version=declared,
        status=500,
        fault_value=f"{prefix}:VersionMismatch",
    )


def test_not_an_envelope(testapp: TestApp, partner: dict[str, Any]) -> None:
    body = f'<e:Echo xmlns:e="{NS}"><e:name>{SENTINEL}</e:name></e:Echo>'.encode()
    assert_fault(post(testapp, body, headers=partner["headers"]), "soap_envelope_invalid")


@pytest.mark.parametrize(
    "body_content",
    ["", echo_payload() + echo_payload(), f"{SENTINEL}{echo_payload()}"],
    ids=["empty", "two-payloads", "text"],
)
def test_body_must_hold_exactly_one_payload(
    testapp: TestApp, partner: dict[str, Any], body_content: str
) -> None:
    body = f'<s:Envelope xmlns:s="{ENV["1.1"]}"><s:Body>{body_content}</s:Body></s:Envelope>'.encode()
    assert_fault(post(testapp, body, headers=partner["headers"]), "soap_envelope_invalid")


def test_unknown_operation(testapp: TestApp, partner: dict[str, Any]) -> None:
    body = envelope(f'<e:{SENTINEL} xmlns:e="{NS}"/>')
    assert_fault(post(testapp, body, headers=partner["headers"]), "soap_operation_unknown")


@pytest.mark.parametrize(("version", "flag"), [("1.1", "1"), ("1.2", "true")])
def test_header_that_must_be_understood(
    testapp: TestApp, partner: dict[str, Any], version: str, flag: str
) -> None:
    header = (
        f'<t:Transaction xmlns:t="urn:x" xmlns:s="{ENV[version]}" s:mustUnderstand="{flag}">5</t:Transaction>'
    )
    response = post(
        testapp, envelope(echo_payload(), version, header), version=version, headers=partner["headers"]
    )
    prefix = "soap" if version == "1.1" else "env"
    assert_fault(
        response, "soap_must_understand", version=version, status=500, fault_value=f"{prefix}:MustUnderstand"
    )


def test_optional_header_is_ignored(testapp: TestApp, partner: dict[str, Any]) -> None:
    header = '<t:Trace xmlns:t="urn:x">1</t:Trace>'
    answer_payload(post(testapp, envelope(echo_payload(), header=header), headers=partner["headers"]))


# ----------------------------------------------------------------- schema


@pytest.mark.parametrize(
    "payload",
    [
        echo_payload(""),  # below minLength
        echo_payload(SENTINEL * 20),  # above maxLength
        echo_payload("a", f"<e:times>{SENTINEL}</e:times>"),  # not an int
        echo_payload("a", f"<e:{SENTINEL}>1</e:{SENTINEL}>"),  # undeclared element
        f'<e:Echo xmlns:e="{NS}"/>',  # required element missing
    ],
    ids=["empty-name", "long-name", "times-not-int", "extra-element", "missing-name"],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_body_failing_the_xsd(testapp: TestApp, partner: dict[str, Any], payload: str, version: str) -> None:
    response = post(testapp, envelope(payload, version), version=version, headers=partner["headers"])
    assert_fault(response, "validation_failed", version=version)


# ----------------------------------------------------------------- WS-Security


@pytest.fixture()
def wsse_partner(shared_partner: dict[str, Any], testapp: TestApp) -> dict[str, Any]:
    return shared_partner


def test_replayed_nonce(testapp: TestApp, wsse_partner: dict[str, Any]) -> None:
    header = username_token(wsse_partner["client_id"], wsse_partner["soap_password"])
    answer_payload(post(testapp, envelope(echo_payload(), header=header)))
    response = post(testapp, envelope(echo_payload(), header=header))
    assert_fault(response, "wsse_nonce_replayed", status=401)
    # The same token in a SOAP 1.2 envelope is the same replay.
    response = post(testapp, envelope(echo_payload(), "1.2", header), version="1.2")
    assert_fault(response, "wsse_nonce_replayed", version="1.2", status=401)


def test_nonce_burns_even_when_the_operation_fails(
    testapp: TestApp, wsse_partner: dict[str, Any], engine: Any
) -> None:
    nonce = os.urandom(16)
    header = username_token(wsse_partner["client_id"], wsse_partner["soap_password"], nonce=nonce)
    crash = envelope(f'<e:Trouble xmlns:e="{NS}"><e:kind>crash</e:kind></e:Trouble>', header=header)
    assert_fault(post(testapp, crash, operation="Trouble"), "internal_error", sender=False)
    with engine.connect() as conn:
        stored = conn.execute(
            select(SoapNonce.nonce).where(SoapNonce.client_id == wsse_partner["client_id"])
        ).all()
    assert base64.b64encode(nonce).decode() in {row.nonce for row in stored}
    assert_fault(post(testapp, envelope(echo_payload(), header=header)), "wsse_nonce_replayed", status=401)


@pytest.mark.parametrize("minutes", [6, -6], ids=["expired", "future"])
def test_created_outside_the_window(testapp: TestApp, wsse_partner: dict[str, Any], minutes: float) -> None:
    header = username_token(
        wsse_partner["client_id"], wsse_partner["soap_password"], created=minutes_ago(minutes)
    )
    assert_fault(
        post(testapp, envelope(echo_payload(), header=header)), "wsse_created_out_of_window", status=401
    )


def test_created_within_the_window_is_accepted(testapp: TestApp, wsse_partner: dict[str, Any]) -> None:
    header = username_token(wsse_partner["client_id"], wsse_partner["soap_password"], created=minutes_ago(4))
    answer_payload(post(testapp, envelope(echo_payload(), header=header)))


@pytest.mark.parametrize("password_type", [PASSWORD_TEXT, None], ids=["explicit", "default-type"])
def test_password_text_is_refused(
    testapp: TestApp, wsse_partner: dict[str, Any], password_type: str | None
) -> None:
    header = username_token(
        wsse_partner["client_id"], wsse_partner["soap_password"], password_type=password_type
    )
    response = post(testapp, envelope(echo_payload(), header=header))
    assert_fault(response, "wsse_password_digest_required", status=401)
    assert wsse_partner["soap_password"].encode() not in response.body


def test_wrong_password_and_unknown_user_look_the_same(
    testapp: TestApp, wsse_partner: dict[str, Any]
) -> None:
    wrong = username_token(wsse_partner["client_id"], wsse_partner["soap_password"] + "x")
    unknown = username_token("c_" + SENTINEL, wsse_partner["soap_password"])
    a = post(testapp, envelope(echo_payload(), header=wrong))
    b = post(testapp, envelope(echo_payload(), header=unknown))
    assert_fault(a, "invalid_token", status=401)
    assert_fault(b, "invalid_token", status=401)
    strip = lambda r: r.body.replace(r.headers["X-Request-Id"].encode(), b"")  # noqa: E731
    assert strip(a) == strip(b)
    assert wsse_partner["client_id"].encode() not in a.body


def test_client_without_soap_password_cannot_use_username_tokens(testapp: TestApp, make_client: Any) -> None:
    partner = make_client(["hub:ping"])  # no soap=True: no SOAP password
    header = username_token(partner["client_id"], "")
    assert_fault(post(testapp, envelope(echo_payload(), header=header)), "invalid_token", status=401)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.replace("<wsse:Nonce", "<wsse:Nonce>AAAA</wsse:Nonce><wsse:Nonce", 1),  # two nonces
        lambda h: h.split("<wsse:Nonce")[0] + "<wsu:Created" + h.split("<wsu:Created")[1],  # no nonce
        lambda h: h.replace("Z</wsu:Created>", "</wsu:Created>"),  # no zone
        lambda h: h.replace("<wsu:Created>", f"<wsu:Created>{SENTINEL}"),  # not a time
        lambda h: h.replace(
            "</wsse:UsernameToken>", "</wsse:UsernameToken><wsse:UsernameToken/>"
        ),  # two tokens
    ],
    ids=["two-nonces", "no-nonce", "no-zone", "bad-created", "two-tokens"],
)
def test_malformed_username_tokens(testapp: TestApp, wsse_partner: dict[str, Any], mutate: Any) -> None:
    header = mutate(username_token(wsse_partner["client_id"], wsse_partner["soap_password"]))
    assert_fault(post(testapp, envelope(echo_payload(), header=header)), "invalid_token", status=401)


def test_short_nonce_is_refused(testapp: TestApp, wsse_partner: dict[str, Any]) -> None:
    header = username_token(wsse_partner["client_id"], wsse_partner["soap_password"], nonce=b"1234")
    assert_fault(post(testapp, envelope(echo_payload(), header=header)), "invalid_token", status=401)
