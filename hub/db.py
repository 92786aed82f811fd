"""Database engine and the per-request unit of work.

One transaction per request: pyramid_tm opens it, zope.sqlalchemy joins the
session to it, views never commit. Side effects that must follow a commit are
outbox rows written in the same transaction.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import transaction
from pyramid.config import Configurator
from pyramid.events import ApplicationCreated
from pyramid.interfaces import IRoutesMapper
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid_retry import IRetryableError, mark_error_retryable
from sqlalchemy import Insert, String, Table, create_engine, event, inspect, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Mapper, Session, sessionmaker
from zope.sqlalchemy import ZopeTransactionEvents

from hub.errors import FieldError, Problem, problem_response
from hub.lookup import process_service, registered

log = logging.getLogger(__name__)


@functools.cache
def _bounded_text_columns(mapper: Mapper[Any]) -> tuple[tuple[str, int | None], ...]:
    """(attribute, length or None) of every text column of a mapped class."""
    return tuple(
        (attr.key, attr.columns[0].type.length)
        for attr in mapper.column_attrs
        if isinstance(attr.columns[0].type, String)
    )


def refuse_unstorable_text(session: Session, _context: Any, _instances: Any) -> None:
    """Text longer than its column, or holding NUL, is refused before the database sees it.

    PostgreSQL rejects both (SQLite stores them): without this a value the readers let through,
    or one the hub composed from it, would be a 500 on one database and stored on the other.
    Only values already loaded are read, so checking never loads anything.
    """
    problems: list[FieldError] = []
    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        loaded = state.dict
        for key, length in _bounded_text_columns(state.mapper):
            value = loaded.get(key)
            if not isinstance(value, str):
                continue
            if length is not None and len(value) > length:
                problems.append(FieldError(key, "too_long", f"at most {length} characters"))
            elif "\x00" in value:
                problems.append(FieldError(key, "format", "must not contain NUL"))
    if problems:
        raise Problem("validation_failed", "some fields cannot be stored as sent", errors=problems)


event.listen(Session, "before_flush", refuse_unstorable_text)


def make_engine(url: str, pool_size: int = 16, *, writer: bool = False, **kwargs: Any) -> Engine:
    """An engine for the hub's database.

    ``writer=True`` (SQLite only): every transaction takes the write lock when it begins
    (BEGIN IMMEDIATE), waiting for it up to the busy timeout. For processes whose transactions
    read and then write (the admin commands): a deferred transaction that has read cannot write
    after another connection committed (SQLite answers "database is locked" at once, without
    waiting), and requests have pyramid_retry for that while a command has no one to retry it.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN and breaks
        # SAVEPOINT; take control of it (SQLAlchemy docs, "Serializable isolation").
        default_begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

        def begin(conn: Connection) -> None:
            takes_lock = conn.get_execution_options().get(WRITE_LOCK_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if takes_lock else default_begin)

        event.listen(engine, "begin", begin)
        return engine
    # No pre-ping: it costs a round trip on every checkout (~0.5 ms on our
    # machines, a tenth of a certificate verification). A connection the
    # server dropped fails on first use instead; SQLAlchemy invalidates the
    # pool and pyramid_retry runs the request again (is_transient below).
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, **kwargs)


# Execution option (SQLite): this connection's transactions take the write lock when they begin.
WRITE_LOCK_OPTION = "hub_write_lock"


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


# Run on each request's session when it is made (the outbox's after-commit hand-off).
SessionHook = Callable[[Request, Session], None]


@dataclass(frozen=True)
class Database:
    """The hub's database in this process: its engine, the sessions requests get, and the hooks
    each request's session is handed to. Registered by :func:`includeme`; found with
    ``hub.lookup.process_service(registry, Database)`` (``request.find_service`` in views)."""

    engine: Engine
    sessions: sessionmaker[Session]
    session_hooks: list[SessionHook] = field(default_factory=list)

    @classmethod
    def of(cls, engine: Engine) -> Database:
        return cls(engine, session_factory(engine))


def standalone_registry(engine: Engine) -> Registry:
    """A registry holding only the :class:`Database` on ``engine``, for work done outside the app
    by code that takes a registry (hub-admin commands, and their tests)."""
    config = Configurator(registry=Registry("hub.standalone"))
    config.include("pyramid_services")
    config.register_service(Database.of(engine), Database)
    config.commit()
    return config.registry


# session.info key: the session's zope.sqlalchemy listeners (ZopeTransactionEvents), set by join_manager.
_TRANSACTION_EVENTS = "hub.transaction_events"


def join_manager(
    session: Session, manager: transaction.TransactionManager, keep_session: bool = False
) -> None:
    """Join ``session`` to ``manager``: committed or aborted with the manager's transaction.

    The same as ``zope.sqlalchemy.register(session, transaction_manager=manager, keep_session=...)``
    (join at the first statement, flushes and ORM writes mark the session changed, a commit
    outside the manager refused, ``keep_session`` kept), with zope.sqlalchemy's own
    ZopeTransactionEvents doing the work. Its listeners are registered once on the Session
    class (:data:`JOINING_EVENTS`) and find each session's ZopeTransactionEvents in
    ``session.info``: registering them on each session makes SQLAlchemy build an event
    dispatch of that one instance, seven listeners on every request.
    """
    session.info[_TRANSACTION_EVENTS] = ZopeTransactionEvents(
        transaction_manager=manager, keep_session=keep_session
    )


def _joined(session: Session) -> ZopeTransactionEvents | None:
    events: ZopeTransactionEvents | None = session.info.get(_TRANSACTION_EVENTS)
    return events


def _after_begin(session: Session, transaction_: Any, connection: Any) -> None:
    if (events := _joined(session)) is not None:
        events.after_begin(session, transaction_, connection)


def _after_attach(session: Session, instance: Any) -> None:
    if (events := _joined(session)) is not None:
        events.after_attach(session, instance)


def _after_flush(session: Session, flush_context: Any) -> None:
    if (events := _joined(session)) is not None:
        events.after_flush(session, flush_context)


def _after_bulk_update(update_context: Any) -> None:
    if (events := _joined(update_context.session)) is not None:
        events.after_bulk_update(update_context)


def _after_bulk_delete(delete_context: Any) -> None:
    if (events := _joined(delete_context.session)) is not None:
        events.after_bulk_delete(delete_context)


def _before_commit(session: Session) -> None:
    if (events := _joined(session)) is not None:
        events.before_commit(session)


def _do_orm_execute(execute_state: Any) -> None:
    if (events := _joined(execute_state.session)) is not None:
        events.do_orm_execute(execute_state)


# Every Session event zope.sqlalchemy.register listens to, handed to the joined session's own
# ZopeTransactionEvents (tests/hub/test_session_join.py checks the list against register's).
JOINING_EVENTS: dict[str, Callable[..., None]] = {
    "after_begin": _after_begin,
    "after_attach": _after_attach,
    "after_flush": _after_flush,
    "after_bulk_update": _after_bulk_update,
    "after_bulk_delete": _after_bulk_delete,
    "before_commit": _before_commit,
    "do_orm_execute": _do_orm_execute,
}
for _name, _listener in JOINING_EVENTS.items():
    event.listen(Session, _name, _listener)


@functools.cache
def insert_if_new(dialect: str, table: Table, unique: tuple[str, ...]) -> Insert:
    """INSERT into ``table`` that does nothing when a row with the same ``unique`` columns exists,
    returning the new row's id (nothing when it existed); built once per dialect and table, so
    every call runs one compiled statement."""
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=list(unique)).returning(table.c.id)


def mark_written(session: Session) -> None:
    """Tell the request's transaction that ``session`` wrote outside the ORM (COPY, Core on a raw
    connection): zope.sqlalchemy would otherwise roll back a transaction it saw no flush in.
    A session not joined to a transaction manager (the caller commits it) needs nothing."""
    if (events := _joined(session)) is not None:
        events.mark_changed(session)


def dbsession_for(request: Request) -> Session:
    """The request's session, joined to its transaction (``request.dbsession``, hub.request).

    Created on first use only, so requests that never touch the database
    pay nothing for it. The :class:`Database`'s session hooks (e.g. the
    outbox's after-commit hand-off) run once per session.
    """
    database = process_service(request.registry, Database)
    # A test may hand in its own session (joined to its outer transaction).
    session: Session | None = request.environ.get("hub.dbsession")
    if session is None:
        session = database.sessions(bind=_bind_for_attempt(request, database.engine))
        join_manager(session, request.tm)
    for hook in database.session_hooks:
        hook(request, session)
    return session


def _bind_for_attempt(request: Request, engine: Engine) -> Engine:
    """The engine for this attempt of the request.

    SQLite has one writer. A first attempt reads without a lock, so outside calls made before its
    first write (ConnectionService.prepare) hold nobody up; if another connection committed in the
    meantime, its write is refused at once and pyramid_retry runs the request again. That second
    attempt takes the write lock when it begins, waiting for it up to the busy timeout, so a
    request that keeps losing the race (an officer's sign-in under a busy worker) cannot lose it
    every time. PostgreSQL's row locks need none of this.
    """
    if engine.dialect.name != "sqlite" or not int(request.environ.get("retry.attempt", 0)):
        return engine
    return engine.execution_options(**{WRITE_LOCK_OPTION: True})


def needs_transaction(request: Request) -> bool:
    """pyramid_tm's activate hook: every path but the fixed ones whose views all declare
    ``database=False`` (hub.api). Such a view touching ``request.dbsession`` fails loudly
    (pyramid_tm refuses ``request.tm`` outside a transaction)."""
    return (
        request.environ.get("PATH_INFO", "") not in registered(request.registry, DatabaseRoutes).paths_without
    )


@dataclass
class DatabaseRoutes:
    """The routes whose views declared ``database=True`` or ``False`` (hub.api), and from them
    the fixed paths that get no transaction, as PATH_INFO arrives."""

    with_database: set[str] = field(default_factory=set)
    without_database: set[str] = field(default_factory=set)
    paths_without: frozenset[str] = frozenset()


def find_paths_without_database(event: ApplicationCreated) -> None:
    """Once the routes are known: the literal paths whose every view declared ``database=False``.

    pyramid_tm decides before the route is matched, so the decision is by path; a route with
    a variable part always gets a transaction.
    """
    registry = event.app.registry
    routes = registered(registry, DatabaseRoutes)
    without = routes.without_database - routes.with_database
    mapper = registry.queryUtility(IRoutesMapper)
    paths = {
        # WSGI's PATH_INFO: the UTF-8 bytes as latin-1 text.
        route.pattern.encode("utf-8").decode("latin-1")
        for route in (mapper.get_routes() if mapper is not None else ())
        if route.name in without and "{" not in route.pattern
    }
    routes.paths_without = frozenset(paths)


def retry_attempts(request: Request) -> int | None:
    """pyramid_retry's activate hook: no retry for GET/HEAD, nor (so no buffered
    copy of the body) for bodies over the upload cap or of unknown length.

    pyramid_retry copies the whole body before any tween runs to be able to
    replay it; an oversized or endless chunked body must be refused (hub.observability)
    without being read first.
    """
    if request.environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
        # Safe methods: a client may simply repeat them (a busy answer carries Retry-After).
        return 1
    length = request.content_length
    cap = int(request.registry.settings["hub.upload_max_body_bytes"])
    if (length is None and request.headers.get("Transfer-Encoding")) or (length is not None and length > cap):
        return 1
    return None


def is_transient(exc: BaseException) -> bool:
    """Worth running the request again: SQLite's write lock, or a pooled
    connection the database server had closed (restart, failover)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return is_sqlite_lock(exc)


def is_sqlite_lock(exc: BaseException) -> bool:
    """SQLite refused a write because another connection holds its single write lock.

    A transaction that read and then writes cannot wait for the writer (the
    upgrade would deadlock), so SQLite fails it at once. Run again, it sees
    the other's committed rows; PostgreSQL never raises this.
    """
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def retry_later(request: Request, exc: BaseException) -> bool:
    """Mark ``exc`` for pyramid_retry and back off a little; False on the last attempt."""
    mark_error_retryable(exc)
    time.sleep(random.uniform(0.02, 0.2))
    return int(request.environ.get("retry.attempt", 0)) + 1 < int(request.environ.get("retry.attempts", 1))


def database_error_view(exc: OperationalError, request: Request) -> Response:
    """A transient database error (SQLite lock, dropped connection): pyramid_retry runs the request again.

    Any other database error is unexpected (500, logged)."""
    if is_transient(exc):
        retry_later(request, exc)
        return problem_response(
            request, "dependency_unavailable", "busy; try again", headers={"Retry-After": "1"}
        )
    log.exception("database error", extra={"path": request.path})
    return problem_response(request, "internal_error")


def transaction_errors_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    """Errors raised by the commit itself (outside every view) still get problem+json, never a bare 500."""

    def tween(request: Request) -> Response:
        try:
            return handler(request)
        except Exception as exc:
            if is_transient(exc):
                if retry_later(request, exc):
                    raise
                return problem_response(
                    request, "dependency_unavailable", "busy; try again", headers={"Retry-After": "1"}
                )
            if IRetryableError.providedBy(exc):
                raise
            if isinstance(exc, Problem):  # refused at the commit's flush (refuse_unstorable_text)
                return problem_response(request, exc.code, exc.detail, errors=exc.errors)
            log.exception("error while committing", extra={"path": request.path})
            return problem_response(request, "internal_error")

    return tween


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    settings["tm.activate_hook"] = needs_transaction
    settings["retry.activate_hook"] = retry_attempts
    # No security policy: annotating the transaction with a user is wasted work.
    settings.setdefault("tm.annotate_user", "false")
    config.include("pyramid_tm")
    config.include("pyramid_retry")
    # A test's own engine (hub.make_config), never an operator's setting.
    engine = settings.pop("hub.test_engine", None)
    if engine is None:
        engine = make_engine(settings["hub.database_url"], settings["hub.database_pool_size"])
    config.register_service(Database.of(engine), Database)
    config.add_subscriber(find_paths_without_database, ApplicationCreated)
    config.add_exception_view(database_error_view, context=OperationalError)
    config.add_tween(
        "hub.db.transaction_errors_tween_factory",
        over="pyramid_tm.tm_tween_factory",
        under="hub.observability.request_id_tween_factory",
    )


def lock_feed(session: Session, key: int) -> None:
    """Serialise appends to a change feed (``key``) until the caller's transaction ends.

    On PostgreSQL sequence values are handed out at INSERT but become visible at
    COMMIT, so a follower could pass id 11 while id 10 is still uncommitted and
    never see it. With this transaction-level advisory lock taken before the
    append, ids become visible in order. SQLite has one writer at a time anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
