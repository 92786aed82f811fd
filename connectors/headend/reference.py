"""The reference head-end: simulated smart meters and their commands (tables in connectors.headend.tables).

A command is accepted at once and executes ``execute_after`` seconds later
(option, default 0 = at once). Execution is lazy: it happens when anyone next
looks at the meter or asks for notifications, so no thread is needed and tests
stay deterministic. Then the head-end owes the response URL a signed
state-change notification:

* ``callback = hold`` (default): notifications wait until
  :meth:`ReferenceHeadEnd.take_notifications` hands them out (tests POST them
  to the hub themselves, as the head-end would);
* ``callback = post``: after each command a timer thread POSTs them with httpx
  (the demo), keeping any the hub did not acknowledge for the next round.

Simulated faults, per meter (``install_meter``): ``communicating=False`` fails
its commands (``meter_not_communicating``); ``simulate="lose"`` executes but
sends no notification; ``simulate="ignore"`` never executes; a CT-operated
meter (``remote_switch=False``) refuses commands. ``set_down`` (reference_db)
makes the whole head-end unavailable.

Options (under ``hub.headend.``): ``execute_after`` (seconds), ``callback``
(hold | post), ``notification_secret`` (HMAC key shared with the hub),
``post_timeout`` (seconds, default 5).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorError, ConnectorRejected, NotFound
from connectors.headend import (
    SIGNATURE_HEADER,
    SYSTEM,
    CommandAction,
    CommandRequest,
    IHeadEnd,
    MeterState,
    OneCommand,
    Outcome,
    RelayState,
    StateChange,
    check_meter_no,
    check_requests,
    sign,
)
from connectors.headend.tables import RefHesCommand, RefHesMeter
from connectors.reference_db import ensure_up

__all__ = ["Notification", "RefHesCommand", "RefHesMeter", "ReferenceHeadEnd", "seed_meters"]

SIMULATIONS = ("normal", "lose", "ignore")


@dataclass(frozen=True)
class Notification:
    """A signed state-change notification the head-end owes a response URL."""

    url: str
    body: bytes
    headers: dict[str, str]


def seed_meters(
    engine: Engine,
    meters: Iterable[tuple[str, RelayState, bool, bool, datetime | None]],
    batch: int = 5000,
) -> int:
    """Bulk-insert meters ``(meter_no, relay, communicating, remote_switch, last_seen)`` (demo data)."""
    count = 0
    rows: list[dict[str, object]] = []
    with engine.begin() as conn:
        for meter_no, relay, communicating, remote_switch, last_seen in meters:
            rows.append(
                {
                    "meter_no": meter_no,
                    "relay": relay.value,
                    "communicating": communicating,
                    "remote_switch": remote_switch,
                    "simulate": "normal",
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


@implementer(IHeadEnd)
class ReferenceHeadEnd(OneCommand):
    def __init__(
        self,
        engine: Engine,
        execute_after: float = 0.0,
        *,
        secret: str = "",
        callback: str = "hold",
        post_timeout: float = 5.0,
    ) -> None:
        if callback not in ("hold", "post"):
            raise ValueError("headend callback must be hold or post")
        self.engine = engine
        self.execute_after = timedelta(seconds=execute_after)
        self.secret = secret
        self.callback = callback
        self.post_timeout = post_timeout
        self._posting = threading.Lock()

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceHeadEnd:
        return cls(
            context.reference_store(),
            context.float_option("execute_after", 0.0),
            secret=context.option("notification_secret", ""),
            callback=context.option("callback", "hold"),
            post_timeout=context.float_option("post_timeout", 5.0),
        )

    # -- set-up (tests, demo) --------------------------------------------------------
    def install_meter(
        self,
        meter_no: str,
        relay: RelayState = RelayState.CONNECTED,
        *,
        communicating: bool = True,
        remote_switch: bool = True,
        simulate: str = "normal",
        last_seen: datetime | None = None,
    ) -> None:
        if simulate not in SIMULATIONS:
            raise ValueError(f"simulate must be one of {SIMULATIONS}")
        seed_meters(self.engine, [(check_meter_no(meter_no), relay, communicating, remote_switch, last_seen)])
        self.simulate(meter_no, simulate=simulate)

    def simulate(
        self, meter_no: str, *, simulate: str | None = None, communicating: bool | None = None
    ) -> None:
        """Change a meter's simulated behaviour (faults on request)."""
        with Session(self.engine) as session, session.begin():
            meter = session.get(RefHesMeter, meter_no)
            if meter is None:
                raise NotFound("no such meter", system=SYSTEM, code="unknown_meter")
            if simulate is not None:
                if simulate not in SIMULATIONS:
                    raise ValueError(f"simulate must be one of {SIMULATIONS}")
                meter.simulate = simulate
            if communicating is not None:
                meter.communicating = communicating

    # -- IHeadEnd ----------------------------------------------------------------------
    def initiate_many(self, requests: Sequence[CommandRequest]) -> dict[str, ConnectorError]:
        check_requests(requests)
        if not requests:
            return {}
        ensure_up(self.engine, SYSTEM)
        now = datetime.now(UTC)
        refused: dict[str, ConnectorError] = {}
        accepted: set[str] = set()
        with Session(self.engine) as session, session.begin():
            existing = {
                command.transaction_id: command
                for command in session.scalars(
                    select(RefHesCommand).where(
                        RefHesCommand.transaction_id.in_([r.transaction_id for r in requests])
                    )
                )
            }
            meters = {
                meter.meter_no: meter
                for meter in session.scalars(
                    select(RefHesMeter).where(RefHesMeter.meter_no.in_({r.meter_no for r in requests}))
                )
            }
            for index, request in enumerate(requests):
                known = existing.get(request.transaction_id)
                meter = meters.get(request.meter_no)
                if known is not None:
                    if known.meter_no != request.meter_no or known.action != request.action.value:
                        refused[request.transaction_id] = ConnectorRejected(
                            "transaction id reused for another command",
                            system=SYSTEM,
                            code="idempotency_conflict",
                        )
                elif meter is None:
                    refused[request.transaction_id] = NotFound(
                        "no such meter", system=SYSTEM, code="unknown_meter"
                    )
                elif not meter.remote_switch:
                    refused[request.transaction_id] = ConnectorRejected(
                        "meter cannot switch remotely", system=SYSTEM, code="remote_switch_unsupported"
                    )
                elif request.expires_at <= now:
                    refused[request.transaction_id] = ConnectorRejected(
                        "command expired before it arrived", system=SYSTEM, code="expired"
                    )
                else:
                    session.add(
                        RefHesCommand(
                            transaction_id=request.transaction_id,
                            meter_no=request.meter_no,
                            action=request.action.value,
                            reason=request.reason,
                            response_url=request.response_url,
                            expires_at=request.expires_at,
                            state=Outcome.ACCEPTED.value,
                            # Queued in the order sent: one meter's commands run in that order.
                            requested_at=now - timedelta(microseconds=len(requests) - index),
                        )
                    )
                    accepted.add(request.meter_no)
            session.flush()
            self._run_due(session, accepted)
        if accepted and self.callback == "post":
            timer = threading.Timer(self.execute_after.total_seconds() + 0.05, self.post_notifications)
            timer.daemon = True
            timer.start()
        return refused

    def meter_state(self, meter_no: str) -> MeterState:
        ensure_up(self.engine, SYSTEM)
        check_meter_no(meter_no)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            meter = session.get(RefHesMeter, meter_no)
            if meter is None:
                raise NotFound("no such meter", system=SYSTEM, code="unknown_meter")
            self._run_due(session, [meter_no])
            return MeterState(
                meter_no=meter.meter_no,
                relay=RelayState(meter.relay),
                communicating=meter.communicating,
                remote_switch=meter.remote_switch,
                last_seen=meter.last_seen,
            )

    def heartbeat(self) -> None:
        ensure_up(self.engine, SYSTEM)
        with self.engine.connect() as conn:
            conn.execute(select(RefHesMeter.meter_no).limit(1))

    # -- notifications -----------------------------------------------------------------
    def take_notifications(self) -> list[Notification]:
        """Execute what is due and hand out the notifications not yet sent (marked sent)."""
        ensure_up(self.engine, SYSTEM)
        now = datetime.now(UTC)
        out: list[Notification] = []
        with Session(self.engine) as session, session.begin():
            waiting = session.scalars(
                select(RefHesCommand.meter_no).where(RefHesCommand.state == Outcome.ACCEPTED.value).distinct()
            ).all()
            self._run_due(session, waiting)
            rows = session.execute(
                select(RefHesCommand, RefHesMeter)
                .join(RefHesMeter, RefHesMeter.meter_no == RefHesCommand.meter_no)
                .where(RefHesCommand.state != Outcome.ACCEPTED.value, RefHesCommand.notified_at.is_(None))
                .order_by(RefHesCommand.executed_at, RefHesCommand.transaction_id)
            ).all()
            for command, meter in rows:
                command.notified_at = now
                if meter.simulate == "lose":
                    continue
                change = StateChange(
                    notification_id="N" + uuid.uuid4().hex[:24],
                    transaction_id=command.transaction_id,
                    meter_no=command.meter_no,
                    action=CommandAction(command.action),
                    outcome=Outcome(command.state),
                    relay=RelayState(meter.relay),
                    failure_code=command.failure_code,
                    sent_at=now,
                )
                body = change.encode()
                headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)}
                out.append(Notification(command.response_url, body, headers))
        return out

    def post_notifications(self) -> int:
        """POST what is owed (callback = post); those not acknowledged are offered again next time."""
        with self._posting:
            try:
                notifications = self.take_notifications()
            except Exception:
                return 0
            delivered = 0
            timeout = httpx.Timeout(self.post_timeout, connect=min(self.post_timeout, 2.0))
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                for note in notifications:
                    try:
                        status = client.post(note.url, content=note.body, headers=note.headers).status_code
                    except httpx.HTTPError:
                        status = 0
                    if 200 <= status < 300:
                        delivered += 1
                    elif status >= 500 or status == 0:
                        self._unsent(StateChange.decode(note.body).transaction_id)
            return delivered

    def _unsent(self, transaction_id: str) -> None:
        with Session(self.engine) as session, session.begin():
            command = session.get(RefHesCommand, transaction_id)
            if command is not None:
                command.notified_at = None

    # -- simulation --------------------------------------------------------------------
    def _run_due(self, session: Session, meter_nos: Collection[str]) -> None:
        """Execute, in order, the meters' accepted commands whose delay has passed."""
        if not meter_nos:
            return
        now = datetime.now(UTC)
        # Locked in one order, so that two calls on the same meters never deadlock.
        meters = {
            meter.meter_no: meter
            for meter in session.scalars(
                select(RefHesMeter)
                .where(RefHesMeter.meter_no.in_(sorted(set(meter_nos))), RefHesMeter.simulate != "ignore")
                .order_by(RefHesMeter.meter_no)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        }
        if not meters:
            return
        due = session.scalars(
            select(RefHesCommand)
            .where(
                RefHesCommand.meter_no.in_(list(meters)),
                RefHesCommand.state == Outcome.ACCEPTED.value,
                RefHesCommand.requested_at <= now - self.execute_after,
            )
            .order_by(RefHesCommand.requested_at, RefHesCommand.transaction_id)
        ).all()
        for command in due:
            meter = meters[command.meter_no]
            if command.expires_at <= now:
                command.state = Outcome.FAILED.value
                command.failure_code = "expired"
            elif not meter.communicating:
                command.state = Outcome.FAILED.value
                command.failure_code = "meter_not_communicating"
            else:
                meter.relay = CommandAction(command.action).relay.value
                meter.last_seen = now
                command.state = Outcome.EXECUTED.value
            command.executed_at = now
