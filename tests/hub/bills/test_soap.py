"""BillsService over SOAP: zeep against the WSDL the live hub serves, answers equal REST's and verify as
received, the portal's payment once whichever way (and however often) it comes, bad and hostile input
answered with Faults naming the field."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from connectors.reference_db import set_down
from forms.safexml import parse_untrusted_xml
from hub.bills.service import BillService
from hub.bills.soap import NS, PATH
from hub.certificates.keys import DocumentKeys
from hub.lookup import process_service
from hub.soap.envelope import HUB_FAULT_NS
from tests.hub.bills.conftest import CLEAN, DISCONNECTED, DUES, DUES_CLEAR, UNKNOWN, Bills
from tests.hub.live_server import ThreadingServer
from tests.hub.meters.flow import METER_SETTINGS
from tests.hub.soap.soapkit import ENV, MEDIA, SENTINEL, assert_fault, username_token
from tests.hub.soap.wssecurity_check import check_structure, readme_command, signer_certificate, zeep_verifies

SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
PORTS = {"1.1": "BillsPort11", "1.2": "BillsPort12"}
VERSIONS = ["1.1", "1.2"]
H = "{" + HUB_FAULT_NS + "}"


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any], http_server: tuple[str, ThreadingServer]) -> dict[str, Any]:
    base = http_server[0]
    # The WSDL's soap:address follows hub.public_url: zeep calls the live server it names.
    return {**live_settings, **METER_SETTINGS, "hub.public_url": base, "hub.oauth.issuer": base}


@pytest.fixture(scope="module")
def hub_url(http_server: tuple[str, ThreadingServer], live_wsgi_app: Any) -> str:
    base, server = http_server
    server.set_app(live_wsgi_app)
    return base


def port(hub_url: str, version: str, *, token: str | None = None, wsse: Any = None) -> Any:
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    transport = Transport(session=session, timeout=5, operation_timeout=10)
    client = zeep.Client(f"{hub_url}{PATH}?singleWsdl", settings=SETTINGS, transport=transport, wsse=wsse)
    return client.bind("BillsService", PORTS[version])


def plain(value: Any) -> Any:
    """A zeep answer as REST JSON carries it: dates ISO, decimals as strings, absent fields None."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not k.startswith("_value")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def answer(result: Any) -> dict[str, Any]:
    data = plain(serialize_object(result, dict))
    assert isinstance(data, dict)
    return data


def fault_code(fault: Fault) -> str | None:
    assert fault.detail is not None
    return fault.detail.findtext(f"{H}error/{H}code")


def fault_fields(fault: Fault) -> set[tuple[str | None, str | None]]:
    assert fault.detail is not None
    return {(e.findtext(f"{H}field"), e.findtext(f"{H}code")) for e in fault.detail.iter(f"{H}fieldError")}


def now_text() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def portal_advice(**override: Any) -> dict[str, Any]:
    advice: dict[str, Any] = {
        "cs_txn_no": "CS-SOAP-0001",
        "ivrs_no": DISCONNECTED,
        "amount_paise": 183000,
        "txn_datetime": now_text(),
    }
    advice.update(override)
    return advice


def soap_advice(advice: dict[str, Any]) -> dict[str, Any]:
    """The REST JSON advice as zeep takes it (an xs:dateTime as a datetime)."""
    return {**advice, "txn_datetime": datetime.fromisoformat(advice["txn_datetime"])}


def raw_post(bills: Bills, version: str, operation: str, inner: str, headers: dict[str, str]) -> Any:
    """A hand-built envelope through the whole app (WebTest): hostile bytes too."""
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{ENV[version]}"><s:Body>'
        f'<b:{operation} xmlns:b="{NS}">{inner}</b:{operation}></s:Body></s:Envelope>'
    ).encode()
    return raw_bytes(bills, version, operation, body, headers)


def raw_bytes(bills: Bills, version: str, operation: str, body: bytes, headers: dict[str, str]) -> Any:
    all_headers = {"Content-Type": MEDIA[version], **headers}
    if version == "1.1":
        all_headers["SOAPAction"] = f'"{NS}/{operation}"'
    else:
        all_headers["Content-Type"] += f'; action="{NS}/{operation}"'
    return bills.app.post(PATH, body, headers=all_headers, status="*")


def portal_xml(**override: str) -> str:
    fields = {
        "cs_txn_no": "CS-SOAP-0009",
        "ivrs_no": DISCONNECTED,
        "amount_paise": "183000",
        "txn_datetime": now_text(),
        **override,
    }
    return "".join(f"<b:{k}>{v}</b:{k}>" for k, v in fields.items() if v is not None)


def fields_of(response: Any, version: str) -> set[tuple[str | None, str | None]]:
    root = parse_untrusted_xml(response.body)
    return {(e.findtext(f"{H}field"), e.findtext(f"{H}code")) for e in root.iter(f"{H}fieldError")}


# ----------------------------------------------------------------- the service description


def test_wsdl_and_xsd_are_served_with_the_live_address(bills: Bills, hub_url: str) -> None:
    wsdl = requests.get(f"{hub_url}{PATH}?wsdl", timeout=5)
    assert wsdl.status_code == 200
    root = parse_untrusted_xml(wsdl.content)
    locations = {a.get("location") for a in root.iter() if etree.QName(a).localname == "address"}
    assert locations == {f"{hub_url}{PATH}"}
    operations = {o.get("name") for o in root.iter("{http://schemas.xmlsoap.org/wsdl/}operation")}
    assert operations == {
        "FetchBill",
        "FetchBills",
        "GetReceipt",
        "NotifyPortalPayment",
        "GetReconnectionStatus",
    }
    xsd = requests.get(f"{hub_url}{PATH}?xsd=bills.xsd", timeout=5)
    assert xsd.status_code == 200 and b"NotifyPortalPayment" in xsd.content


# ----------------------------------------------------------------- bill fetch


@pytest.mark.parametrize("version", VERSIONS)
def test_fetch_bill_equals_rest_with_a_token_and_with_a_username_token(
    bills: Bills, hub_url: str, version: str
) -> None:
    partner = bills.partner(["bills:fetch"], soap=True)
    bearer = port(hub_url, version, token=partner["token"])
    signed_in = port(
        hub_url, version, wsse=UsernameToken(partner["client_id"], partner["soap_password"], use_digest=True)
    )
    for number in (DUES, CLEAN, DISCONNECTED):
        rest = bills.app.get(f"/api/v1/bills/{number}", headers=partner["headers"]).json
        for service in (bearer, signed_in):
            assert answer(service.FetchBill(consumer_number=number)) == rest
    assert answer(bearer.FetchBill(consumer_number=DUES))["bill"]["amount"] == "4572.50"
    assert answer(bearer.FetchBill(consumer_number=CLEAN)) == {
        "consumer_number": CLEAN,
        "status": "nothing_due",
        "bill": None,
    }
    with pytest.raises(Fault) as raised:
        bearer.FetchBill(consumer_number=UNKNOWN)
    assert fault_code(raised.value) == "consumer_not_found"
    assert str(raised.value.code).endswith("Client" if version == "1.1" else "Sender")


@pytest.mark.parametrize("version", VERSIONS)
def test_fetch_bills_answers_each_in_order_as_rest(bills: Bills, hub_url: str, version: str) -> None:
    partner = bills.partner(["bills:fetch"])
    service = port(hub_url, version, token=partner["token"])
    numbers = [DUES, DUES_CLEAR, UNKNOWN, DISCONNECTED, DUES]
    rest = bills.app.post_json(
        "/api/v1/bills/fetch", {"consumer_numbers": numbers}, headers=partner["headers"]
    ).json
    # zeep hands back the response's one repeated element as a list.
    soap = plain(serialize_object(service.FetchBills(consumer_number=numbers), dict))
    assert soap == rest["bills"]
    assert [a["status"] for a in soap] == [
        "amount_due",
        "nothing_due",
        "consumer_not_found",
        "amount_due",
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_more_than_25_connections_is_a_fault_naming_the_26th(bills: Bills, version: str) -> None:
    inner = "".join(f"<b:consumer_number>10100000{i:02d}</b:consumer_number>" for i in range(26))
    response = raw_post(bills, version, "FetchBills", inner, bills.headers("bills:fetch"))
    assert_fault(response, "validation_failed", version=version)
    assert fields_of(response, version) == {("consumer_number[26]", "unexpected")}


@pytest.mark.parametrize("version", VERSIONS)
def test_billing_down_fetch_is_a_receiver_fault_with_retry_after(bills: Bills, version: str) -> None:
    set_down(bills.reference, "billing")
    try:
        response = raw_post(
            bills,
            version,
            "FetchBill",
            f"<b:consumer_number>{DUES}</b:consumer_number>",
            bills.headers("bills:fetch"),
        )
    finally:
        set_down(bills.reference, "billing", False)
    assert_fault(response, "dependency_unavailable", version=version, sender=False, status=500)
    assert response.headers["Retry-After"] == "30"


# ----------------------------------------------------------------- the portal's payment advice


@pytest.mark.parametrize("version", VERSIONS)
def test_portal_payment_over_soap_replayed_then_over_rest_is_one_payment_posted_once(
    bills: Bills, hub_url: str, version: str
) -> None:
    partner = bills.partner(["bills:portal"], soap=True)
    service = port(hub_url, version, token=partner["token"])
    advice = portal_advice()
    first = answer(service.NotifyPortalPayment(**soap_advice(advice)))
    assert (first["outcome"], first["state"], first["channel"]) == ("accepted", "accepted", "portal")
    assert (first["amount"], first["consumer_number"]) == ("1830.00", DISCONNECTED)
    # The same advice again, over SOAP with a UsernameToken and over REST: the first payment.
    wsse = UsernameToken(partner["client_id"], partner["soap_password"], use_digest=True)
    again = answer(port(hub_url, version, wsse=wsse).NotifyPortalPayment(**soap_advice(advice)))
    assert again == {**first, "outcome": "already_recorded"}
    rest = bills.app.post_json("/api/v1/bills/payments/portal", advice, headers=partner["headers"])
    assert rest.status_code == 200 and rest.json["outcome"] == "already_recorded"
    assert rest.json["payment_id"] == first["payment_id"]
    assert len(bills.payments()) == 1
    assert len(bills.messages("bills.post_payment")) == 1
    bills.drain()
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]
    assert len(bills.messages("meters.payment_posted")) == 1
    after = answer(service.NotifyPortalPayment(**soap_advice(advice)))
    assert (after["outcome"], after["state"]) == ("already_recorded", "posted")
    bills.drain()
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]


def test_the_same_advice_at_once_over_soap_and_rest_is_one_payment(bills: Bills, hub_url: str) -> None:
    """Eight deliveries racing on the live server, four each way: one accepted, one payment, posted once."""
    from concurrent.futures import ThreadPoolExecutor

    partner = bills.partner(["bills:portal"])
    advice = portal_advice(cs_txn_no="CS-RACE-1")
    envelope = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{ENV["1.1"]}"><s:Body>'
        f'<b:NotifyPortalPayment xmlns:b="{NS}">{portal_xml(**{k: str(v) for k, v in advice.items()})}'
        "</b:NotifyPortalPayment></s:Body></s:Envelope>"
    ).encode()

    def over_soap(_: int) -> str:
        response = requests.post(
            f"{hub_url}{PATH}",
            data=envelope,
            headers={
                **partner["headers"],
                "Content-Type": MEDIA["1.1"],
                "SOAPAction": f'"{NS}/NotifyPortalPayment"',
            },
            timeout=30,
        )
        assert response.status_code == 200, response.content[:300]
        outcome = parse_untrusted_xml(response.content).findtext(f".//{{{NS}}}outcome")
        return str(outcome)

    def over_rest(_: int) -> str:
        response = requests.post(
            f"{hub_url}/api/v1/bills/payments/portal", json=advice, headers=partner["headers"], timeout=30
        )
        assert response.status_code in (200, 202), response.text
        return str(response.json()["outcome"])

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(over_soap if i % 2 else over_rest, i) for i in range(8)]
        outcomes = sorted(f.result() for f in futures)
    assert outcomes == ["accepted"] + ["already_recorded"] * 7
    assert len(bills.payments()) == 1
    bills.drain()
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]


@pytest.mark.parametrize("version", VERSIONS)
def test_portal_payment_over_rest_first_then_soap_is_the_same_payment(
    bills: Bills, hub_url: str, version: str
) -> None:
    partner = bills.partner(["bills:portal"])
    advice = portal_advice(cs_txn_no="CS-REST-FIRST")
    rest = bills.app.post_json("/api/v1/bills/payments/portal", advice, headers=partner["headers"]).json
    soap = answer(port(hub_url, version, token=partner["token"]).NotifyPortalPayment(**soap_advice(advice)))
    assert soap == {**rest, "outcome": "already_recorded"}
    assert len(bills.payments()) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_same_transaction_other_amount_is_a_conflict_and_changes_nothing(
    bills: Bills, hub_url: str, version: str
) -> None:
    partner = bills.partner(["bills:portal"])
    service = port(hub_url, version, token=partner["token"])
    advice = portal_advice()
    service.NotifyPortalPayment(**soap_advice(advice))
    with pytest.raises(Fault) as raised:
        service.NotifyPortalPayment(**soap_advice({**advice, "amount_paise": 183001}))
    assert fault_code(raised.value) == "payment_conflict"
    [payment] = bills.payments()
    assert payment.amount == Decimal("1830.00")


@pytest.mark.parametrize(
    ("paise", "reason", "state"),
    [(200000, "excess_payment", "suspense"), (100000, None, "posted")],  # the portal takes part payments
)
def test_amounts_that_do_not_match_the_bill(
    bills: Bills, hub_url: str, paise: int, reason: str | None, state: str
) -> None:
    partner = bills.partner(["bills:portal"])
    port(hub_url, "1.1", token=partner["token"]).NotifyPortalPayment(
        **soap_advice(portal_advice(amount_paise=paise))
    )
    bills.drain()
    payment = bills.payment("portal", "CS-SOAP-0001")
    assert (payment.state, payment.suspense_reason) == (state, reason)
    assert bills.ledger_payments(DISCONNECTED) == ([Decimal(paise) / 100] if state == "posted" else [])


@pytest.mark.parametrize("version", VERSIONS)
def test_billing_down_the_advice_is_accepted_kept_and_posted_later(
    bills: Bills, hub_url: str, version: str
) -> None:
    partner = bills.partner(["bills:portal"])
    service = port(hub_url, version, token=partner["token"])
    set_down(bills.reference, "billing")
    try:
        first = answer(service.NotifyPortalPayment(**soap_advice(portal_advice())))
        assert (first["outcome"], first["state"]) == ("accepted", "accepted")
        assert [o.result for o in bills.drain()] == ["retry"]
        assert bills.payment("portal", "CS-SOAP-0001").state == "accepted"
    finally:
        set_down(bills.reference, "billing", False)
    bills.due_now()
    bills.drain()
    assert bills.payment("portal", "CS-SOAP-0001").state == "posted"
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("1830.00")]


BAD_ADVICE = [
    ({"amount_paise": "-183000"}, "amount_paise", "range"),
    ({"amount_paise": "0"}, "amount_paise", "range"),
    ({"amount_paise": "1830.50"}, "amount_paise", "type"),
    ({"amount_paise": "1830.001"}, "amount_paise", "type"),
    ({"amount_paise": "1.83e5"}, "amount_paise", "type"),
    ({"amount_paise": "1e3"}, "amount_paise", "type"),
    ({"amount_paise": "NaN"}, "amount_paise", "type"),
    ({"amount_paise": "१८३०००"}, "amount_paise", "type"),  # Devanagari digits
    ({"amount_paise": "1000000001"}, "amount_paise", "range"),
    ({"amount_paise": "99999999999999999999999"}, "amount_paise", "type"),
    ({"txn_datetime": None}, "txn_datetime", "required"),
    ({"amount_paise": None}, "txn_datetime", "unexpected"),  # found where amount_paise was due
    ({"ivrs_no": "१०१९९९९९९९"}, "ivrs_no", "format"),  # Devanagari digits
    ({"ivrs_no": f"{DISCONNECTED[:5]}\u200b{DISCONNECTED[5:]}"}, "ivrs_no", "format"),  # zero width space
    ({"ivrs_no": "12ab"}, "ivrs_no", "format"),
    ({"ivrs_no": "１０１９９９９９９９"}, "ivrs_no", "format"),  # fullwidth
    ({"ivrs_no": "١٠١٩٩٩٩٩٩٩"}, "ivrs_no", "format"),  # Arabic-Indic
    ({"cs_txn_no": "सीएस-0001"}, "cs_txn_no", "format"),
    ({"cs_txn_no": "CS\u202e1000"}, "cs_txn_no", "format"),  # right-to-left override
    ({"cs_txn_no": "C" * 65}, "cs_txn_no", "format"),
    ({"txn_datetime": "2026-12-01T10:15:00"}, "txn_datetime", "format"),  # no UTC offset
    ({"txn_datetime": "yesterday"}, "txn_datetime", "type"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("override", "field", "code"), BAD_ADVICE)
def test_bad_advice_is_a_fault_naming_the_field_and_records_nothing(
    bills: Bills, version: str, override: dict[str, str], field: str, code: str
) -> None:
    response = raw_post(
        bills, version, "NotifyPortalPayment", portal_xml(**override), bills.headers("bills:portal")
    )
    assert_fault(response, "validation_failed", version=version)
    assert fields_of(response, version) == {(field, code)}
    assert bills.payments() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_advice_dated_in_the_future_is_refused_as_rest_refuses_it(bills: Bills, version: str) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).isoformat()
    response = raw_post(
        bills, version, "NotifyPortalPayment", portal_xml(txn_datetime=later), bills.headers("bills:portal")
    )
    assert_fault(response, "validation_failed", version=version)
    assert fields_of(response, version) == {("paid_at", "range")}
    assert bills.payments() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_an_element_the_schema_does_not_know_is_refused_without_echoing_its_name(
    bills: Bills, version: str
) -> None:
    inner = portal_xml() + f"<b:{SENTINEL.replace('-', '_')}>1</b:{SENTINEL.replace('-', '_')}>"
    response = raw_post(bills, version, "NotifyPortalPayment", inner, bills.headers("bills:portal"))
    assert_fault(response, "validation_failed", version=version)
    assert SENTINEL.replace("-", "_") not in response.text
    assert bills.payments() == []


BILLION_LAUGHS = (
    '<!DOCTYPE s:Envelope [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    + "]>"
)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "doctype", [BILLION_LAUGHS, '<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>']
)
def test_entity_expansion_and_external_entities_are_refused_unparsed(
    bills: Bills, version: str, doctype: str
) -> None:
    body = (
        f'<?xml version="1.0" encoding="utf-8"?>{doctype}<s:Envelope xmlns:s="{ENV[version]}"><s:Body>'
        f'<b:NotifyPortalPayment xmlns:b="{NS}">{portal_xml(cs_txn_no="&lol9;")}</b:NotifyPortalPayment>'
        "</s:Body></s:Envelope>"
    ).encode()
    for headers in (bills.headers("bills:portal"), {}):
        response = raw_bytes(bills, version, "NotifyPortalPayment", body, headers)
        assert response.status_int in (400, 401, 500)
        assert b"root:" not in response.body and b"lollol" not in response.body
    response = raw_bytes(bills, version, "NotifyPortalPayment", body, bills.headers("bills:portal"))
    assert_fault(response, "xml_doctype_forbidden", version=version)
    assert bills.payments() == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "text",
    ["CS-&#0;-1", "CS-&#xFFFE;-1", "CS-&#xD800;-1", "CS-\udcff-1"],
    ids=["nul", "non-character", "surrogate-reference", "undecodable-byte"],
)
def test_characters_xml_forbids_are_a_malformed_fault(bills: Bills, version: str, text: str) -> None:
    inner = portal_xml(cs_txn_no=text)
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{ENV[version]}"><s:Body>'
        f'<b:NotifyPortalPayment xmlns:b="{NS}">{inner}</b:NotifyPortalPayment></s:Body></s:Envelope>'
    ).encode("utf-8", "surrogateescape")
    response = raw_bytes(bills, version, "NotifyPortalPayment", body, bills.headers("bills:portal"))
    assert_fault(response, "xml_malformed", version=version)
    assert bills.payments() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_replayed_username_token_envelope_is_refused_and_the_payment_kept_once(
    bills: Bills, version: str
) -> None:
    partner = bills.partner(["bills:portal"], soap=True)
    header = username_token(partner["client_id"], partner["soap_password"])
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{ENV[version]}">'
        f"<s:Header>{header}</s:Header><s:Body>"
        f'<b:NotifyPortalPayment xmlns:b="{NS}">{portal_xml()}</b:NotifyPortalPayment></s:Body></s:Envelope>'
    ).encode()
    first = raw_bytes(bills, version, "NotifyPortalPayment", body, {})
    assert first.status_int == 200
    assert parse_untrusted_xml(first.body).findtext(f".//{{{NS}}}outcome") == "accepted"
    replayed = raw_bytes(bills, version, "NotifyPortalPayment", body, {})
    assert_fault(replayed, "wsse_nonce_replayed", version=version, status=401)
    assert len(bills.payments()) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_each_operation_needs_its_rest_scope(bills: Bills, hub_url: str, version: str) -> None:
    fetch_only = bills.partner(["bills:fetch"])
    service = port(hub_url, version, token=fetch_only["token"])
    with pytest.raises(Fault) as raised:
        service.NotifyPortalPayment(**soap_advice(portal_advice()))
    assert fault_code(raised.value) == "insufficient_scope"
    with pytest.raises(Fault) as raised:
        service.GetReconnectionStatus(consumer_number=DISCONNECTED)
    assert fault_code(raised.value) == "insufficient_scope"
    with pytest.raises(Fault) as raised:
        service.GetReceipt(channel="portal", transaction_id="CS-SOAP-0001")
    assert fault_code(raised.value) == "insufficient_scope"
    portal = port(hub_url, version, token=bills.partner(["bills:portal"])["token"])
    with pytest.raises(Fault) as raised:
        portal.FetchBill(consumer_number=DUES)
    assert fault_code(raised.value) == "insufficient_scope"
    # The bill-payment platform reads its own channel's payments, not the portal's.
    with pytest.raises(Fault) as raised:
        port(hub_url, version, token=bills.partner(["bills:bbps"])["token"]).GetReceipt(
            channel="portal", transaction_id="CS-SOAP-0001"
        )
    assert fault_code(raised.value) == "insufficient_scope"
    # The gateway's payments have no status read over REST; nor over SOAP.
    for channel in ("gateway", "nosuchchannel"):
        with pytest.raises(Fault) as raised:
            portal.GetReceipt(channel=channel, transaction_id="X1")
        assert fault_code(raised.value) == "not_found"
    assert bills.payments() == []
    no_token = raw_post(bills, version, "FetchBill", f"<b:consumer_number>{DUES}</b:consumer_number>", {})
    assert_fault(no_token, "invalid_token", version=version, status=401)


def test_an_envelope_over_64_kib_is_refused_unread(bills: Bills) -> None:
    padding = "<!--" + "x" * (64 * 1024) + "-->"
    response = raw_post(
        bills, "1.1", "NotifyPortalPayment", portal_xml() + padding, bills.headers("bills:portal")
    )
    assert_fault(response, "body_too_large", status=413)
    assert bills.payments() == []


def test_without_a_portal_channel_the_advice_is_not_found(
    bills: Bills, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channels file with no citizen_portal channel: nothing recorded, under no other channel."""
    channels = process_service(bills.app.app.registry, BillService).channels
    monkeypatch.delitem(channels, "portal")
    response = raw_post(bills, "1.2", "NotifyPortalPayment", portal_xml(), bills.headers("bills:portal"))
    assert_fault(response, "not_found", version="1.2", status=400)
    assert bills.payments() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_receipt_asked_both_ways_or_neither_is_a_fault_naming_the_field(bills: Bills, version: str) -> None:
    headers = bills.headers("bills:portal")
    both = raw_post(
        bills,
        version,
        "GetReceipt",
        "<b:channel>portal</b:channel><b:transaction_id>CS-1</b:transaction_id>"
        "<b:receipt_number>RC1</b:receipt_number>",
        headers,
    )
    assert_fault(both, "validation_failed", version=version)
    assert fields_of(both, version) == {("receipt_number", "unexpected")}
    neither = raw_post(bills, version, "GetReceipt", "<b:channel>portal</b:channel>", headers)
    assert_fault(neither, "validation_failed", version=version)
    hindi = raw_post(
        bills,
        version,
        "GetReceipt",
        "<b:channel>portal</b:channel><b:receipt_number>रसीद१</b:receipt_number>",
        headers,
    )
    assert_fault(hindi, "validation_failed", version=version)
    assert fields_of(hindi, version) == {("receipt_number", "format")}


# ----------------------------------------------------------------- receipts and reconnection


@pytest.mark.parametrize("version", VERSIONS)
def test_receipt_and_reconnection_status_equal_rest(bills: Bills, hub_url: str, version: str) -> None:
    partner = bills.partner(["bills:portal", "meters:read"])
    service = port(hub_url, version, token=partner["token"])
    paid = answer(service.NotifyPortalPayment(**soap_advice(portal_advice())))
    pending = answer(service.GetReceipt(channel="portal", transaction_id="CS-SOAP-0001", include_pdf=True))
    assert pending["state"] == "accepted" and pending["receipt_pdf"] is None
    bills.drain()
    bills.drain()  # the receipt is rendered by its own message, queued by the posting
    rest = bills.app.get("/api/v1/bills/payments/portal/CS-SOAP-0001", headers=partner["headers"]).json
    receipt = answer(service.GetReceipt(channel="portal", transaction_id="CS-SOAP-0001"))
    assert receipt == {**rest, "receipt_pdf": None}
    assert receipt["state"] == "posted" and receipt["receipt_number"]
    with_pdf = service.GetReceipt(channel="portal", transaction_id="CS-SOAP-0001", include_pdf=True)
    rest_pdf = bills.app.get(
        "/api/v1/bills/payments/portal/CS-SOAP-0001/receipt.pdf", headers=partner["headers"]
    ).body
    assert with_pdf.receipt_pdf == rest_pdf and rest_pdf.startswith(b"%PDF")
    with pytest.raises(Fault) as raised:
        service.GetReceipt(channel="portal", transaction_id="CS-NOT-SENT")
    assert fault_code(raised.value) == "not_found"
    # By billing's receipt number, within the channel: the same payment, over SOAP and REST.
    number = receipt["receipt_number"]
    by_number = answer(service.GetReceipt(channel="portal", receipt_number=number))
    assert by_number == receipt
    rest_by_number = bills.app.get(f"/api/v1/bills/receipts/portal/{number}", headers=partner["headers"])
    assert rest_by_number.json == rest
    denied = bills.app.get(
        f"/api/v1/bills/receipts/portal/{number}", headers=bills.headers("bills:bbps"), status=403
    )
    assert denied.json["code"] == "insufficient_scope"
    for channel, unknown in (("bbps", number), ("portal", "RC0000000000")):
        with pytest.raises(Fault) as raised:
            port(hub_url, version, token=bills.partner(["bills:bbps", "bills:portal"])["token"]).GetReceipt(
                channel=channel, receipt_number=unknown
            )
        assert fault_code(raised.value) == "not_found"
        bills.app.get(
            f"/api/v1/bills/receipts/{channel}/{unknown}",
            headers=bills.headers("bills:bbps", "bills:portal"),
            status=404,
        )

    rest_status = bills.app.get(
        f"/api/v1/meters/reconnections/{DISCONNECTED}", headers=partner["headers"]
    ).json
    soap_status = answer(service.GetReconnectionStatus(consumer_number=DISCONNECTED))
    assert soap_status == {"consumer_number": DISCONNECTED, "command": rest_status["commands"]}
    assert paid["payment_id"] in [c["payment_id"] for c in soap_status["command"]]
    assert answer(service.GetReconnectionStatus(consumer_number=CLEAN)) == {
        "consumer_number": CLEAN,
        "command": [],
    }


# ----------------------------------------------------------------- signed answers


def operations() -> dict[str, str]:
    return {
        "FetchBill": f"<b:consumer_number>{DUES}</b:consumer_number>",
        "FetchBills": f"<b:consumer_number>{DUES}</b:consumer_number><b:consumer_number>{UNKNOWN}</b:consumer_number>",
        "NotifyPortalPayment": portal_xml(cs_txn_no="CS-SIGNED-1"),
        "GetReceipt": "<b:channel>portal</b:channel><b:transaction_id>CS-SIGNED-1</b:transaction_id>",
        "GetReconnectionStatus": f"<b:consumer_number>{DISCONNECTED}</b:consumer_number>",
    }


def tampered(raw: bytes) -> bytes:
    """One character of the Body changed: the first consumer number's last digit."""
    index = raw.index(b"consumer_number>") + len(b"consumer_number>") + 9
    digit = raw[index : index + 1]
    return raw[:index] + (b"1" if digit != b"1" else b"2") + raw[index + 1 :]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_answer_is_signed_and_verifies_as_received(bills: Bills, version: str, tmp_path: Path) -> None:
    partner = bills.partner(["bills:fetch", "bills:portal", "meters:read"], soap=True)
    published = bills.app.get("/.well-known/hub-certificates.pem", status=200).body
    keyring = process_service(bills.app.app.registry, DocumentKeys).keyring
    for operation, inner in operations().items():
        # A UsernameToken in the header for some, a bearer token for the others: signed alike.
        if operation in ("FetchBill", "GetReceipt"):
            header = username_token(partner["client_id"], partner["soap_password"])
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{ENV[version]}">'
                f"<s:Header>{header}</s:Header><s:Body>"
                f'<b:{operation} xmlns:b="{NS}">{inner}</b:{operation}></s:Body></s:Envelope>'
            ).encode()
            response = raw_bytes(bills, version, operation, body, {})
        else:
            response = raw_post(bills, version, operation, inner, partner["headers"])
        assert response.status_int == 200, response.body[:500]
        raw = bytes(response.body)
        check_structure(raw, datetime.now(UTC))
        assert keyring.current.evidence is not None
        assert signer_certificate(raw) == keyring.current.evidence.certificate
        assert zeep_verifies(raw, tmp_path)
        done = readme_command(raw, published, tmp_path / operation / "good")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SignedInfo References (ok/all): 2/2" in done.stderr
        bad = tampered(raw)
        assert not zeep_verifies(bad, tmp_path)
        assert readme_command(bad, published, tmp_path / operation / "bad").returncode != 0


@pytest.mark.parametrize("version", VERSIONS)
def test_answers_zeep_received_over_http_verify_as_received(
    bills: Bills, hub_url: str, version: str, tmp_path: Path
) -> None:
    """The bytes as they came off the wire to zeep, before it parsed them."""
    partner = bills.partner(["bills:fetch", "bills:portal"])
    received: list[bytes] = []
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {partner['token']}"

    def keep(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "POST":
            received.append(response.content)

    session.hooks["response"].append(keep)
    client = zeep.Client(
        f"{hub_url}{PATH}?singleWsdl",
        settings=SETTINGS,
        transport=Transport(session=session, timeout=5, operation_timeout=10),
    )
    service = client.bind("BillsService", PORTS[version])
    service.FetchBill(consumer_number=DUES)
    service.NotifyPortalPayment(**soap_advice(portal_advice()))
    published = bills.app.get("/.well-known/hub-certificates.pem", status=200).body
    assert len(received) == 2
    for index, raw in enumerate(received):
        assert zeep_verifies(raw, tmp_path)
        done = readme_command(raw, published, tmp_path / str(index))
        assert done.returncode == 0, done.stdout + done.stderr
        assert not zeep_verifies(tampered(raw), tmp_path)


def test_a_fault_is_not_signed_and_says_nothing_of_the_request(bills: Bills) -> None:
    response = raw_post(
        bills,
        "1.1",
        "FetchBill",
        f"<b:consumer_number>{SENTINEL}</b:consumer_number>",
        bills.headers("bills:fetch"),
    )
    assert_fault(response, "validation_failed")
    assert fields_of(response, "1.1") == {("consumer_number", "format")}
    assert b"Signature" not in response.body


def test_the_pdf_travels_inline_as_base64(bills: Bills) -> None:
    """xs:base64Binary in the raw answer: what a client without MTOM reads."""
    partner = bills.partner(["bills:portal"])
    raw_post(bills, "1.1", "NotifyPortalPayment", portal_xml(cs_txn_no="CS-PDF-1"), partner["headers"])
    bills.drain()
    bills.drain()
    response = raw_post(
        bills,
        "1.1",
        "GetReceipt",
        "<b:channel>portal</b:channel><b:transaction_id>CS-PDF-1</b:transaction_id><b:include_pdf>1</b:include_pdf>",
        partner["headers"],
    )
    assert response.status_int == 200
    text = parse_untrusted_xml(response.body).findtext(f".//{{{NS}}}receipt_pdf")
    assert text is not None and base64.b64decode(text).startswith(b"%PDF")
