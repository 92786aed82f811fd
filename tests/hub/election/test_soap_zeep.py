"""zeep reads our served WSDL and calls ElectionService over SOAP 1.1 and 1.2; answers equal REST's."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
import zeep
from zeep.exceptions import Fault
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from connectors.demo import PERSONAS
from connectors.errors import ConnectorUnavailable
from hub.election.soap import PATH
from hub.lookup import process_service
from hub.soap.envelope import HUB_FAULT_NS
from hub.systems import Connectors
from tests.hub.election.conftest import Election

SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
PORTS = {"1.1": "ElectionPort11", "1.2": "ElectionPort12"}
VERSIONS = ["1.1", "1.2"]


def service(base_url: str, version: str, *, token: str | None = None, wsse: Any = None) -> Any:
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    transport = Transport(session=session, timeout=5, operation_timeout=10)
    client = zeep.Client(f"{base_url}{PATH}?singleWsdl", settings=SETTINGS, transport=transport, wsse=wsse)
    return client, client.bind("ElectionService", PORTS[version])


def plain(value: Any) -> Any:
    """A zeep answer as REST JSON would carry it (dates ISO, decimals as strings, no absent fields)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None and not k.startswith("_value")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def soap_result(result: Any) -> dict[str, Any]:
    data = plain(serialize_object(result, dict))
    if "connections" in data:
        data["connections"] = data["connections"].get("connection", [])
    return dict(data)


def rest_result(data: dict[str, Any]) -> dict[str, Any]:
    # JSON carries the UTC offset as "+00:00"; zeep reads it back the same way.
    return {
        k: (datetime.fromisoformat(v).isoformat() if k.endswith("_at") or k == "valid_until" else v)
        for k, v in data.items()
        if v is not None
    }


def fault_code(fault: Fault) -> str | None:
    assert fault.detail is not None
    return fault.detail.findtext(f"{{{HUB_FAULT_NS}}}error/{{{HUB_FAULT_NS}}}code")


@pytest.mark.parametrize("version", VERSIONS)
def test_verify_certificate_equals_rest_bearer_and_username_token(
    election: Election, hub_url: str, version: str
) -> None:
    record, code, mobile = election.certificate(samagra_id="912345678")
    revoked, revoked_code, _ = election.certificate(revoked=True)
    authority = election.authority()
    questions = [
        {"number": record.number, "code": code},
        {"number": record.number, "holder_name": "kiran sharma"},
        {"number": record.number, "holder_name": "Kiran"},
        {"number": record.number, "samagra_id": "912345678"},
        {"number": record.number, "samagra_id": "912345670"},
        {"number": revoked.number, "code": revoked_code},
    ]
    _client, bearer = service(hub_url, version, token=authority["token"])
    wsse = UsernameToken(authority["client_id"], authority["soap_password"], use_digest=True)
    _client, signed_in = service(hub_url, version, wsse=wsse)
    for question in questions:
        rest = election.app.post_json(
            "/api/v1/certificates/verify", question, headers=authority["headers"]
        ).json
        for port in (bearer, signed_in):
            answer = port.VerifyCertificate(**question)
            assert soap_result(answer.result) == rest_result(rest), question
    election.drain()
    assert len(election.sms(mobile)) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_verify_certificates_mixed_batch_equals_rest(election: Election, hub_url: str, version: str) -> None:
    good, code, _ = election.certificate()
    expired, expired_code, _ = election.certificate(issued_days_ago=100)
    authority = election.authority()
    items: list[dict[str, Any]] = [
        {"ref": "R1", "number": good.number, "code": code},
        {"ref": "R2", "number": "garbage number", "code": code},
        {"ref": "R3", "number": good.number},
        {"ref": "R4", "number": expired.number, "code": expired_code},
        {"ref": "R5", "number": good.number, "code": "ZZZZ-ZZZZ-ZZZZ"},
        {"ref": "R6", "number": good.number, "samagra_id": "12ab"},
    ]
    rest = election.app.post_json(
        "/api/v1/election/verifications", {"items": items}, headers=authority["headers"]
    ).json
    for port in (
        service(hub_url, version, token=authority["token"])[1],
        service(
            hub_url,
            version,
            wsse=UsernameToken(authority["client_id"], authority["soap_password"], use_digest=True),
        )[1],
    ):
        answer = port.VerifyCertificates(item=items)
        assert answer.count == len(items)
        soap_items = []
        for item in answer.item:
            data = plain(serialize_object(item, dict))
            if "result" in data:
                data["result"] = soap_result(item.result)
            soap_items.append(data)
        expected = [
            {**i, **({"result": rest_result(i["result"])} if "result" in i else {})} for i in rest["items"]
        ]
        assert soap_items == expected
    assert [i.get("result", {}).get("status") or i["error"]["code"] for i in rest["items"]] == [
        "valid",
        "validation_failed",
        "validation_failed",
        "expired",
        "unknown",
        "validation_failed",
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_get_dues_status_equals_rest(election: Election, hub_url: str, version: str) -> None:
    authority = election.authority()
    _client, port = service(hub_url, version, token=authority["token"])
    wsse = UsernameToken(authority["client_id"], authority["soap_password"], use_digest=True)
    _client, signed_in = service(hub_url, version, wsse=wsse)
    dues = PERSONAS["dues"]
    for rest_question, soap_question in (
        (
            {"consumer_numbers": [*dues.consumer_numbers, "1111111111"]},
            {"consumer_number": [*dues.consumer_numbers, "1111111111"]},
        ),
        ({"samagra_id": PERSONAS["clean"].samagra_id}, {"samagra_id": PERSONAS["clean"].samagra_id}),
        (
            {"samagra_id": PERSONAS["no_connection"].samagra_id},
            {"samagra_id": PERSONAS["no_connection"].samagra_id},
        ),
        ({"samagra_id": "123456789"}, {"samagra_id": "123456789"}),
    ):
        rest = election.app.post_json(
            "/api/v1/election/dues", rest_question, headers=authority["headers"]
        ).json
        for answer in (port.GetDuesStatus(**soap_question), signed_in.GetDuesStatus(**soap_question)):
            data = plain(serialize_object(answer, dict))
            data["connections"] = data.pop("connection", [])
            data.pop("answered_at")
            rest.pop("answered_at", None)
            assert data == rest


@pytest.mark.parametrize("version", VERSIONS)
def test_get_dues_status_for_an_unknown_samagra_id_is_unknown_never_clear(
    election: Election, hub_url: str, version: str
) -> None:
    authority = election.authority()
    _client, port = service(hub_url, version, token=authority["token"])
    answer = port.GetDuesStatus(samagra_id="123456789")
    assert (answer.status, answer.clear, answer.no_connection, answer.connection) == (
        "unknown",
        False,
        False,
        [],
    )
    known = port.GetDuesStatus(samagra_id=PERSONAS["no_connection"].samagra_id)
    assert (known.status, known.clear, known.no_connection) == ("clear", True, True)


@pytest.mark.parametrize("version", VERSIONS)
def test_faults_reach_zeep(
    election: Election, hub_url: str, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    verify_only = election.authority(["certificates:verify"])
    _client, port = service(hub_url, version, token=verify_only["token"])
    with pytest.raises(Fault) as raised:
        port.GetDuesStatus(samagra_id="900000011")
    assert fault_code(raised.value) == "insufficient_scope"
    with pytest.raises(Fault) as raised:
        port.VerifyCertificate(number="MPCZ/ND/2026-27/000001")  # no code, name or Samagra ID
    assert fault_code(raised.value) == "validation_failed"
    authority = election.authority()
    _client, port = service(hub_url, version, token=authority["token"])

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectorUnavailable("billing timed out", system="billing")

    monkeypatch.setattr(
        process_service(election.registry, Connectors)["billing"], "outstanding_dues_many", down
    )
    with pytest.raises(Fault) as raised:
        port.GetDuesStatus(consumer_number=["1234567890"])
    assert fault_code(raised.value) == "dependency_unavailable"
    assert str(raised.value.code).endswith("Server" if version == "1.1" else "Receiver")


def test_wsdl_and_xsd_are_served_with_the_live_address(election: Election, hub_url: str) -> None:
    wsdl = requests.get(f"{hub_url}{PATH}?wsdl", timeout=5)
    assert wsdl.status_code == 200 and f'location="{hub_url}{PATH}"'.encode() in wsdl.content
    xsd = requests.get(f"{hub_url}{PATH}?xsd=election.xsd", timeout=5)
    assert xsd.status_code == 200 and b"VerifyCertificates" in xsd.content
