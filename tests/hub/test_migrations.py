"""Alembic is the schema: after `upgrade head` the database matches every model, and there is one head."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

import hub.models
from hub.migrate import alembic_config


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, (
        "migrations must form one line; set down_revision to the previous head"
    )


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(context, hub.models.Base.metadata)
    # Alembic's own version table is not a model.
    diffs = [d for d in diffs if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diffs == []


def test_the_hub_database_holds_no_reference_table(engine: Engine) -> None:
    """The simulated outside systems keep their own store (connectors.reference_db), never the hub's."""
    from sqlalchemy import inspect

    assert [n for n in inspect(engine).get_table_names() if n.startswith("ref_")] == []


def test_0020_moves_the_reference_tables_out_and_back(tmp_path: Path) -> None:
    """Before 0020 the hub's database held the reference systems' tables; 0020 drops them
    (their data lives in the reference store) and its downgrade recreates them empty."""
    from alembic import command
    from sqlalchemy import inspect

    from hub.db import make_engine

    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    engine = make_engine(url, pool_size=1)

    def reference_tables() -> set[str]:
        with engine.connect() as conn:
            return {n for n in inspect(conn).get_table_names() if n.startswith("ref_")}

    try:
        command.upgrade(alembic_config(url), "0018_sign_in_failures")
        before = reference_tables()
        assert {"ref_consumer", "ref_ledger_entry", "ref_sms_message", "ref_system_status"} <= before
        command.upgrade(alembic_config(url), "0020_reference_store")
        assert reference_tables() == set()
        command.downgrade(alembic_config(url), "0018_sign_in_failures")
        assert before <= reference_tables()
    finally:
        engine.dispose()
