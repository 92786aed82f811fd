"""Billing's contacts feed (``contact_changes``): reference backend and SOAP client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from connectors.billing import ContactChange
from connectors.billing.reference import ReferenceBilling
from connectors.billing.soap import SoapBilling
from connectors.billing.tables import RefConsumer
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.reference_db import set_down
from tests.connectors.fake_billing_soap import BillingData, FakeBillingSoap
from tests.connectors.refdb_fixtures import demo_engine, ref_engine  # noqa: F401

AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_reference_feed_lists_every_consumer_then_each_change(demo_engine: Engine) -> None:  # noqa: F811
    billing = ReferenceBilling(demo_engine)
    with demo_engine.connect() as conn:
        consumers = conn.execute(select(func.count()).select_from(RefConsumer)).scalar_one()
    seen: list[ContactChange] = []
    after = 0
    while True:
        page = billing.contact_changes(after, 40)
        assert len(page.changes) <= 40
        seen.extend(page.changes)
        after = page.last_seq
        if not page.more:
            break
    assert len({c.consumer_number for c in seen}) == len(seen) == consumers
    assert [c.seq for c in seen] == sorted(c.seq for c in seen)
    with_email = sum(1 for c in seen if c.email)
    # A realistic share of consumers have an e-mail on record, not all and not none.
    assert 0.2 * consumers < with_email < 0.5 * consumers
    assert billing.contact_changes(after, 40).changes == ()
    assert billing.contact_changes(after, 40).last_seq == after

    someone = seen[0]
    seq = billing.change_contacts(someone.consumer_number, "9876500001", None)
    page = billing.contact_changes(after, 40)
    assert [(c.seq, c.consumer_number, c.mobile, c.email) for c in page.changes] == [
        (seq, someone.consumer_number, "9876500001", None)
    ]
    assert seq > after and not page.more
    with pytest.raises(NotFound):
        billing.change_contacts("1019999999", "9876500001", None)
    with pytest.raises(ValueError):
        billing.contact_changes(0, 0)

    set_down(demo_engine, "billing")
    try:
        with pytest.raises(ConnectorUnavailable):
            billing.contact_changes(0, 40)
    finally:
        set_down(demo_engine, "billing", False)


@pytest.fixture()
def fake() -> Iterator[FakeBillingSoap]:
    data = BillingData()
    for i in range(7):
        number = f"10100000{i:02d}"
        email = f"c{i}@mail.example" if i % 2 else None
        data.contacts[number] = ContactChange(10 + i, number, f"98765000{i:02d}", email, AT)
    with FakeBillingSoap(data) as server:
        yield server


def test_soap_client_pages_through_the_feed(fake: FakeBillingSoap) -> None:
    billing = SoapBilling(fake.wsdl_url, timeout=2, operation_timeout=0.5)
    first = billing.contact_changes(0, 3)
    assert first.changes[0] == ContactChange(10, "1010000000", "9876500000", None, AT)
    assert first.changes[1].email == "c1@mail.example"
    assert (first.last_seq, first.more) == (12, True)
    second = billing.contact_changes(first.last_seq, 3)
    third = billing.contact_changes(second.last_seq, 3)
    assert [c.seq for c in second.changes + third.changes] == [13, 14, 15, 16]
    assert (third.last_seq, third.more) == (16, False)
    empty = billing.contact_changes(16, 3)
    assert (empty.changes, empty.last_seq, empty.more) == ((), 16, False)
    # Billing's record is passed on as billing holds it: the hub decides what is a mobile.
    fake.data.contacts["1010000000"] = ContactChange(20, "1010000000", "12345", "not an address", AT)
    assert billing.contact_changes(16, 3).changes == (
        ContactChange(20, "1010000000", "12345", "not an address", AT),
    )
    with pytest.raises(ValueError):
        billing.contact_changes(0, 5001)


def test_soap_client_fails_closed_on_a_slow_or_broken_billing(fake: FakeBillingSoap) -> None:
    billing = SoapBilling(fake.wsdl_url, timeout=2, operation_timeout=0.3)
    fake.server.mode = "slow"
    fake.server.slow_seconds = 1.0
    with pytest.raises(ConnectorUnavailable):
        billing.contact_changes(0, 3)
    fake.server.mode = "garbage"
    with pytest.raises(ConnectorUnavailable):
        billing.contact_changes(0, 3)
    fake.server.mode = "ok"
    fake.server.down()
    with pytest.raises(ConnectorUnavailable):
        billing.contact_changes(0, 3)


def test_soap_client_refuses_a_page_out_of_order_or_repeating_a_change(fake: FakeBillingSoap) -> None:
    """Going on after such a page would skip a change for good (the feed's position moves past
    it) or apply an older one over a newer: the page is refused whole and the position stays."""
    billing = SoapBilling(fake.wsdl_url, timeout=2, operation_timeout=0.5)
    fake.data.contacts_unsorted = True
    fake.data.contacts = {
        "1010000001": ContactChange(10, "1010000001", "9876500001", None, AT),
        "1010000003": ContactChange(12, "1010000003", "9876500003", None, AT),
        "1010000002": ContactChange(11, "1010000002", "9876500002", None, AT),
    }
    with pytest.raises(ConnectorUnavailable):
        billing.contact_changes(0, 3)
    fake.data.contacts["1010000003"] = ContactChange(10, "1010000003", "9876500003", None, AT)
    with pytest.raises(ConnectorUnavailable):
        billing.contact_changes(0, 3)
    # In order, the same records are a good page.
    fake.data.contacts["1010000003"] = ContactChange(12, "1010000003", "9876500003", None, AT)
    fake.data.contacts_unsorted = False
    assert [c.seq for c in billing.contact_changes(0, 3).changes] == [10, 11, 12]
