"""Billing's contacts feed applied to ``consumer_contacts``: pages, updates, a cleared e-mail,
resuming from the recorded position, billing down, bad records skipped by reason."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from connectors.billing.reference import ReferenceBilling
from connectors.billing.tables import RefConsumer
from connectors.demo import demo_email, generate_demo_data
from connectors.errors import ConnectorUnavailable
from connectors.reference_db import set_down
from hub.db import standalone_registry
from hub.lookup import process_service
from hub.models.network import NetworkFeed
from hub.models.outage import ConsumerContact
from hub.outages.cli import cmd_outages_contacts
from hub.outages.service import CONTACTS_FEED, ContactFeed, sync_contacts


def contacts(engine: Engine) -> dict[str, tuple[str | None, str | None]]:
    with Session(engine) as session:
        return {c.consumer_number: (c.mobile, c.email) for c in session.scalars(select(ConsumerContact))}


def position(engine: Engine) -> int | None:
    with Session(engine) as session:
        return session.scalar(select(NetworkFeed.last_seq).where(NetworkFeed.source == CONTACTS_FEED))


def billing_records(reference: Engine) -> dict[str, tuple[str | None, str | None]]:
    """What billing holds, read straight from its tables (not through the feed)."""
    with Session(reference) as ref:
        return {
            c.consumer_number: (c.mobile, demo_email(c.consumer_number))
            for c in ref.scalars(select(RefConsumer))
        }


@pytest.fixture()
def billing(live_wsgi_app: Any, live_engine: Engine, live_reference_engine: Engine) -> ReferenceBilling:
    generate_demo_data(live_reference_engine, consumers=400, seed=5, replace=True)
    with live_engine.begin() as conn:
        conn.execute(delete(ConsumerContact))
        conn.execute(delete(NetworkFeed).where(NetworkFeed.source == CONTACTS_FEED))
    return ReferenceBilling(live_reference_engine)


def test_the_feed_fills_the_table_page_by_page(billing: ReferenceBilling, live_engine: Engine) -> None:
    expected = billing_records(billing.engine)
    report = sync_contacts(standalone_registry(live_engine), billing, 60)
    assert report.pages == -(-len(expected) // 60) and not report.more
    assert report.applied == len(expected) and not any(report.skipped.values())
    assert contacts(live_engine) == expected
    assert sum(1 for _, email in expected.values() if email) > 100
    assert position(live_engine) == report.last_seq == len(expected)
    # Read to its end: the next run asks once and changes nothing.
    again = sync_contacts(standalone_registry(live_engine), billing, 60)
    assert (again.pages, again.applied, again.last_seq) == (1, 0, report.last_seq)


def test_an_update_and_a_cleared_email_reach_the_table(
    billing: ReferenceBilling, live_engine: Engine
) -> None:
    sync_contacts(standalone_registry(live_engine), billing, 500)
    before = contacts(live_engine)
    with_email = next(n for n, (_, email) in sorted(before.items()) if email)
    without = next(n for n, (_, email) in sorted(before.items()) if not email)
    billing.change_contacts(with_email, before[with_email][0] or "", None)
    billing.change_contacts(without, "9123400001", "new.address@mail.example")
    report = sync_contacts(standalone_registry(live_engine), billing, 500)
    assert report.applied == 2 and report.pages == 1
    after = contacts(live_engine)
    assert after[with_email] == (before[with_email][0], None)
    assert after[without] == ("9123400001", "new.address@mail.example")
    assert {n: c for n, c in after.items() if n not in (with_email, without)} == {
        n: c for n, c in before.items() if n not in (with_email, without)
    }


def test_a_run_resumes_from_the_recorded_position(billing: ReferenceBilling, live_engine: Engine) -> None:
    first = sync_contacts(standalone_registry(live_engine), billing, 100, max_pages=1)
    assert first.more and first.applied == 100 and position(live_engine) == first.last_seq
    assert len(contacts(live_engine)) == 100
    # A change to a consumer already applied comes again, after the position.
    applied = sorted(contacts(live_engine))[0]
    billing.change_contacts(applied, "9123400002", None)
    rest = sync_contacts(standalone_registry(live_engine), billing, 100)
    total = len(billing_records(billing.engine))
    assert rest.applied == total - 100 + 1 and not rest.more
    assert len(contacts(live_engine)) == total
    assert contacts(live_engine)[applied] == ("9123400002", None)


def test_billing_down_leaves_the_position_for_the_next_run(
    billing: ReferenceBilling, live_engine: Engine, live_wsgi_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    feed = process_service(live_wsgi_app.registry, ContactFeed)
    sync_contacts(standalone_registry(live_engine), billing, 100, max_pages=1)
    kept = position(live_engine)
    set_down(billing.engine, "billing")
    try:
        with pytest.raises(ConnectorUnavailable):
            feed.sync()
        with caplog.at_level(logging.WARNING, logger="hub.outages.service"):
            feed.sync_job()
        assert "contacts feed not read" in caplog.text
        assert position(live_engine) == kept and len(contacts(live_engine)) == 100
    finally:
        set_down(billing.engine, "billing", False)
    feed.sync_job()
    assert position(live_engine) == len(billing_records(billing.engine)) and position(live_engine) != kept


def test_records_that_are_not_contacts_are_skipped_by_reason(
    billing: ReferenceBilling, live_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    sync_contacts(standalone_registry(live_engine), billing, 500)
    before = contacts(live_engine)
    bad_mobile, bad_email, good = sorted(before)[:3]
    billing.change_contacts(bad_mobile, "12345", None)
    billing.change_contacts(bad_email, "9123400003", "not an address")
    billing.change_contacts(good, "9123400004", None)
    with caplog.at_level(logging.WARNING, logger="hub.outages.service"):
        report = sync_contacts(standalone_registry(live_engine), billing, 500)
    assert report.skipped == {"consumer_number": 0, "mobile": 1, "email": 1} and report.applied == 1
    reasons = sorted(r.reason for r in caplog.records if hasattr(r, "reason"))  # type: ignore[attr-defined]
    assert reasons == ["email", "mobile"]
    after = contacts(live_engine)
    assert after[bad_mobile] == before[bad_mobile] and after[bad_email] == before[bad_email]
    assert after[good] == ("9123400004", None)
    # Skipped, not retried for ever: the position is past them.
    assert sync_contacts(standalone_registry(live_engine), billing, 500).applied == 0


def test_the_command_syncs_now_or_loads_the_extract(
    billing: ReferenceBilling, live_engine: Engine, live_wsgi_app: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = dict(live_wsgi_app.registry.settings)
    args = argparse.Namespace(file=None, sync=True, max_pages=None)
    assert cmd_outages_contacts(settings, args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["applied"] == len(billing_records(billing.engine)) and printed["more"] is False
    assert contacts(live_engine) == billing_records(billing.engine)
    set_down(billing.engine, "billing")
    try:
        assert cmd_outages_contacts(settings, args) == 1
    finally:
        set_down(billing.engine, "billing", False)
    assert cmd_outages_contacts(settings, argparse.Namespace(file=None, sync=False, max_pages=None)) == 2
