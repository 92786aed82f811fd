"""Alembic environment: the URL or an open connection comes from hub.migrate."""

from __future__ import annotations

from alembic import context

import hub.models
from hub.db import make_engine

config = context.config
# The reference backends' tables are not the hub's: they live in the reference store.
target_metadata = hub.models.Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", pool_size=1)
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        # Closing the last connection checkpoints SQLite's WAL into the main
        # file, so a copy of the file (test templates, backups) is complete.
        engine.dispose()


run()
