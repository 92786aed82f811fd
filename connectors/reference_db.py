"""The reference store: where the reference backends (the discom's systems, simulated) keep their data.

An outside system has its own database, so the reference backends do too: a
database of their own (``hub.reference.database_url``; a SQLite file beside the
hub's in development), never the hub's. Their tables (``ref_`` prefix,
:class:`ReferenceBase` metadata) are created by the reference side itself when
:func:`open_reference_store` first opens it, not by the hub's migrations. Each
call runs in its own short transaction on this store, so a reference backend
never holds or waits on the hub's database locks, even when it is called from
inside a hub transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    MetaData,
    String,
    TypeDecorator,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from connectors.errors import ConnectorUnavailable

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ReferenceBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- shared by every reference backend -------------------------------------
#
# Connectors may not import ``hub``, so the reference tables carry their own
# copy of the hub's tz-aware UTC column type.


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on SQLite and PostgreSQL alike (naive writes refused)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SystemStatus(ReferenceBase):
    """Whether a simulated outside system is "down".

    Tests and the demo switch a reference backend off to show that the hub
    waits instead of deciding on missing data. It is a table, not a process
    flag, so the web processes and the worker see the same state.
    """

    __tablename__ = "ref_system_status"

    system: Mapped[str] = mapped_column(String(40), primary_key=True)
    down: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


def is_down(engine: Engine, system: str) -> bool:
    """True if ``system`` was switched down with :func:`set_down`."""
    with engine.connect() as conn:
        down = conn.execute(select(SystemStatus.down).where(SystemStatus.system == system)).scalar()
    return bool(down)


def set_down(engine: Engine, system: str, down: bool = True) -> None:
    """Switch a reference system down (or back up with ``down=False``)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        updated = conn.execute(
            update(SystemStatus).where(SystemStatus.system == system).values(down=down, changed_at=now)
        ).rowcount
        if not updated:
            conn.execute(insert(SystemStatus).values(system=system, down=down, changed_at=now))


def ensure_up(engine: Engine, system: str) -> None:
    """Raise ConnectorUnavailable if ``system`` is switched down, as a dead system would."""
    if is_down(engine, system):
        raise ConnectorUnavailable(f"{system} is down", system=system)


REFERENCE_TABLE_MODULES = (
    "connectors.billing.tables",
    "connectors.kyc.tables",
    "connectors.samagra.tables",
    "connectors.sms.reference",
    "connectors.payment.reference",
    "connectors.bbps.reference",
    "connectors.citizen_portal.reference",
    "connectors.headend.tables",
    "connectors.singlewindow.reference",
    "connectors.dbt.reference",
    "connectors.network.tables",
    "connectors.meterdata.tables",
    "connectors.whatsapp.reference",
    "connectors.email.reference",
)


def load_reference_tables() -> None:
    """Import every module that declares ref_ tables, so ReferenceBase.metadata is complete."""
    import importlib

    for name in REFERENCE_TABLE_MODULES:
        importlib.import_module(name)


# Any constant of our own: serialises schema creation by concurrent processes on PostgreSQL.
SCHEMA_LOCK = 0x52454653


def open_reference_store(url: str, pool_size: int = 4) -> Engine:
    """An engine on the reference store at ``url``, its tables created if missing.

    SQLite: WAL (readers never wait on a writer), a busy timeout, and BEGIN IMMEDIATE,
    so a transaction that reads and then writes waits its turn for the store's write
    lock instead of failing at once. The store is its own file: the hub's write lock
    is never involved. Creating the schema is idempotent and safe for several
    processes starting together (it runs under the store's write lock, or an
    advisory lock on PostgreSQL).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
    create_reference_schema(engine)
    return engine


def create_reference_schema(engine: Engine) -> None:
    """Create every reference table that does not exist yet (never alters or drops one)."""
    load_reference_tables()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        ReferenceBase.metadata.create_all(conn, checkfirst=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The transaction is begun explicitly (the "begin" listener), not by pysqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
