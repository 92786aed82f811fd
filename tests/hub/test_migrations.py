"""Alembic is the schema: after `upgrade head` the database matches every model, and there is one head."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

import hub.models
from connectors.reference_db import ReferenceBase, load_reference_tables
from hub.migrate import alembic_config


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, (
        "migrations must form one line; set down_revision to the previous head"
    )


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    load_reference_tables()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(context, [hub.models.Base.metadata, ReferenceBase.metadata])
    # Alembic's own version table is not a model.
    diffs = [d for d in diffs if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diffs == []
