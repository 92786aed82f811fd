"""Hostile input against ElectionService: each gets a well-formed Fault with its code, and nothing leaks."""

from __future__ import annotations

import os
from typing import Any

import pytest

from hub.election.answers import NS
from hub.election.soap import PATH
from hub.soap.envelope import SOAP11_ENV, SOAP12_ENV
from tests.hub.election.conftest import Election
from tests.hub.soap.soapkit import SENTINEL, assert_fault, minutes_ago, username_token

ENV = {"1.1": SOAP11_ENV, "1.2": SOAP12_ENV}
MEDIA = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
ACTION = "urn:discom-hub:election:1/"
VERSIONS = ["1.1", "1.2"]


def payload(number: str = "MPCZ/ND/2026-27/000001", code: str = "AAAA-BBBB-CCCC") -> str:
    return f'<e:VerifyCertificate xmlns:e="{NS}"><e:number>{number}</e:number><e:code>{code}</e:code></e:VerifyCertificate>'


def envelope(body: str, version: str = "1.1", header: str = "", prolog: str = "") -> bytes:
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<s:Envelope xmlns:s="{ENV[version]}">{head}'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def post(
    election: Election,
    body: bytes,
    version: str,
    headers: dict[str, str] | None = None,
    *,
    operation: str = "VerifyCertificate",
    content_type: str | None = None,
) -> Any:
    all_headers = {"Content-Type": content_type or MEDIA[version]}
    if version == "1.1":
        all_headers["SOAPAction"] = f'"{ACTION}{operation}"'
    elif content_type is None:
        all_headers["Content-Type"] += f'; action="{ACTION}{operation}"'
    all_headers.update(headers or {})
    return election.app.post(PATH, body, headers=all_headers, status="*")


@pytest.fixture()
def partner(election: Election) -> dict[str, Any]:
    return election.authority()


@pytest.mark.parametrize("version", VERSIONS)
def test_parser_attacks(election: Election, partner: dict[str, Any], version: str, tmp_path: Any) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SENTINEL)
    auth = partner["headers"]
    xxe = envelope(
        payload("&xxe;"), version, prolog=f'<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    )
    assert_fault(post(election, xxe, version, auth), "xml_doctype_forbidden", version=version)
    laughs = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    bomb = envelope(payload("&lol9;"), version, prolog=f"<!DOCTYPE s:Envelope [{laughs}]>")
    assert_fault(post(election, bomb, version, auth), "xml_doctype_forbidden", version=version)
    external = envelope(
        payload(), version, prolog='<!DOCTYPE s:Envelope SYSTEM "http://127.0.0.1:9/evil.dtd">'
    )
    assert_fault(post(election, external, version, auth), "xml_doctype_forbidden", version=version)
    # Past the hub's depth limit; far past it libxml2 itself stops (a malformed document).
    for depth, code in ((100, "xml_too_deep"), (5000, "xml_malformed")):
        deep = envelope("<a>" * depth + SENTINEL + "</a>" * depth, version)
        assert_fault(post(election, deep, version, auth), code, version=version)
    pi = envelope(f"<?evil {SENTINEL}?>" + payload(), version)
    assert_fault(post(election, pi, version, auth), "soap_envelope_invalid", version=version)


@pytest.mark.parametrize("version", VERSIONS)
def test_transport_and_envelope_mistakes(election: Election, partner: dict[str, Any], version: str) -> None:
    auth = partner["headers"]
    cap = 2 * 1024 * 1024
    huge = envelope(payload(code="A" * 8) + f"<!-- {'x' * (cap + 10)} -->", version)
    assert_fault(post(election, huge, version, auth), "body_too_large", version=version, status=413)
    plain = post(election, envelope(payload()), version, auth, content_type="application/json")
    assert_fault(plain, "unsupported_media_type", version="1.1", status=415)
    wrong_action = post(election, envelope(payload(), version), version, auth, operation="GetDuesStatus")
    assert_fault(wrong_action, "soap_action_mismatch", version=version)
    other = "1.2" if version == "1.1" else "1.1"
    mismatch = post(election, envelope(payload(), other), version, auth)
    assert_fault(
        mismatch,
        "soap_version_mismatch",
        version=version,
        status=500,
        fault_value=f"{'soap' if version == '1.1' else 'env'}:VersionMismatch",
    )
    bad_xsd = envelope(payload(number=f"lower-case-{SENTINEL}"), version)
    assert_fault(post(election, bad_xsd, version, auth), "validation_failed", version=version)
    too_many = envelope(
        f'<e:VerifyCertificates xmlns:e="{NS}">'
        + "<e:item><e:number>X</e:number></e:item>" * 1001
        + "</e:VerifyCertificates>",
        version,
    )
    assert_fault(
        post(election, too_many, version, auth, operation="VerifyCertificates"),
        "validation_failed",
        version=version,
    )
    unknown = envelope(f'<e:Nope xmlns:e="{NS}"/>', version)
    assert_fault(post(election, unknown, version, auth), "soap_operation_unknown", version=version)
    assert_fault(
        post(election, envelope(payload(), version), version), "invalid_token", version=version, status=401
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_username_token_replay_and_window(election: Election, partner: dict[str, Any], version: str) -> None:
    nonce = os.urandom(16)
    token = username_token(partner["client_id"], partner["soap_password"], nonce=nonce)
    first = post(election, envelope(payload(), version, header=token), version)
    assert first.status_int == 200, first.body[:300]
    replay = post(election, envelope(payload(), version, header=token), version)
    assert_fault(replay, "wsse_nonce_replayed", version=version, status=401)
    stale = username_token(partner["client_id"], partner["soap_password"], created=minutes_ago(30))
    assert_fault(
        post(election, envelope(payload(), version, header=stale), version),
        "wsse_created_out_of_window",
        version=version,
        status=401,
    )
    wrong = username_token(partner["client_id"], "not-the-password")
    assert_fault(
        post(election, envelope(payload(), version, header=wrong), version),
        "invalid_token",
        version=version,
        status=401,
    )
