"""The SOAP layer through the real app (WebTest): descriptions, both versions, auth, handler errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from lxml import etree
from webtest import TestApp

from forms.safexml import parse_untrusted_xml
from hub.lookup import process_service, registered
from hub.soap.envelope import HUB_FAULT_NS
from hub.soap.service import MessageSigner, SoapRoutes
from tests.hub.soap.echo_service import NS, OUTCOMES, PATH
from tests.hub.soap.soapkit import (
    SENTINEL,
    answer_payload,
    assert_fault,
    echo_payload,
    envelope,
    post,
    username_token,
)
from tests.hub.soap.wssecurity_check import check_structure

E = "{" + NS + "}"
H = "{" + HUB_FAULT_NS + "}"
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
XS = "{http://www.w3.org/2001/XMLSchema}"

# ----------------------------------------------------------------- descriptions


def test_wsdl_is_served_with_the_hub_address_and_our_xsd_locations(testapp: TestApp) -> None:
    response = testapp.get(PATH + "?wsdl")
    assert response.content_type == "text/xml"
    root = parse_untrusted_xml(response.body)
    assert root.tag == WSDL + "definitions"
    addresses = [el.get("location") for el in root.iter() if etree.QName(el).localname == "address"]
    assert addresses == ["http://hub.test/soap/echo", "http://hub.test/soap/echo"]
    imports = [el.get("schemaLocation") for el in root.iter(XS + "import")]
    assert imports == ["http://hub.test/soap/echo?xsd=echo.xsd"]


def test_xsds_are_served_and_point_at_each_other_through_the_hub(testapp: TestApp) -> None:
    echo = parse_untrusted_xml(testapp.get(PATH + "?xsd=echo.xsd").body)
    assert [el.get("schemaLocation") for el in echo.iter(XS + "import")] == [
        "http://hub.test/soap/echo?xsd=common.xsd"
    ]
    common = parse_untrusted_xml(testapp.get(PATH + "?xsd=common.xsd").body)
    assert common.get("targetNamespace") == "urn:discom-hub:test:common:1"
    assert testapp.get(PATH + "?xsd=../../etc/passwd", status=404).json["code"] == "not_found"
    assert testapp.get(PATH, status=404).json["code"] == "not_found"


def test_soap_route_is_registered_for_the_openapi_skip_list(testapp: TestApp) -> None:
    assert "soap.echo" in registered(testapp.app.registry, SoapRoutes).names
    spec = testapp.get("/openapi.json").json
    assert PATH not in spec["paths"]


# ----------------------------------------------------------------- both versions, bearer


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_echo_round_trips_devanagari_with_a_bearer_token(
    testapp: TestApp, make_client: Any, version: str
) -> None:
    client = make_client(["hub:ping"])
    response = post(
        testapp, envelope(echo_payload("किरण शर्मा"), version), version=version, headers=client["headers"]
    )
    assert response.content_type == ("text/xml" if version == "1.1" else "application/soap+xml")
    payload = answer_payload(response, version)
    assert payload.tag == E + "EchoResponse"
    assert payload.findtext(E + "greeting") == "नमस्ते किरण शर्मा"
    assert payload.findtext(E + "clientId") == client["client_id"]
    assert payload.findtext(E + "method") == "bearer"
    # UTF-8 on the wire, not character references.
    assert "किरण".encode() in response.body


def test_soap12_action_parameter_is_optional(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["hub:ping"])
    response = post(
        testapp, envelope(echo_payload(), "1.2"), version="1.2", operation=None, headers=client["headers"]
    )
    assert answer_payload(response, "1.2").tag == E + "EchoResponse"


def test_soap11_trailing_elements_after_body_are_tolerated_but_not_in_12(
    testapp: TestApp, make_client: Any
) -> None:
    client = make_client(["hub:ping"])
    body = envelope(echo_payload()).replace(b"</s:Body>", b"</s:Body><x:trailer xmlns:x='urn:x'/>")
    answer_payload(post(testapp, body, headers=client["headers"]))
    body12 = envelope(echo_payload(), "1.2").replace(b"</s:Body>", b"</s:Body><x:trailer xmlns:x='urn:x'/>")
    assert_fault(
        post(testapp, body12, version="1.2", headers=client["headers"]),
        "soap_envelope_invalid",
        version="1.2",
    )


def test_every_failure_dooms_the_transaction(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["hub:ping"])
    OUTCOMES.clear()
    body = envelope(f'<e:Trouble xmlns:e="{NS}"><e:kind>write-then-fail</e:kind></e:Trouble>')
    assert_fault(post(testapp, body, operation="Trouble", headers=client["headers"]), "conflict")
    # pyramid_tm aborted the request's transaction instead of committing it.
    assert OUTCOMES == ["aborted"]


# ----------------------------------------------------------------- handler errors -> Faults


@pytest.mark.parametrize(
    ("kind", "code", "sender", "status11", "status12"),
    [
        ("fault", "conflict", True, 500, 400),
        ("problem", "validation_failed", True, 500, 400),
        ("unavailable", "dependency_unavailable", False, 500, 500),
        ("crash", "internal_error", False, 500, 500),
        ("not-an-element", "internal_error", False, 500, 500),
    ],
)
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_handler_errors_become_faults(
    testapp: TestApp,
    make_client: Any,
    caplog: pytest.LogCaptureFixture,
    version: str,
    kind: str,
    code: str,
    sender: bool,
    status11: int,
    status12: int,
) -> None:
    client = make_client(["hub:ping"])
    body = envelope(f'<e:Trouble xmlns:e="{NS}"><e:kind>{kind}</e:kind></e:Trouble>', version)
    with caplog.at_level(logging.INFO):
        response = post(testapp, body, version=version, operation="Trouble", headers=client["headers"])
    status = status11 if version == "1.1" else status12
    fault = assert_fault(response, code, version=version, sender=sender, status=status)
    assert b"secret internal detail" not in response.body and b"/etc/passwd" not in response.body
    if kind == "crash":
        # The trace goes to the log, with the request id the caller got.
        assert any(r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records)
        assert fault.findtext(f".//{H}requestId") == response.headers["X-Request-Id"]
    if kind == "problem":
        field = fault.find(f".//{H}fieldError")
        assert field is not None
        assert field.findtext(H + "field") == "name"
        assert field.findtext(H + "code") == "unknown"
    if kind == "unavailable":
        assert response.headers["Retry-After"] == "30"


def _hsm_down(envelope: etree._Element) -> etree._Element:
    raise RuntimeError("HSM unavailable")


def test_signed_operation_fails_closed_when_signing_fails(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["certificates:verify"])
    signer = process_service(testapp.app.registry, MessageSigner)
    sign, signer.sign = signer.sign, _hsm_down
    try:
        body = envelope(f'<e:EchoEvidence xmlns:e="{NS}"><e:name>किरण</e:name></e:EchoEvidence>', "1.2")
        response = post(testapp, body, version="1.2", operation="EchoEvidence", headers=client["headers"])
    finally:
        signer.sign = sign
    assert_fault(response, "signing_unavailable", version="1.2", sender=False)
    assert "किरण".encode() not in response.body


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_signed_operation_carries_a_ws_security_signature_over_body_and_timestamp(
    testapp: TestApp, make_client: Any, version: str
) -> None:
    client = make_client(["certificates:verify"])
    body = envelope(f'<e:EchoEvidence xmlns:e="{NS}"><e:name>किरण</e:name></e:EchoEvidence>', version)
    response = post(testapp, body, version=version, operation="EchoEvidence", headers=client["headers"])
    assert response.status_int == 200
    # One signature, in wsse:Security, none in the payload; Body and Timestamp referenced by wsu:Id.
    check_structure(response.body)
    assert answer_payload(response, version).findtext(f"{{{NS}}}greeting") == "प्रमाणित किरण"


# ----------------------------------------------------------------- authentication and scopes


def test_missing_credentials_are_invalid_token_with_401(testapp: TestApp) -> None:
    response = post(testapp, envelope(echo_payload()))
    assert_fault(response, "invalid_token", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert_fault(
        post(testapp, envelope(echo_payload(), "1.2"), version="1.2"),
        "invalid_token",
        version="1.2",
        status=401,
    )


def test_bad_bearer_token_is_invalid_token(testapp: TestApp) -> None:
    response = post(testapp, envelope(echo_payload()), headers={"Authorization": f"Bearer {SENTINEL}"})
    assert_fault(response, "invalid_token", status=401)


def test_insufficient_scope(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["certificates:verify"])
    assert_fault(post(testapp, envelope(echo_payload()), headers=client["headers"]), "insufficient_scope")
    response = post(testapp, envelope(echo_payload(), "1.2"), version="1.2", headers=client["headers"])
    assert_fault(response, "insufficient_scope", version="1.2")


def test_username_token_authenticates_and_maps_to_the_same_client(
    testapp: TestApp, committed_client: Any
) -> None:
    client = committed_client(["hub:ping"])
    for version in ("1.1", "1.2"):
        header = username_token(client["client_id"], client["soap_password"], zulu=version == "1.1")
        payload = answer_payload(
            post(testapp, envelope(echo_payload(), version, header), version=version), version
        )
        assert payload.findtext(E + "clientId") == client["client_id"]
        assert payload.findtext(E + "method") == "username_token"


def test_username_token_scopes_are_enforced(testapp: TestApp, committed_client: Any) -> None:
    client = committed_client(["certificates:verify"])
    header = username_token(client["client_id"], client["soap_password"])
    assert_fault(post(testapp, envelope(echo_payload(), header=header)), "insufficient_scope")


def test_revoked_client_is_refused_on_both_paths(
    testapp: TestApp, committed_client: Any, engine: Any
) -> None:
    client = committed_client(["hub:ping"])
    # Its own unit of work (not the test's transaction): the token endpoint may write.
    token = client["token"]
    committed_client.revoke(client["client_id"])
    bearer = {"Authorization": f"Bearer {token}"}
    assert_fault(post(testapp, envelope(echo_payload()), headers=bearer), "invalid_token", status=401)
    header = username_token(client["client_id"], client["soap_password"])
    assert_fault(post(testapp, envelope(echo_payload(), header=header)), "invalid_token", status=401)


def test_two_credentials_at_once_are_refused(
    testapp: TestApp, committed_client: Any, make_client: Any
) -> None:
    wsse = committed_client(["hub:ping"])
    bearer = make_client(["hub:ping"])
    header = username_token(wsse["client_id"], wsse["soap_password"])
    response = post(testapp, envelope(echo_payload(), header=header), headers=bearer["headers"])
    assert_fault(response, "invalid_token", status=401)
