"""Bills and ledger payments: the SOAP client against the fake server, and the reference backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from connectors.billing import (
    MAX_CONNECTIONS_PER_CALL,
    Bill,
    ConnectionRecord,
    MeterStatus,
    MeterType,
    TariffLine,
)
from connectors.billing.reference import ReferenceBilling
from connectors.billing.soap import SoapBilling
from connectors.demo import PERSONAS
from connectors.errors import ConnectorUnavailable, NotFound
from tests.connectors.fake_billing_soap import BillingData, FakeBillingSoap
from tests.connectors.refdb_fixtures import demo_engine, ref_engine  # noqa: F401
from tests.connectors.test_billing_soap import IRFAN, SUNITA, _data

SUNITA_BILL = Bill(
    consumer_number=SUNITA.consumer_number,
    bill_number="BL101999002202610",
    period="2026-10",
    bill_date=date(2026, 10, 3),
    due_date=date(2026, 10, 18),
    current_amount=Decimal("1572.50"),
    arrears=Decimal("3000.00"),
    amount_due=Decimal("4572.50"),
    late_payment_amount=Decimal("4592.16"),
    previous_reading=12040,
    current_reading=12210,
    units=170,
    meter_number="SM-0001",
    tariff_lines=(
        TariffLine("energy", "Energy charge", "ऊर्जा प्रभार", Decimal("1242.28")),
        TariffLine("fixed", "Fixed charge", "स्थायी प्रभार", Decimal("188.70")),
        TariffLine("duty", "Electricity duty", "विद्युत शुल्क", Decimal("141.52")),
    ),
)


def _bill_data() -> BillingData:
    data = _data()
    data.bills[SUNITA.consumer_number] = SUNITA_BILL
    return data


@pytest.fixture()
def fake() -> Iterator[FakeBillingSoap]:
    with FakeBillingSoap(_bill_data()) as server:
        yield server


@pytest.fixture()
def billing(fake: FakeBillingSoap) -> SoapBilling:
    return SoapBilling(fake.wsdl_url, timeout=2, operation_timeout=0.5, page_size=2)


def test_current_bill_round_trip_with_devanagari_lines(billing: SoapBilling) -> None:
    assert billing.current_bill(SUNITA.consumer_number) == SUNITA_BILL


def test_never_billed_is_none_and_unknown_is_not_found(fake: FakeBillingSoap, billing: SoapBilling) -> None:
    assert billing.current_bill(IRFAN.consumer_number) is None
    with pytest.raises(NotFound):
        billing.current_bill("1019999999")
    calls = len(fake.calls)
    with pytest.raises(NotFound):
        billing.current_bill("12ab")
    assert len(fake.calls) == calls  # a malformed number never leaves the hub


def test_payment_lowers_the_amount_due(billing: SoapBilling) -> None:
    billing.post_payment(
        SUNITA.consumer_number, Decimal("572.50"), "HUB-bbps-1", datetime(2026, 10, 20, 6, tzinfo=UTC), "bbps"
    )
    bill = billing.current_bill(SUNITA.consumer_number)
    assert bill is not None and bill.amount_due == Decimal("4000.00")


def test_payments_of_a_day_come_page_by_page_in_order(fake: FakeBillingSoap, billing: SoapBilling) -> None:
    paid_at = datetime(2026, 10, 20, 6, tzinfo=UTC)
    for n in (3, 1, 5, 2, 4):
        billing.post_payment(SUNITA.consumer_number, Decimal("10.00"), f"HUB-bbps-{n}", paid_at, "bbps")
    billing.post_payment(
        SUNITA.consumer_number, Decimal("10.00"), "HUB-bbps-9", datetime(2026, 10, 21, 6, tzinfo=UTC), "bbps"
    )
    fake.calls.clear()
    payments = list(billing.payments_posted(date(2026, 10, 20)))
    assert [p.reference for p in payments] == [f"HUB-bbps-{n}" for n in (1, 2, 3, 4, 5)]
    assert all(p.amount == Decimal("10.00") and p.receipt_number for p in payments)
    assert fake.calls.count("ListPaymentsRequest") == 3  # pages of 2, 2 and 1
    # In bulk for reconciliation: the same payments as reference<TAB>paise lines.
    bulk = "".join(billing.payments_posted_tsv(date(2026, 10, 20)))
    assert bulk == "".join(f"HUB-bbps-{n}\t1000\n" for n in (1, 2, 3, 4, 5))


def test_garbage_bill_is_unavailable(fake: FakeBillingSoap, billing: SoapBilling) -> None:
    fake.server.mode = "garbage"
    with pytest.raises(ConnectorUnavailable):
        billing.current_bill(SUNITA.consumer_number)


def test_reference_bills_follow_the_ledger(demo_engine: Engine) -> None:  # noqa: F811
    billing = ReferenceBilling(demo_engine)
    number = PERSONAS["dues"].consumer_numbers[0]
    bill = billing.current_bill(number)
    assert bill is not None
    assert bill.amount_due == Decimal("4572.50")
    assert bill.current_amount + bill.arrears == bill.amount_due
    assert sum(line.amount for line in bill.tariff_lines) == bill.current_amount
    assert bill.current_reading - bill.previous_reading == bill.units
    assert bill.late_payment_amount > bill.amount_due
    paid_at = datetime(2026, 11, 20, 6, tzinfo=UTC)
    billing.post_payment(number, Decimal("4572.50"), "HUB-bbps-77", paid_at, "bbps")
    after = billing.current_bill(number)
    assert after is not None and not after.is_due and after.late_payment_amount == Decimal("0.00")
    posted = [p for p in billing.payments_posted(date(2026, 11, 20)) if p.reference == "HUB-bbps-77"]
    assert [(p.consumer_number, p.amount) for p in posted] == [(number, Decimal("4572.50"))]
    bulk = "".join(billing.payments_posted_tsv(date(2026, 11, 20))).splitlines()
    assert "HUB-bbps-77\t457250" in bulk


def test_bills_of_many_connections_in_one_call(fake: FakeBillingSoap, billing: SoapBilling) -> None:
    billing.heartbeat()
    fake.calls.clear()
    unknown, malformed = "1019990999", "१०१९९९००२०"
    many = billing.connections_many([SUNITA.consumer_number, IRFAN.consumer_number, unknown, malformed])
    assert fake.calls == ["GetConnectionsRequest"]
    assert many == {
        SUNITA.consumer_number: ConnectionRecord(SUNITA, SUNITA_BILL, None),  # no meter on record
        IRFAN.consumer_number: ConnectionRecord(IRFAN, None, _data().meters[IRFAN.consumer_number]),
    }
    assert billing.connections_many([malformed]) == {}
    with pytest.raises(ValueError):
        billing.connections_many([f"10199{n:05d}" for n in range(MAX_CONNECTIONS_PER_CALL + 1)])
    assert fake.calls == ["GetConnectionsRequest"]


def _connections(*items: bytes) -> bytes:
    return (
        b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:b="urn:discom:billing:1"><soap:Body><b:GetConnectionsResponse>'
        + b"".join(
            b"<b:connection><b:consumerNumber>" + n + b"</b:consumerNumber></b:connection>" for n in items
        )
        + b"</b:GetConnectionsResponse></soap:Body></soap:Envelope>"
    )


@pytest.mark.parametrize(
    "raw",
    [
        _connections(b"1019990020"),  # silent about one number: not the same as unknown
        _connections(b"1019990020", b"1019990020"),  # one number twice
        _connections(b"1019990020", b"1019990021", b"1019990046"),  # a number not asked about
        # a meter without its consumer
        _connections(b"1019990020", b"1019990046").replace(
            b"</b:consumerNumber></b:connection>",
            b"</b:consumerNumber><b:meter><b:consumerNumber>1019990020</b:consumerNumber>"
            b"<b:meterNumber>SM-1</b:meterNumber><b:meterType>smart</b:meterType><b:health>healthy</b:health>"
            b"<b:supply>connected</b:supply></b:meter></b:connection>",
            1,
        ),
    ],
)
def test_bills_answers_that_do_not_fit_the_call_are_no_answer(
    fake: FakeBillingSoap, billing: SoapBilling, raw: bytes
) -> None:
    billing.heartbeat()
    fake.raw_next = raw
    with pytest.raises(ConnectorUnavailable):
        billing.connections_many([SUNITA.consumer_number, IRFAN.consumer_number])


def test_reference_connections_of_many_are_each_ones_bill_and_meter(demo_engine: Engine) -> None:  # noqa: F811
    billing = ReferenceBilling(demo_engine)
    numbers = [
        *PERSONAS["dues"].consumer_numbers,
        *PERSONAS["clean"].consumer_numbers,
        *PERSONAS["disconnected_smart"].consumer_numbers,
    ]
    many = billing.connections_many([*numbers, "1019999990", "12"])
    assert sorted(many) == sorted(numbers)
    for number in numbers:
        try:
            meter: MeterStatus | None = billing.meter_status(number)
        except NotFound:
            meter = None
        assert many[number] == ConnectionRecord(
            billing.get_consumer(number), billing.current_bill(number), meter
        )
    assert any(found.bill is not None and found.bill.is_due for found in many.values())
    assert any(
        found.meter is not None and found.meter.meter_type is MeterType.SMART for found in many.values()
    )
