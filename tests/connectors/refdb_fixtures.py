"""Reference stores on SQLite and PostgreSQL for the reference billing/KYC backends.

``ref_engine`` is parametrized over both backends (each test runs on each):
one temp SQLite file, or one uniquely named PostgreSQL schema in db ``test``
(dropped at the end), per test session, its tables created by the reference
side itself (connectors.reference_db.open_reference_store), as when served.
``demo_engine`` reloads a small deterministic demo data set before each test,
so tests may write (payments, e-KYC) without leaking into each other.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from connectors.demo import generate_demo_data
from connectors.reference_db import open_reference_store
from hub.db import make_engine

__all__ = ["DEMO_CONSUMERS", "DEMO_REFERENCE_DATE", "demo_engine", "ref_engine"]

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEMO_REFERENCE_DATE = date(2026, 11, 1)
DEMO_CONSUMERS = 300


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def ref_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("refdb") / "ref.sqlite")
        engine = open_reference_store(url)
        yield engine
        engine.dispose()
        return
    schema = "ref_" + secrets.token_hex(6)
    admin = make_engine(POSTGRES_URL, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        engine = open_reference_store(url)
        yield engine
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture()
def demo_engine(ref_engine: Engine) -> Engine:
    generate_demo_data(ref_engine, DEMO_CONSUMERS, seed=7, replace=True, reference_date=DEMO_REFERENCE_DATE)
    return ref_engine
