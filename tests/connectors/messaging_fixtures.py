"""Fixtures for the messaging connectors (SMS, payment, head-end, single window, DBT).

Imported by the test modules that need them (``from tests.connectors.messaging_fixtures
import ref_engine``) rather than living in a conftest, so they sit beside the
billing/KYC fixtures without touching them.

``ref_engine`` runs a test on SQLite (a temp file) and on PostgreSQL
(127.0.0.1:5432, database ``test``, a schema unique to this session, dropped at
the end). PostgreSQL missing is a skip locally and a failure when ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Table, create_engine, delete, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

import connectors.dbt.reference
import connectors.headend.reference
import connectors.payment.reference
import connectors.singlewindow.reference
import connectors.sms.reference
from connectors.reference_db import ReferenceBase, SystemStatus

PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

MESSAGING_TABLES: list[Table] = [
    SystemStatus.__table__,  # type: ignore[list-item]
    connectors.sms.reference.RefSmsMessage.__table__,  # type: ignore[list-item]
    connectors.payment.reference.RefPaymentOrder.__table__,  # type: ignore[list-item]
    connectors.headend.reference.RefHesMeter.__table__,  # type: ignore[list-item]
    connectors.headend.reference.RefHesCommand.__table__,  # type: ignore[list-item]
    connectors.singlewindow.reference.RefSwDelivery.__table__,  # type: ignore[list-item]
    connectors.dbt.reference.RefDbtNotification.__table__,  # type: ignore[list-item]
]
assert all(t.metadata is ReferenceBase.metadata for t in MESSAGING_TABLES)


@pytest.fixture(scope="session")
def _sqlite_messaging_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("messaging") / "ref.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    ReferenceBase.metadata.create_all(engine, tables=MESSAGING_TABLES)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _pg_messaging_engine() -> Iterator[Engine]:
    schema = f"t_msg_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError:
        admin.dispose()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        ReferenceBase.metadata.create_all(engine, tables=MESSAGING_TABLES)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def ref_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine with empty messaging ref_ tables, on each database in turn."""
    engine: Engine = request.getfixturevalue(f"_{'sqlite' if request.param == 'sqlite' else 'pg'}_messaging_engine")
    with engine.begin() as conn:
        for table in reversed(MESSAGING_TABLES):
            conn.execute(delete(table))
    yield engine
