"""Migration 0009_kyc creates exactly what hub.models.kyc declares (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from hub.models import Base

KYC_TABLES = ("kyc_records", "kyc_changes", "kyc_consents", "kyc_field_policies", "kyc_sync_state")


def test_migration_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    relevant = [d for d in diff if any(name in repr(d) for name in KYC_TABLES)]
    assert relevant == []
