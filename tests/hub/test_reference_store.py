"""The reference backends behave like outside systems: their own store, never the hub's write lock.

SQLite has one writer per database file. If the simulated billing or Samagra system kept its
tables in the hub's file, a hub transaction calling it (a request deciding on dues, the worker
posting a payment) would wait on its own write lock and end in "database is locked".
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine, make_url

from connectors.demo import PERSONAS
from hub.lookup import process_service
from hub.systems import Connectors
from tests.conftest import database_kind

DUES = PERSONAS["dues"]

pytestmark = pytest.mark.skipif(
    database_kind() != "sqlite", reason="SQLite's single write lock; PostgreSQL locks rows"
)


@pytest.fixture(scope="module")
def demo(live_reference_engine: Engine) -> None:
    from connectors.demo import generate_demo_data

    generate_demo_data(live_reference_engine, consumers=60, seed=3)


def _is_write_locked(path: str) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    else:
        other.execute("ROLLBACK")
        return False
    finally:
        other.close()


def test_reference_backends_answer_while_the_hub_holds_its_write_lock(
    live_wsgi_app: Any, live_database_url: str, live_reference_engine: Engine, demo: None
) -> None:
    hub_file = make_url(live_database_url).database
    assert hub_file is not None
    assert live_reference_engine.url.database != hub_file
    connectors = process_service(live_wsgi_app.registry, Connectors)
    billing, samagra = connectors["billing"], connectors["samagra"]
    number = DUES.consumer_numbers[0]
    owed = billing.outstanding_dues(number).amount
    assert owed > 0

    # A hub transaction in the middle of its work: it holds the hub's write lock.
    hub = sqlite3.connect(hub_file, timeout=0, isolation_level=None)
    hub.execute("BEGIN IMMEDIATE")
    try:
        assert _is_write_locked(hub_file)
        # Billing writes (a payment) and reads, Samagra reads: all answer, none waits on the hub.
        receipt = billing.post_payment(number, owed, "LOCKTEST-1", datetime.now(UTC), "counter")
        assert receipt.receipt_number
        assert billing.outstanding_dues(number).amount == Decimal("0.00")
        assert samagra.get_person(DUES.samagra_id).samagra_id == DUES.samagra_id
        assert _is_write_locked(hub_file), "the hub's transaction held its lock throughout"
    finally:
        hub.execute("ROLLBACK")
        hub.close()
