"""Database engine and the per-request unit of work.

One transaction per request: pyramid_tm opens it, zope.sqlalchemy joins the
session to it, views never commit. Side effects that must follow a commit are
outbox rows written in the same transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import transaction
import zope.sqlalchemy
from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, pool_size: int = 16, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN and breaks
        # SAVEPOINT; take control of it (SQLAlchemy docs, "Serializable isolation").
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers and the worker go on while a request writes;
    # busy_timeout turns a momentary lock into a short wait, not an error.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def tm_session(factory: sessionmaker[Session], manager: transaction.TransactionManager) -> Session:
    """A session joined to ``manager``: committed or aborted with the transaction."""
    session = factory()
    zope.sqlalchemy.register(session, transaction_manager=manager)
    return session


def _dbsession(request: Request) -> Session:
    # A test may hand in its own session (joined to its outer transaction).
    override = request.environ.get("hub.dbsession")
    if override is not None:
        return override  # type: ignore[no-any-return]
    factory: sessionmaker[Session] = request.registry["dbsession_factory"]
    return tm_session(factory, request.tm)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    config.include("pyramid_tm")
    config.include("pyramid_retry")
    engine = config.registry.get("db_engine")
    if engine is None:
        engine = make_engine(settings["hub.database_url"], settings["hub.database_pool_size"])
        config.registry["db_engine"] = engine
    config.registry["dbsession_factory"] = session_factory(engine)
    config.add_request_method(_dbsession, "dbsession", reify=True)
