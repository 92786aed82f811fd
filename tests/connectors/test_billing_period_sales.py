"""Billing's month for the energy audit (``period_sales``): reference backend and SOAP client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from connectors.billing import ConsumerSales, OfficeCodes
from connectors.billing.reference import ReferenceBilling, bill_units
from connectors.billing.soap import SoapBilling
from connectors.billing.tables import RefConsumer, RefLedgerEntry
from connectors.errors import ConnectorUnavailable
from connectors.reference_db import set_down
from tests.connectors.fake_billing_soap import BillingData, FakeBillingSoap
from tests.connectors.refdb_fixtures import DEMO_REFERENCE_DATE, demo_engine, ref_engine  # noqa: F401

OFFICES = OfficeCodes("DC-101", "ZON-BPL-1A", "DIV-BPL-1", "CIR-BPL")
PERIOD = f"{DEMO_REFERENCE_DATE.year}-{DEMO_REFERENCE_DATE.month - 1:02d}"


def test_reference_sales_are_the_ledger_of_the_month(demo_engine: Engine) -> None:  # noqa: F811
    sales = list(ReferenceBilling(demo_engine).period_sales(PERIOD))
    assert [s.consumer_number for s in sales] == sorted({s.consumer_number for s in sales})
    # Independently: every bill and payment dated in the month, straight from the ledger.
    first, after = date(2026, 10, 1), date(2026, 11, 1)
    le = RefLedgerEntry.__table__.c
    expected: dict[str, list[int]] = {}
    with demo_engine.connect() as conn:
        dcs = dict(conn.execute(select(RefConsumer.consumer_number, RefConsumer.dc_code)).tuples().all())
        category = dict(
            conn.execute(select(RefConsumer.consumer_number, RefConsumer.category)).tuples().all()
        )
        for number, kind, paise in conn.execute(
            select(le.consumer_number, le.kind, le.amount_paise).where(
                le.entry_date >= first, le.entry_date < after, le.kind.in_(("bill", "payment"))
            )
        ):
            row = expected.setdefault(number, [0, 0, 0])
            if kind == "bill":
                row[0] += bill_units(category[number], Decimal(paise) / 100)
                row[1] += paise
            else:
                row[2] -= paise
    assert len(sales) == len(expected) > 200
    for s in sales:
        units, billed, collected = expected[s.consumer_number]
        assert s.offices.dc == dcs[s.consumer_number] and s.offices.circle.startswith("CIR-")
        assert (s.units, s.billed, s.collected) == (units, Decimal(billed) / 100, Decimal(collected) / 100)
    assert sum(s.collected for s in sales) > 0
    assert list(ReferenceBilling(demo_engine).period_sales("2001-01")) == []


def test_reference_sales_refuse_a_bad_period_and_fail_closed(demo_engine: Engine) -> None:  # noqa: F811
    billing = ReferenceBilling(demo_engine)
    for bad in ("2026-13", "2026-1", "२०२६-१०", "2026-10; DROP", ""):
        with pytest.raises(ValueError):
            list(billing.period_sales(bad))
    set_down(demo_engine, "billing")
    try:
        with pytest.raises(ConnectorUnavailable):
            list(billing.period_sales(PERIOD))
    finally:
        set_down(demo_engine, "billing", False)


@pytest.fixture()
def fake() -> Iterator[FakeBillingSoap]:
    data = BillingData()
    data.sales["2026-10"] = {
        f"10100000{i:02d}": (OFFICES, 100 + i, Decimal("700.50") + i, Decimal("650.00")) for i in range(7)
    }
    with FakeBillingSoap(data) as server:
        yield server


def test_soap_client_pages_through_the_month(fake: FakeBillingSoap) -> None:
    billing = SoapBilling(fake.wsdl_url, timeout=2, operation_timeout=0.5, page_size=3)
    sales = list(billing.period_sales("2026-10"))
    assert sales[0] == ConsumerSales(
        "1010000000", "2026-10", OFFICES, 100, Decimal("700.50"), Decimal("650.00")
    )
    assert len(sales) == 7 and sales[-1].consumer_number == "1010000006"
    # 3 + 3 + 1: the short page ends it.
    assert len([r for r in fake.server.requests if r.method == "POST"]) == 3
    assert list(billing.period_sales("2026-09")) == []
    with pytest.raises(ValueError):
        list(billing.period_sales("October"))


def test_soap_client_fails_closed_on_a_slow_or_broken_billing(fake: FakeBillingSoap) -> None:
    billing = SoapBilling(fake.wsdl_url, timeout=2, operation_timeout=0.3, page_size=3)
    fake.server.mode = "slow"
    fake.server.slow_seconds = 1.0
    with pytest.raises(ConnectorUnavailable):
        list(billing.period_sales("2026-10"))
    fake.server.mode = "garbage"
    with pytest.raises(ConnectorUnavailable):
        list(billing.period_sales("2026-10"))


def test_soap_client_refuses_a_malformed_consumer_number(fake: FakeBillingSoap) -> None:
    fake.data.sales["2026-10"]["१२३४५६७८९०"] = (OFFICES, 5, Decimal("1.00"), Decimal("0.00"))
    billing = SoapBilling(fake.wsdl_url, timeout=2, operation_timeout=0.5, page_size=20)
    with pytest.raises(ConnectorUnavailable):
        list(billing.period_sales("2026-10"))
