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
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Table, create_engine, delete, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

import connectors.bbps.reference
import connectors.citizen_portal.reference
import connectors.dbt.reference
import connectors.email.reference
import connectors.headend.reference
import connectors.payment.reference
import connectors.singlewindow.reference
import connectors.sms.reference
import connectors.whatsapp.reference
from connectors.base import ConnectorContext
from connectors.reference_db import ReferenceBase, SystemStatus

PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

MESSAGING_TABLES: list[Table] = [
    SystemStatus.__table__,  # type: ignore[list-item]
    connectors.sms.reference.RefSmsMessage.__table__,  # type: ignore[list-item]
    connectors.payment.reference.RefPaymentOrder.__table__,  # type: ignore[list-item]
    connectors.bbps.reference.RefBbpsTxn.__table__,  # type: ignore[list-item]
    connectors.citizen_portal.reference.RefPortalTxn.__table__,  # type: ignore[list-item]
    connectors.headend.reference.RefHesMeter.__table__,  # type: ignore[list-item]
    connectors.headend.reference.RefHesCommand.__table__,  # type: ignore[list-item]
    connectors.singlewindow.reference.RefSwDelivery.__table__,  # type: ignore[list-item]
    connectors.dbt.reference.RefDbtNotification.__table__,  # type: ignore[list-item]
    connectors.whatsapp.reference.RefWhatsAppMessage.__table__,  # type: ignore[list-item]
    connectors.whatsapp.reference.RefWhatsAppMedia.__table__,  # type: ignore[list-item]
    connectors.whatsapp.reference.RefWhatsAppBehaviour.__table__,  # type: ignore[list-item]
    connectors.email.reference.RefEmailMessage.__table__,  # type: ignore[list-item]
]
assert all(t.metadata is ReferenceBase.metadata for t in MESSAGING_TABLES)


_ENGINES: dict[str, Engine] = {}


def _sqlite_engine(config: pytest.Config) -> Engine:
    directory = Path(tempfile.mkdtemp(prefix="messaging-"))
    engine = create_engine(f"sqlite:///{directory / 'ref.sqlite'}")
    ReferenceBase.metadata.create_all(engine, tables=MESSAGING_TABLES)

    def cleanup() -> None:
        engine.dispose()
        shutil.rmtree(directory, ignore_errors=True)

    config.add_cleanup(cleanup)
    return engine


def _pg_engine(config: pytest.Config) -> Engine:
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

    def cleanup() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    config.add_cleanup(cleanup)
    ReferenceBase.metadata.create_all(engine, tables=MESSAGING_TABLES)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def ref_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine with empty messaging ref_ tables, on each database in turn.

    One database per kind and test session (a temp SQLite file; a PostgreSQL
    schema dropped when the session ends); tables emptied before each test.
    """
    kind: str = request.param
    if kind not in _ENGINES:
        _ENGINES[kind] = (_sqlite_engine if kind == "sqlite" else _pg_engine)(request.config)
    engine = _ENGINES[kind]
    with engine.begin() as conn:
        for table in reversed(MESSAGING_TABLES):
            conn.execute(delete(table))
    yield engine


_NO_DB = create_engine("sqlite://")


def http_context(name: str, url: str, **options: str) -> ConnectorContext:
    """A connector context for a real client pointed at a fake server, with short timeouts."""
    merged = {"url": url, "connect_timeout": "1", "read_timeout": "0.3", **options}
    return ConnectorContext(name=name, options=merged, engine=_NO_DB)


def ref_context(name: str, engine: Engine, **options: str) -> ConnectorContext:
    return ConnectorContext(name=name, options=options, engine=engine)


# A misbehaving partner: modes of tests.connectors.fakehttp.FakeServer, plus a refused connection.
FAILURE_MODES = ["error", "garbage", "slow", "refused"]
