"""Hand-built SOAP requests and Fault checks for the WebTest suites (no zeep: hostile bytes too)."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree
from webtest import TestApp

from forms.safexml import parse_untrusted_xml
from hub.soap.envelope import HUB_FAULT_NS, SOAP11_ENV, SOAP12_ENV
from hub.soap.security import BASE64_BINARY, PASSWORD_DIGEST, WSSE_NS, WSU_NS
from tests.hub.soap.echo_service import ACTION, NS, PATH

ENV = {"1.1": SOAP11_ENV, "1.2": SOAP12_ENV}
MEDIA = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
# Put into hostile inputs; a response that contains it echoed input.
SENTINEL = "SENTINEL-c0ffee"


def echo_payload(name: str = "किरण शर्मा", extra: str = "") -> str:
    return f'<e:Echo xmlns:e="{NS}"><e:name>{name}</e:name>{extra}</e:Echo>'


def envelope(payload: str, version: str = "1.1", header: str = "") -> bytes:
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{ENV[version]}">{head}<s:Body>{payload}</s:Body></s:Envelope>'.encode()


def username_token(
    username: str,
    password: str,
    *,
    created: datetime | None = None,
    nonce: bytes | None = None,
    password_type: str | None = PASSWORD_DIGEST,
    zulu: bool = True,
) -> str:
    created = (created or datetime.now(UTC)).replace(microsecond=0)
    created_text = created.strftime("%Y-%m-%dT%H:%M:%SZ") if zulu else created.isoformat()
    nonce = os.urandom(16) if nonce is None else nonce
    if password_type == PASSWORD_DIGEST:
        value = base64.b64encode(
            hashlib.sha1(nonce + created_text.encode() + password.encode()).digest()
        ).decode()
    else:
        value = password
    type_attr = f' Type="{password_type}"' if password_type else ""
    return (
        f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU_NS}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f"<wsse:Password{type_attr}>{value}</wsse:Password>"
        f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created_text}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def post(
    testapp: TestApp,
    body: bytes,
    *,
    version: str = "1.1",
    operation: str | None = "Echo",
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
    status: Any = "*",
) -> Any:
    all_headers = {"Content-Type": MEDIA[version] if content_type is None else content_type}
    if operation is not None:
        if version == "1.1":
            all_headers["SOAPAction"] = f'"{ACTION}{operation}"'
        elif content_type is None:
            all_headers["Content-Type"] += f'; action="{ACTION}{operation}"'
    all_headers.update(headers or {})
    return testapp.post(PATH, body, headers=all_headers, status=status)


def answer_payload(response: Any, version: str = "1.1") -> etree._Element:
    assert response.status_int == 200, response.body[:500]
    root = parse_untrusted_xml(response.body)
    assert root.tag == f"{{{ENV[version]}}}Envelope"
    body = root.find(f"{{{ENV[version]}}}Body")
    assert body is not None and len(body) == 1
    return body[0]


def assert_fault(
    response: Any,
    code: str,
    *,
    version: str = "1.1",
    sender: bool = True,
    status: int | None = None,
    fault_value: str | None = None,
) -> etree._Element:
    """A well-formed Fault of ``version`` carrying ``code``; nothing echoed, no stack trace."""
    expected_status = status or (400 if version == "1.2" and sender else 500)
    assert response.status_int == expected_status, (response.status_int, response.body[:500])
    media = "text/xml" if version == "1.1" else "application/soap+xml"
    assert response.content_type == media
    root = parse_untrusted_xml(response.body)
    env = ENV[version]
    assert root.tag == f"{{{env}}}Envelope"
    body = root.find(f"{{{env}}}Body")
    assert body is not None
    fault = body.find(f"{{{env}}}Fault")
    assert fault is not None and len(body) == 1
    if version == "1.1":
        value = fault.findtext("faultcode")
        reason = fault.find("faultstring")
        detail = fault.find("detail")
        default_value = "soap:Client" if sender else "soap:Server"
    else:
        value = fault.findtext(f"{{{env}}}Code/{{{env}}}Value")
        reason = fault.find(f"{{{env}}}Reason/{{{env}}}Text")
        detail = fault.find(f"{{{env}}}Detail")
        default_value = "env:Sender" if sender else "env:Receiver"
    assert value == (fault_value or default_value)
    assert reason is not None and reason.text
    assert reason.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert detail is not None
    assert detail.findtext(f"{{{HUB_FAULT_NS}}}error/{{{HUB_FAULT_NS}}}code") == code
    text = response.body.decode("utf-8")
    assert SENTINEL not in text
    assert "Traceback" not in text and 'File "' not in text
    return fault
