"""The tables of the reference backends: the discom's systems, simulated.

They live in the hub's database under a ``ref_`` prefix but on their own
metadata, so the hub's models never depend on them and a deployment with the
real systems simply leaves them empty. Alembic creates them (the hub's
migration environment includes this metadata).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, MetaData, String, TypeDecorator, insert, select, update
from sqlalchemy.engine import Dialect, Engine
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
    "connectors.headend.tables",
    "connectors.singlewindow.reference",
    "connectors.dbt.reference",
)


def load_reference_tables() -> None:
    """Import every module that declares ref_ tables, so ReferenceBase.metadata is complete
    (Alembic's environment compares it with the database)."""
    import importlib

    for name in REFERENCE_TABLE_MODULES:
        importlib.import_module(name)
