"""The reference head-end: simulated smart meters in ``ref_hes_meter``, commands in ``ref_hes_command``.

A command is accepted at once and executes ``execute_after`` seconds later
(setting, default 0 = at once). Execution is lazy: it happens when anyone
next looks at the command or the meter, so no background thread is needed
and tests stay deterministic. A meter marked not communicating fails its
commands with ``meter_not_communicating``, as a real one out of reach would.

Meters are created by the demo data (``seed_meters``) and by tests
(``ReferenceHeadEnd.install_meter``).

Settings (under ``hub.headend.``): ``execute_after`` (seconds, default 0).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Boolean, String, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorRejected, NotFound
from connectors.headend import (
    SYSTEM,
    CommandAction,
    CommandState,
    IHeadEnd,
    MeterCommand,
    MeterStatus,
    RelayState,
    check_command,
    check_meter_no,
)
from connectors.reference_db import ReferenceBase, UTCDateTime, ensure_up


class RefHesMeter(ReferenceBase):
    __tablename__ = "ref_hes_meter"

    meter_no: Mapped[str] = mapped_column(String(30), primary_key=True)
    relay: Mapped[str] = mapped_column(String(12), nullable=False)
    communicating: Mapped[bool] = mapped_column(Boolean, nullable=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RefHesCommand(ReferenceBase):
    __tablename__ = "ref_hes_command"

    command_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    meter_no: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(12), nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(String(40), nullable=True)


def seed_meters(
    engine: Engine, meters: Iterable[tuple[str, RelayState, bool, datetime | None]], batch: int = 5000
) -> int:
    """Bulk-insert simulated meters ``(meter_no, relay, communicating, last_seen)`` (demo data)."""
    count = 0
    rows: list[dict[str, object]] = []
    with engine.begin() as conn:
        for meter_no, relay, communicating, last_seen in meters:
            rows.append(
                {
                    "meter_no": meter_no,
                    "relay": relay.value,
                    "communicating": communicating,
                    "last_seen": last_seen,
                }
            )
            if len(rows) >= batch:
                conn.execute(insert(RefHesMeter), rows)
                count += len(rows)
                rows = []
        if rows:
            conn.execute(insert(RefHesMeter), rows)
            count += len(rows)
    return count


def _command(row: RefHesCommand) -> MeterCommand:
    return MeterCommand(
        command_id=row.command_id,
        meter_no=row.meter_no,
        action=CommandAction(row.action),
        state=CommandState(row.state),
        reason=row.reason,
        requested_at=row.requested_at,
        executed_at=row.executed_at,
        failure_code=row.failure_code,
    )


@implementer(IHeadEnd)
class ReferenceHeadEnd:
    def __init__(self, engine: Engine, execute_after: float = 0.0) -> None:
        self.engine = engine
        self.execute_after = timedelta(seconds=execute_after)

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceHeadEnd:
        return cls(context.reference_store(), context.float_option("execute_after", 0.0))

    def install_meter(
        self,
        meter_no: str,
        relay: RelayState = RelayState.CONNECTED,
        *,
        communicating: bool = True,
        last_seen: datetime | None = None,
    ) -> None:
        seed_meters(self.engine, [(check_meter_no(meter_no), relay, communicating, last_seen)])

    def set_communicating(self, meter_no: str, communicating: bool) -> None:
        with Session(self.engine) as session, session.begin():
            meter = session.get(RefHesMeter, meter_no)
            if meter is None:
                raise NotFound("no such meter", system=SYSTEM)
            meter.communicating = communicating

    def connect(self, meter_no: str, reason: str, idempotency_key: str) -> MeterCommand:
        return self._command(CommandAction.CONNECT, meter_no, reason, idempotency_key)

    def disconnect(self, meter_no: str, reason: str, idempotency_key: str) -> MeterCommand:
        return self._command(CommandAction.DISCONNECT, meter_no, reason, idempotency_key)

    def command_status(self, command_id: str) -> MeterCommand:
        ensure_up(self.engine, SYSTEM)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(RefHesCommand, command_id)
            if row is None:
                raise NotFound("no such command", system=SYSTEM)
            self._run_due(session, row.meter_no)
            return _command(row)

    def status(self, meter_no: str) -> MeterStatus:
        ensure_up(self.engine, SYSTEM)
        check_meter_no(meter_no)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            meter = session.get(RefHesMeter, meter_no)
            if meter is None:
                raise NotFound("no such meter", system=SYSTEM)
            self._run_due(session, meter_no)
            return MeterStatus(
                meter_no=meter.meter_no,
                relay=RelayState(meter.relay),
                last_seen=meter.last_seen,
                communicating=meter.communicating,
            )

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(RefHesMeter.meter_no).limit(1))

    # -- simulation ------------------------------------------------------------------
    def _command(self, action: CommandAction, meter_no: str, reason: str, key: str) -> MeterCommand:
        ensure_up(self.engine, SYSTEM)
        check_meter_no(meter_no)
        check_command(reason, key)
        existing = self._by_key(key)
        if existing is None:
            try:
                with Session(self.engine, expire_on_commit=False) as session, session.begin():
                    if session.get(RefHesMeter, meter_no) is None:
                        raise NotFound("no such meter", system=SYSTEM)
                    row = RefHesCommand(
                        command_id="cmd_" + uuid.uuid4().hex[:20],
                        idempotency_key=key,
                        meter_no=meter_no,
                        action=action.value,
                        reason=reason,
                        state=CommandState.ACCEPTED.value,
                        requested_at=datetime.now(UTC),
                    )
                    session.add(row)
                    session.flush()
                    self._run_due(session, meter_no)
                    return _command(row)
            except IntegrityError:
                existing = self._by_key(key)
                if existing is None:
                    raise
        if existing.meter_no != meter_no or existing.action is not action:
            raise ConnectorRejected(
                "idempotency key reused for another command", system=SYSTEM, code="idempotency_conflict"
            )
        return self.command_status(existing.command_id)

    def _by_key(self, key: str) -> MeterCommand | None:
        with Session(self.engine) as session:
            row = session.scalars(select(RefHesCommand).where(RefHesCommand.idempotency_key == key)).first()
            return _command(row) if row else None

    def _run_due(self, session: Session, meter_no: str) -> None:
        """Execute, in order, the meter's accepted commands whose delay has passed."""
        now = datetime.now(UTC)
        due = session.scalars(
            select(RefHesCommand)
            .where(
                RefHesCommand.meter_no == meter_no,
                RefHesCommand.state == CommandState.ACCEPTED.value,
                RefHesCommand.requested_at <= now - self.execute_after,
            )
            .order_by(RefHesCommand.requested_at, RefHesCommand.command_id)
        ).all()
        if not due:
            return
        meter = session.get(RefHesMeter, meter_no, with_for_update=True)
        assert meter is not None
        for command in due:
            if not meter.communicating:
                command.state = CommandState.FAILED.value
                command.failure_code = "meter_not_communicating"
            else:
                meter.relay = (
                    RelayState.CONNECTED.value
                    if command.action == CommandAction.CONNECT.value
                    else RelayState.DISCONNECTED.value
                )
                meter.last_seen = now
                command.state = CommandState.EXECUTED.value
            command.executed_at = now
