"""The migrations create exactly the messaging ref_ tables the models describe, on SQLite and PostgreSQL.

Migration 0003 made them; 0024_reference_headend remade the head-end's for its command protocol.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from hub.migrate import alembic_config
from tests.connectors.messaging_fixtures import MESSAGING_TABLES, PG_URL

REVISION = "heads"
OWN_TABLES = [t for t in MESSAGING_TABLES if t.name != "ref_system_status"]  # 0002 creates that one


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.sqlite'}"
        return
    schema = f"t_mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError:
        admin.dispose()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _engine(url: str) -> Engine:
    return create_engine(url)


def test_migration_matches_the_models_and_downgrades(empty_url: str) -> None:
    command.upgrade(alembic_config(empty_url), REVISION)
    engine = _engine(empty_url)
    try:
        own = MetaData()
        for table in OWN_TABLES:
            table.to_metadata(own)
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            assert {t.name for t in OWN_TABLES} <= names
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), own)
        own_names = {t.name for t in OWN_TABLES}
        relevant = [d for d in diffs if _table_of(d) in own_names]
        assert relevant == []
        command.downgrade(alembic_config(empty_url), "0001_core")
        with engine.connect() as conn:
            assert not own_names & set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _table_of(diff: object) -> str | None:
    """The table name an autogenerate diff is about (diffs are tuples, or lists of tuples)."""
    item = diff[0] if isinstance(diff, list) else diff
    assert isinstance(item, tuple)
    for part in item[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else None
        table = getattr(part, "table", None)
        if table is not None and hasattr(table, "name"):
            return str(table.name)
        if name is not None and hasattr(part, "columns") and not hasattr(part, "table"):
            return str(name)
    if isinstance(item[2], str):  # ("modify_type", schema, table, column, ...)
        return item[2]
    return None
