"""SoapBilling (zeep) against a real fake SOAP billing server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine

from connectors.base import ConnectorContext, load_connector
from connectors.billing import (
    MAX_POSTINGS_PER_CALL,
    ConnectionStatus,
    Consumer,
    IBilling,
    MeterHealth,
    MeterStatus,
    MeterType,
    NewConsumer,
    Office,
    OfficeCodes,
    PaymentPosting,
    PostingReceipt,
    SupplyState,
    UnknownConsumers,
)
from connectors.billing.soap import SoapBilling
from connectors.errors import ConnectorError, ConnectorRejected, ConnectorUnavailable, NotFound
from hub.lookup import process_service
from hub.systems import Connectors
from tests.connectors.fake_billing_soap import BillingData, FakeBillingSoap, SoapFault
from tests.connectors.fakehttp import closed_port

OFFICES = OfficeCodes(dc="DC-101", zone="ZON-BPL-1A", division="DIV-BPL-1", circle="CIR-BPL")
SUNITA = Consumer(
    "1019990020",
    "Sunita Devi Verma",
    "सुनीता देवी वर्मा",
    "900000021",
    "9999000021",
    "Bhopal",
    OFFICES,
    "LV1",
    ConnectionStatus.ACTIVE,
)
SUNITA_SHOP = Consumer(
    "1019990038",
    "Sunita Devi Verma",
    "सुनीता देवी वर्मा",
    "900000021",
    "9999000021",
    "Bhopal",
    OFFICES,
    "LV2",
    ConnectionStatus.DISCONNECTED,
)
IRFAN = Consumer(
    "1019990046",
    "Mohammad Irfan Khan",
    "मोहम्मद इरफ़ान ख़ान",
    None,
    "9999000031",
    "Bhopal",
    OFFICES,
    "LV1",
    ConnectionStatus.ACTIVE,
)


def _data() -> BillingData:
    data = BillingData()
    for c in (SUNITA, SUNITA_SHOP, IRFAN):
        data.consumers[c.consumer_number] = c
    data.ledger[SUNITA.consumer_number] = [
        (date(2026, 9, 3), Decimal("3000.00")),
        (date(2026, 10, 3), Decimal("1572.50")),
    ]
    data.ledger[SUNITA_SHOP.consumer_number] = [
        (date(2026, 10, 3), Decimal("800.00")),
        (date(2026, 10, 9), Decimal("-800.00")),
    ]
    data.meters[IRFAN.consumer_number] = MeterStatus(
        IRFAN.consumer_number,
        "HPL00000042",
        MeterType.CONVENTIONAL,
        MeterHealth.FAULTY,
        SupplyState.CONNECTED,
        date(2026, 10, 1),
    )
    data.offices["DIV-BPL-1"] = Office("DIV-BPL-1", "division", "Bhopal City Division 1", "भोपाल शहर संभाग 1")
    return data


@pytest.fixture()
def fake() -> Iterator[FakeBillingSoap]:
    with FakeBillingSoap(_data()) as server:
        yield server


@pytest.fixture()
def billing(fake: FakeBillingSoap) -> SoapBilling:
    return SoapBilling(fake.wsdl_url, timeout=2, operation_timeout=0.5)


def test_built_from_settings_with_the_shipped_wsdl_and_an_endpoint(fake: FakeBillingSoap) -> None:
    context = ConnectorContext(
        "billing",
        {
            "backend": "connectors.billing.soap:SoapBilling",
            "endpoint": fake.endpoint,
            "operation_timeout": "0.5",
        },
        create_engine("sqlite://"),
    )
    billing = load_connector(context.options["backend"], context)
    assert isinstance(billing, SoapBilling)
    assert IBilling.providedBy(billing)
    assert billing.operation_timeout == 0.5
    billing.heartbeat()
    assert billing.get_consumer(SUNITA.consumer_number) == SUNITA
    # The WSDL came from the package, not from the fake.
    assert not any(r.method == "GET" for r in fake.server.requests)


def test_bad_settings_are_refused() -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(ValueError, match="operation_timeout"):
        SoapBilling.from_context(ConnectorContext("billing", {"operation_timeout": "soon"}, engine))
    with pytest.raises(ValueError, match="endpoint"):
        SoapBilling.from_context(ConnectorContext("billing", {"endpoint": "ftp://x"}, engine))


def test_consumer_round_trip_with_devanagari(billing: SoapBilling) -> None:
    assert billing.get_consumer(SUNITA.consumer_number) == SUNITA
    irfan = billing.get_consumer(IRFAN.consumer_number)
    assert irfan.name_hi == "मोहम्मद इरफ़ान ख़ान"
    assert irfan.samagra_id is None


def test_connections_by_samagra_and_mobile(billing: SoapBilling) -> None:
    assert billing.connections_by_samagra("900000021") == [SUNITA, SUNITA_SHOP]
    assert billing.connections_by_samagra("900000099") == []
    assert billing.connections_by_mobile("9999000031") == [IRFAN]
    assert billing.connections_by_mobile("9999000099") == []


def test_dues_single_and_batch_as_of_a_date(billing: SoapBilling) -> None:
    dues = billing.outstanding_dues(SUNITA.consumer_number, date(2026, 11, 1))
    assert dues.amount == Decimal("4572.50")
    assert dues.last_bill_date == date(2026, 10, 3)
    assert dues.evidence_id == "NGB-1019990020-20261101"
    assert not dues.is_clear
    earlier = billing.outstanding_dues(SUNITA.consumer_number, date(2026, 9, 30))
    assert earlier.amount == Decimal("3000.00")
    many = billing.outstanding_dues_many(
        [SUNITA.consumer_number, SUNITA_SHOP.consumer_number, IRFAN.consumer_number], date(2026, 11, 1)
    )
    assert {n: d.amount for n, d in many.items()} == {
        SUNITA.consumer_number: Decimal("4572.50"),
        SUNITA_SHOP.consumer_number: Decimal("0.00"),
        IRFAN.consumer_number: Decimal("0.00"),
    }
    assert many[IRFAN.consumer_number].last_bill_date is None


def test_unknown_consumers_fault_maps_to_not_found(billing: SoapBilling) -> None:
    with pytest.raises(NotFound):
        billing.get_consumer("1019990999")
    with pytest.raises(NotFound):
        billing.outstanding_dues("1019990999")
    with pytest.raises(UnknownConsumers) as caught:
        billing.outstanding_dues_many([SUNITA.consumer_number, "1019990999", "2029990999"])
    assert caught.value.consumer_numbers == ("1019990999", "2029990999")


def test_malformed_numbers_never_reach_billing(fake: FakeBillingSoap, billing: SoapBilling) -> None:
    billing.heartbeat()
    before = len(fake.calls)
    with pytest.raises(NotFound):
        billing.get_consumer("12-34")
    with pytest.raises(UnknownConsumers):
        billing.outstanding_dues_many(["١٢٣٤٥٦٧٨٩٠"])  # Arabic-Indic digits are not ASCII digits
    assert billing.connections_by_samagra("abc") == []
    assert len(fake.calls) == before


def test_meter_status(billing: SoapBilling) -> None:
    meter = billing.meter_status(IRFAN.consumer_number)
    assert meter.health is MeterHealth.FAULTY
    assert meter.meter_type is MeterType.CONVENTIONAL
    assert meter.last_read_on == date(2026, 10, 1)
    with pytest.raises(NotFound):
        billing.meter_status(SUNITA.consumer_number)


def test_office_names(billing: SoapBilling) -> None:
    office = billing.office("DIV-BPL-1")
    assert (office.level, office.name_en, office.name_hi) == (
        "division",
        "Bhopal City Division 1",
        "भोपाल शहर संभाग 1",
    )
    with pytest.raises(NotFound):
        billing.office("DIV-XYZ-9")


def test_post_payment_is_idempotent_and_conflicts_are_rejected(billing: SoapBilling) -> None:
    paid_at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    first = billing.post_payment(SUNITA.consumer_number, Decimal("4572.50"), "PG-1", paid_at, "upi")
    assert not first.duplicate
    assert first.balance_after == Decimal("0.00")
    again = billing.post_payment(SUNITA.consumer_number, Decimal("4572.50"), "PG-1", paid_at, "upi")
    assert again.duplicate and again.receipt_number == first.receipt_number
    assert billing.outstanding_dues(SUNITA.consumer_number, date(2026, 11, 30)).amount == Decimal("0.00")
    with pytest.raises(ConnectorRejected) as caught:
        billing.post_payment(SUNITA.consumer_number, Decimal("1.00"), "PG-1", paid_at, "upi")
    assert caught.value.code == "reference_conflict"


def test_post_credit(billing: SoapBilling) -> None:
    receipt = billing.post_credit(
        SUNITA_SHOP.consumer_number, Decimal("250.00"), "COMP-7", "delay compensation"
    )
    assert receipt.amount == Decimal("250.00")
    assert receipt.balance_after == Decimal("-250.00")


def test_create_consumer_is_idempotent(billing: SoapBilling) -> None:
    new = NewConsumer("NC-2026-0001", "Kavita Sahu", "कविता साहू", "123456789", "9876543210", "DC-101", "LV1")
    created = billing.create_consumer(new)
    assert created.name_hi == "कविता साहू"
    assert created.connection_status is ConnectionStatus.ACTIVE
    assert billing.create_consumer(new).consumer_number == created.consumer_number
    with pytest.raises(ConnectorRejected) as caught:
        billing.create_consumer(NewConsumer("NC-2", "A", "अ", None, "9876543210", "XX", "LV1"))
    assert caught.value.code == "unknown_office"


def test_server_fault_is_unavailable(fake: FakeBillingSoap, billing: SoapBilling) -> None:
    fake.fault_next = SoapFault("unavailable", fault_code="soap:Server")
    with pytest.raises(ConnectorUnavailable):
        billing.get_consumer(SUNITA.consumer_number)
    # A fault without our detail is not a NotFound either.
    fake.raw_next = (
        b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>nope</faultstring></soap:Fault>"
        b"</soap:Body></soap:Envelope>"
    )
    with pytest.raises(ConnectorUnavailable):
        billing.get_consumer(SUNITA.consumer_number)
    assert billing.get_consumer(SUNITA.consumer_number) == SUNITA


def test_slow_server_times_out_quickly(fake: FakeBillingSoap, billing: SoapBilling) -> None:
    billing.heartbeat()  # WSDL loaded while the server is fast
    fake.server.mode = "slow"
    fake.server.slow_seconds = 10
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="timed out"):
        billing.outstanding_dues(SUNITA.consumer_number)
    # Not a timing assertion on the system under test: only that it did not wait for the server.
    assert time.monotonic() - started < 9


@pytest.mark.parametrize("mode", ["garbage", "error"])
def test_garbage_and_http_errors_are_unavailable(
    fake: FakeBillingSoap, billing: SoapBilling, mode: str
) -> None:
    billing.heartbeat()
    fake.server.mode = mode
    with pytest.raises(ConnectorUnavailable):
        billing.get_consumer(SUNITA.consumer_number)
    with pytest.raises(ConnectorUnavailable):
        billing.heartbeat()


@pytest.mark.parametrize(
    "raw",
    [
        # Well-formed SOAP, but the answer breaks the schema (unknown element).
        b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:b="urn:discom:billing:1"><soap:Body><b:GetConsumerResponse><b:surprise>1</b:surprise>'
        b"</b:GetConsumerResponse></soap:Body></soap:Envelope>",
        # A DOCTYPE with an entity: zeep must refuse it.
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><soap:Envelope '
        b'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&e;</soap:Body></soap:Envelope>',
        # Truncated XML.
        b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Bo',
    ],
)
def test_malformed_answers_are_unavailable(fake: FakeBillingSoap, billing: SoapBilling, raw: bytes) -> None:
    billing.heartbeat()
    fake.raw_next = raw
    with pytest.raises(ConnectorUnavailable):
        billing.get_consumer(SUNITA.consumer_number)


def test_connection_refused_is_unavailable_and_recovers(fake: FakeBillingSoap) -> None:
    dead = SoapBilling(f"http://127.0.0.1:{closed_port()}/billing?wsdl", timeout=1, operation_timeout=0.5)
    with pytest.raises(ConnectorUnavailable, match="WSDL"):
        dead.heartbeat()
    billing = SoapBilling(fake.wsdl_url, timeout=1, operation_timeout=0.5)
    billing.heartbeat()
    fake.server.down()
    with pytest.raises(ConnectorUnavailable):
        billing.heartbeat()
    fake.server.up()
    billing.heartbeat()


def test_the_hub_takes_connector_options_from_the_environment(
    fake: FakeBillingSoap, engine: Any, app_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HUB_BILLING_WSDL_URL names the billing system's WSDL, as the README says; the ini has no such key."""
    from webtest import TestApp

    from hub import main

    monkeypatch.setenv("HUB_BILLING_BACKEND", "connectors.billing.soap:SoapBilling")
    monkeypatch.setenv("HUB_BILLING_WSDL_URL", fake.wsdl_url)
    monkeypatch.setenv("HUB_BILLING_OPERATION_TIMEOUT", "0.5")
    settings = {k: v for k, v in app_settings.items() if not k.startswith("hub.billing.")}
    settings["hub.billing.backend"] = "connectors.billing.reference:ReferenceBilling"
    app = main({}, **settings, **{"hub.test_engine": engine})
    billing = process_service(app.registry, Connectors)["billing"]
    assert isinstance(billing, SoapBilling)
    assert (billing.wsdl_url, billing.operation_timeout) == (fake.wsdl_url, 0.5)
    checks = TestApp(app).get("/readyz", status="*").json["checks"]
    assert checks["billing"]["status"] == "ok"


def _posting(reference: str, number: str = SUNITA.consumer_number, amount: str = "100.00") -> PaymentPosting:
    return PaymentPosting(
        number, Decimal(amount), reference, datetime(2026, 11, 20, 10, 0, tzinfo=UTC), "upi"
    )


def test_payments_posted_in_one_call_each_accepted_or_refused_alone(
    fake: FakeBillingSoap, billing: SoapBilling
) -> None:
    billing.post_payment(SUNITA.consumer_number, Decimal("10.00"), "PG-EARLIER", _posting("x").paid_at, "upi")
    postings = [
        _posting("PG-B1"),
        _posting("PG-EARLIER", amount="99.00"),  # the reference was used for another amount
        _posting("PG-B2", number="1019990999"),  # unknown to billing
        _posting("PG-B3", number="१०१९९९००२०"),  # Devanagari digits: never sent
        _posting("PG-B4", amount="1.005"),  # paise have two decimals: never sent
        _posting("PG-B5", number=IRFAN.consumer_number, amount="250.50"),
    ]
    fake.calls.clear()
    answer = billing.post_payment_many(postings)
    assert fake.calls == ["PostPaymentsRequest"]
    first, shop = answer["PG-B1"], answer["PG-B5"]
    assert isinstance(first, PostingReceipt) and not first.duplicate
    assert first.balance_after == Decimal("4462.50")
    assert isinstance(shop, PostingReceipt) and shop.amount == Decimal("250.50")
    refusals = {
        ref: (type(error).__name__, error.code)
        for ref, error in answer.items()
        if isinstance(error, ConnectorError)
    }
    assert refusals == {
        "PG-EARLIER": ("ConnectorRejected", "reference_conflict"),
        "PG-B2": ("NotFound", "not_found"),
        "PG-B3": ("NotFound", "not_found"),
        "PG-B4": ("ConnectorRejected", "invalid_amount"),
    }
    # Sent again (a worker that died before recording): the same receipts, nothing posted twice.
    again = billing.post_payment_many([postings[0], postings[5]])
    assert [(r.receipt_number, r.duplicate) for r in again.values() if isinstance(r, PostingReceipt)] == [
        (first.receipt_number, True),
        (shop.receipt_number, True),
    ]
    assert billing.outstanding_dues(SUNITA.consumer_number, date(2026, 11, 30)).amount == Decimal("4462.50")


def test_a_postings_call_the_caller_got_wrong_is_never_sent(
    fake: FakeBillingSoap, billing: SoapBilling
) -> None:
    billing.heartbeat()
    fake.calls.clear()
    naive = PaymentPosting(SUNITA.consumer_number, Decimal("1.00"), "PG-N", datetime(2026, 11, 20), "upi")
    for postings in (
        [_posting("PG-D"), _posting("PG-D", amount="5.00")],
        [_posting(f"PG-{n}") for n in range(MAX_POSTINGS_PER_CALL + 1)],
        [naive],
    ):
        with pytest.raises(ValueError):
            billing.post_payment_many(postings)
    assert billing.post_payment_many([_posting("PG-BAD", number="12")])["PG-BAD"].code == "not_found"  # type: ignore[union-attr]
    assert fake.calls == []


def _results(*results: bytes) -> bytes:
    return (
        b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:b="urn:discom:billing:1"><soap:Body><b:PostPaymentsResponse>'
        + b"".join(results)
        + b"</b:PostPaymentsResponse></soap:Body></soap:Envelope>"
    )


def _result(
    reference: bytes, amount: bytes = b"100.00", refusal: bytes | None = None, posted: bool = True
) -> bytes:
    body = b"<b:result><b:paymentReference>" + reference + b"</b:paymentReference>"
    if posted:
        body += (
            b"<b:posting><b:reference>"
            + reference
            + b"</b:reference><b:consumerNumber>1019990020</b:consumerNumber>"
            b"<b:amount>" + amount + b"</b:amount><b:receiptNumber>NGBR1</b:receiptNumber>"
            b"<b:postedAt>2026-11-20T10:00:01+00:00</b:postedAt><b:duplicate>false</b:duplicate>"
            b"<b:balanceAfter>4472.50</b:balanceAfter></b:posting>"
        )
    if refusal is not None:
        body += b"<b:refusal>" + refusal + b"</b:refusal>"
    return body + b"</b:result>"


@pytest.mark.parametrize(
    "raw",
    [
        _results(_result(b"PG-R1")),  # one result for two payments
        _results(_result(b"PG-R2"), _result(b"PG-R1")),  # out of order
        _results(_result(b"PG-R1"), _result(b"PG-R3")),  # a result for a payment not sent
        _results(_result(b"PG-R1"), _result(b"PG-R2", refusal=b"not_found")),  # posted and refused
        _results(_result(b"PG-R1"), _result(b"PG-R2", posted=False)),  # neither
        _results(_result(b"PG-R1"), _result(b"PG-R2", refusal=b"try_later", posted=False)),  # unknown refusal
        _results(_result(b"PG-R1"), _result(b"PG-R2", amount=b"10.00")),  # another amount posted
        _results(_result(b"PG-R1"), _result(b"PG-R2"), _result(b"PG-R2")),  # one result too many
    ],
)
def test_postings_answers_that_do_not_fit_the_call_are_no_answer(
    fake: FakeBillingSoap, billing: SoapBilling, raw: bytes
) -> None:
    billing.heartbeat()
    fake.raw_next = raw
    with pytest.raises(ConnectorUnavailable):
        billing.post_payment_many([_posting("PG-R1"), _posting("PG-R2")])
