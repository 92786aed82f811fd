"""Migration 0012_election creates exactly what hub.models.election declares (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

import hub.models.election  # noqa: F401 - registers the tables on Base.metadata
from hub.models import Base

TABLES = ("election_jobs", "election_holder_notices")


def test_migration_matches_the_models(live_engine: Engine) -> None:
    with live_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if any(name in repr(d) for name in TABLES)] == []
