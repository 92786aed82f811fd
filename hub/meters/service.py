"""Remote reconnection of smart meters: the decision, the command's life, the head-end's answers.

A payment posted to billing arrives as the outbox message ``meters.payment_posted``.
If the connection is disconnected and what remains owed (billing's dues plus the
configured disconnection and reconnection charges) is at or below the threshold,
one :class:`~hub.models.meter.MeterCommand` is written per (meter, payment) - the
unique key makes a second delivery find it - and sent
to the head-end. The head-end's signed notification, or the relay state
queried after the command's window, decides it: executed (SMS to the
consumer), or failed / expired and retried with backoff, and after the last
attempt a field visit in the distribution centre's queue. Meters that cannot
switch remotely (conventional, CT-operated) go straight to that queue.

Outside systems down: the message (or the watcher's run) raises or waits;
nothing is decided on missing data and nothing is switched twice (the head-end
deduplicates on the transaction id of each attempt).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.billing import (
    ConnectionStatus,
    Consumer,
    MeterStatus,
    MeterType,
    OutstandingDues,
    SupplyState,
    connections_of,
    is_consumer_number,
)
from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.headend import (
    MAX_COMMANDS_PER_CALL,
    CommandAction,
    CommandRequest,
    Outcome,
    StateChange,
    signature_ok,
)
from connectors.headend import (
    SYSTEM as HEADEND,
)
from hub import audit
from hub.audit import AuditRecord
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.meta import utcnow
from hub.models.meter import CommandStatus, MeterCommand
from hub.outbox import enqueue_sms, unit_of_work
from hub.systems import Connectors

log = logging.getLogger(__name__)

PAYMENT_POSTED = "meters.payment_posted"
DISCONNECTION_ORDERED = "meters.disconnection_ordered"
IST = timezone(timedelta(hours=5, minutes=30))
SUBJECT = "meter_command"
SMS_TEMPLATE = "meter_reconnected"
NOTIFICATIONS_PATH = "/api/v1/meters/headend/notifications"
_WATCH_BATCH = 200


def reconnection_charges(settings: Mapping[str, Any]) -> Decimal:
    """What a connection disconnected for non-payment owes on top of its bill before it is
    reconnected: the configured disconnection and reconnection charges."""
    return Decimal(settings["hub.meters.disconnection_charge"]) + Decimal(
        settings["hub.meters.reconnection_charge"]
    )


@dataclass(frozen=True)
class MeterSettings:
    threshold: Decimal
    charges: Decimal
    notification_secret: str
    window: timedelta
    max_attempts: int
    retry_seconds: int
    watch_interval_seconds: int
    max_age: timedelta
    response_url: str
    notice_clear_days: int
    switching_hours: tuple[int, int]
    switching_days: frozenset[int]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> MeterSettings:
        return cls(
            threshold=Decimal(settings["hub.meters.reconnect_threshold"]),
            charges=reconnection_charges(settings),
            notification_secret=str(settings["hub.meters.notification_secret"]),
            window=timedelta(seconds=int(settings["hub.meters.command_window_seconds"])),
            max_attempts=int(settings["hub.meters.max_attempts"]),
            retry_seconds=int(settings["hub.meters.retry_seconds"]),
            watch_interval_seconds=int(settings["hub.meters.watch_interval_seconds"]),
            max_age=timedelta(seconds=int(settings["hub.meters.notification_max_age_seconds"])),
            response_url=str(settings["hub.public_url"]).rstrip("/") + NOTIFICATIONS_PATH,
            notice_clear_days=int(settings["hub.meters.notice_clear_days"]),
            switching_hours=settings["hub.meters.switching_hours"],
            switching_days=frozenset(settings["hub.meters.switching_days"]),
        )

    def earliest_disconnection(self, notice_served_on: date, now: datetime) -> datetime:
        """The first moment a meter may be disconnected: after the notice's clear days, in switching hours.

        Clear days exclude the day the notice was served and the day of
        disconnection: a notice served on the 1st with 15 clear days allows the 17th.
        """
        first_day = notice_served_on + timedelta(days=self.notice_clear_days + 1)
        start = max(now.astimezone(IST), datetime.combine(first_day, time(0), IST))
        opens, closes = self.switching_hours
        for offset in range(8):
            day = start.date() + timedelta(days=offset)
            if day.weekday() not in self.switching_days:
                continue
            window_open = datetime.combine(day, time(0), IST) + timedelta(hours=opens)
            window_close = datetime.combine(day, time(0), IST) + timedelta(hours=closes)
            if start < window_close:
                return max(start, window_open).astimezone(now.tzinfo)
        raise ValueError("no switching day configured")


def _connector(connectors: Mapping[str, Any], system: str) -> Any:
    found = connectors.get(system)
    if found is None:
        raise ConnectorUnavailable(f"no {system} connector configured", system=system)
    return found


def split_transaction(head_end_id: str) -> tuple[str, int] | None:
    """``RC-...-7.2`` -> (``RC-...-7``, 2): the hub's transaction id and the attempt."""
    base, _, attempt = head_end_id.rpartition(".")
    if not base or not attempt.isdigit() or len(attempt) > 3:
        return None
    return base, int(attempt)


class MeterService:
    """The flow's domain; ``registry`` gives the engine, the outbox queue and the connectors."""

    def __init__(self, registry: Any, settings: MeterSettings) -> None:
        self.registry = registry
        self.settings = settings

    @property
    def _connectors(self) -> Connectors:
        return process_service(self.registry, Connectors)

    # -- the payment ---------------------------------------------------------------------------
    def on_payment_posted(self, message: Any, connectors: Mapping[str, Any]) -> None:
        """Outbox kind ``meters.payment_posted``: reconnect if the payment cleared the dues."""
        failed = self.on_payments_posted([message], connectors).get(message.id)
        if failed is not None:
            raise failed

    def on_payments_posted(
        self, messages: Sequence[Any], connectors: Mapping[str, Any]
    ) -> dict[int, BaseException]:
        """``meters.payment_posted`` for many payments (a month-end peak): billing is asked about
        their connections (status and meter) in one call, then for the dues of the disconnected
        ones in one call; the commands are written in one transaction and sent; the messages that
        must be tried again, each with its error."""
        failures: dict[int, BaseException] = {}
        billing = _connector(connectors, "billing")
        headend = _connector(connectors, HEADEND)
        notes: list[AuditRecord] = []
        paid: list[tuple[int, int, str]] = []
        for message in messages:
            payload = message.payload
            consumer_number = str(payload.get("consumer_number", ""))
            payment_id = payload.get("payment_id")
            if not is_consumer_number(consumer_number) or not isinstance(payment_id, int) or payment_id < 1:
                # The sender's bug: retrying cannot mend it, so it parks for an operator.
                failures[message.id] = ValueError(
                    "meters.payment_posted: consumer_number or payment_id malformed"
                )
                continue
            paid.append((message.id, payment_id, consumer_number))
        try:
            connections = connections_of(billing, [number for _, _, number in paid])
        except Exception as exc:
            failures.update((message_id, exc) for message_id, _, _ in paid)
            paid, connections = [], {}
        disconnected: list[tuple[int, int, Consumer, MeterStatus]] = []
        for message_id, payment_id, consumer_number in paid:
            connection = connections.get(consumer_number)
            if connection is None or connection.meter is None:
                notes.append(
                    _consumer_note(
                        consumer_number,
                        "meters.reconnect_skipped",
                        {"payment_id": payment_id, "why": "unknown"},
                    )
                )
                continue
            consumer, meter = connection.consumer, connection.meter
            if (
                consumer.connection_status is ConnectionStatus.DISCONNECTED
                and meter.supply is SupplyState.DISCONNECTED
            ):
                disconnected.append((message_id, payment_id, consumer, meter))
        dues_of: Mapping[str, OutstandingDues] = {}
        if disconnected:
            try:
                dues_of = billing.outstanding_dues_many([c.consumer_number for _, _, c, _ in disconnected])
            except Exception as exc:
                # Nothing is decided on a partial answer: the next attempt asks again.
                failures.update((message_id, exc) for message_id, _, _, _ in disconnected)
                disconnected = []
        wanted: list[tuple[int, _Reconnection]] = []
        for message_id, payment_id, consumer, meter in disconnected:
            dues = dues_of[consumer.consumer_number]
            # Billing's dues hold the bills; the disconnection and reconnection charges are owed too.
            owed = dues.amount + self.settings.charges
            if owed > self.settings.threshold:
                notes.append(
                    _consumer_note(
                        consumer.consumer_number,
                        "meters.reconnect_withheld",
                        {
                            "payment_id": payment_id,
                            "dues": str(dues.amount),
                            "charges": str(self.settings.charges),
                            "threshold": str(self.settings.threshold),
                            "evidence_id": dues.evidence_id,
                        },
                    )
                )
                continue
            wanted.append(
                (
                    message_id,
                    _Reconnection(
                        consumer.consumer_number,
                        meter.meter_number,
                        payment_id,
                        consumer.offices.dc,
                        consumer.mobile,
                        meter.meter_type is MeterType.SMART,
                    ),
                )
            )
        commands = self._commands_for([w for _, w in wanted], notes)
        to_send: dict[int, int] = {}
        for message_id, reconnection in wanted:
            command = commands[(reconnection.meter_no, reconnection.payment_id)]
            if command.status != CommandStatus.REQUESTED.value:
                continue  # this payment's command was sent before: never a second one
            if not reconnection.remote:
                self._to_field(command.id, "remote_switch_unsupported")
                continue
            to_send[command.id] = message_id
        for command_id, error in self._send_many(list(to_send), headend).items():
            failures[to_send[command_id]] = error
        return failures

    def _commands_for(
        self, wanted: Sequence[_Reconnection], notes: Sequence[AuditRecord]
    ) -> dict[tuple[str, int | None], MeterCommand]:
        """The (meter, payment) commands, written now unless an earlier delivery wrote them; the
        notes on payments that reconnect nothing are recorded with them."""
        if not wanted and not notes:
            return {}
        pairs = [(w.meter_no, w.payment_id) for w in wanted]
        query = select(MeterCommand).where(tuple_(MeterCommand.meter_no, MeterCommand.payment_id).in_(pairs))
        try:
            with unit_of_work(self.registry) as session:
                found = {(c.meter_no, c.payment_id): c for c in session.scalars(query)} if pairs else {}
                now = utcnow()
                entries = list(notes)
                for w in wanted:
                    if (w.meter_no, w.payment_id) in found:
                        continue
                    command = MeterCommand(
                        transaction_id=f"RC-{w.consumer_number}-{w.payment_id}",
                        consumer_number=w.consumer_number,
                        meter_no=w.meter_no,
                        action=CommandAction.CONNECT.value,
                        payment_id=w.payment_id,
                        reason=f"payment {w.payment_id} cleared the dues"[:200],
                        status=CommandStatus.REQUESTED.value,
                        attempts=0,
                        next_check_at=now + self.settings.window,
                        dc_code=w.dc,
                        mobile=w.mobile,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(command)
                    found[(w.meter_no, w.payment_id)] = command
                    entries.append(
                        _entry(
                            command, "hub-worker", "meters.command_requested", {"payment_id": w.payment_id}
                        )
                    )
                session.flush()
                audit.record_many(session, entries)
                session.expunge_all()
                return found
        except IntegrityError:
            if len(wanted) + len(notes) > 1:
                # Another delivery wrote one of them first: each is written on its own.
                found = {}
                for note in notes:
                    self._commands_for([], [note])
                for one in wanted:
                    found |= self._commands_for([one], [])
                return found
            # Another delivery of the same payment wrote it first.
            with unit_of_work(self.registry) as session:
                found = {(c.meter_no, c.payment_id): c for c in session.scalars(query)}
                session.expunge_all()
                return found

    # -- disconnection orders ---------------------------------------------------------------------
    def on_disconnection_ordered(self, message: Any, connectors: Mapping[str, Any]) -> None:
        """Outbox kind ``meters.disconnection_ordered`` (billing): disconnect after the notice, in hours.

        Payload ``{"consumer_number", "order_id", "notice_served_on": "YYYY-MM-DD"}``. The command
        waits until the notice's clear days have passed and switching is allowed; just before it
        is sent billing is asked again, and dues paid meanwhile withdraw it.
        """
        payload = message.payload
        consumer_number = str(payload.get("consumer_number", ""))
        order_id = payload.get("order_id")
        try:
            served = date.fromisoformat(str(payload.get("notice_served_on", "")))
        except ValueError:
            served = None
        if (
            not is_consumer_number(consumer_number)
            or not isinstance(order_id, int)
            or order_id < 1
            or not served
        ):
            raise ValueError(
                "meters.disconnection_ordered: consumer_number, order_id or notice_served_on malformed"
            )
        billing = _connector(connectors, "billing")
        headend = _connector(connectors, HEADEND)
        try:
            consumer = billing.get_consumer(consumer_number)
            meter = billing.meter_status(consumer_number)
        except NotFound:
            self._note(
                consumer_number, "meters.disconnection_skipped", {"order_id": order_id, "why": "unknown"}
            )
            return
        if (
            consumer.connection_status is not ConnectionStatus.ACTIVE
            or meter.supply is not SupplyState.CONNECTED
        ):
            self._note(
                consumer_number,
                "meters.disconnection_skipped",
                {"order_id": order_id, "why": "not_connected"},
            )
            return
        now = utcnow()
        transaction_id = f"DC-{consumer_number}-{order_id}"
        try:
            with unit_of_work(self.registry) as session:
                command = session.scalars(
                    select(MeterCommand).where(MeterCommand.transaction_id == transaction_id)
                ).first()
                if command is None:
                    command = MeterCommand(
                        transaction_id=transaction_id,
                        consumer_number=consumer_number,
                        meter_no=meter.meter_number,
                        action=CommandAction.DISCONNECT.value,
                        payment_id=None,
                        reason=f"non-payment: disconnection order {order_id}"[:200],
                        notice_served_on=served,
                        status=CommandStatus.REQUESTED.value,
                        attempts=0,
                        next_check_at=self.settings.earliest_disconnection(served, now),
                        dc_code=consumer.offices.dc,
                        mobile=consumer.mobile,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(command)
                    session.flush()
                    self._audit(
                        session,
                        command,
                        "hub-worker",
                        "meters.command_requested",
                        {
                            "order_id": order_id,
                            "notice_served_on": served,
                            "not_before": command.next_check_at,
                        },
                    )
                command_id, status, due = command.id, command.status, command.next_check_at
        except IntegrityError:
            return  # another delivery of the same order wrote it; the watcher sends it
        if status == CommandStatus.REQUESTED.value and due is not None and due <= now:
            self._send(command_id, headend)

    def _still_owed(self, command_id: int) -> bool:
        """Before a disconnection leaves: does billing still say the dues are above the threshold?"""
        with unit_of_work(self.registry) as session:
            command = session.get(MeterCommand, command_id)
            assert command is not None
            consumer_number = command.consumer_number
        billing = self._connectors.require("billing")
        dues = billing.outstanding_dues(consumer_number)
        if dues.amount > self.settings.threshold:
            return True
        with unit_of_work(self.registry) as session:
            command = session.get(MeterCommand, command_id, with_for_update=True)
            assert command is not None
            if not CommandStatus(command.status).final:
                command.status = CommandStatus.WITHDRAWN.value
                command.next_check_at = None
                command.updated_at = utcnow()
                self._audit(
                    session,
                    command,
                    "hub-worker",
                    "meters.command_withdrawn",
                    {"dues": str(dues.amount), "evidence_id": dues.evidence_id},
                )
        return False

    # -- sending -----------------------------------------------------------------------------
    def _send(self, command_id: int, headend: Any) -> None:
        """Send the command's next attempt; raises ConnectorUnavailable (nothing recorded) if the
        head-end is down."""
        failed = self._send_many([command_id], headend).get(command_id)
        if failed is not None:
            raise failed

    def _send_many(self, command_ids: Sequence[int], headend: Any) -> dict[int, BaseException]:
        """Send each command's next attempt; the ones that could not be sent, with the error.

        The head-end is called outside any transaction of ours, up to
        ``MAX_COMMANDS_PER_CALL`` commands a call; the attempts are recorded after,
        together. A crash in between sends the same attempts again, which the head-end
        deduplicates on their transaction ids. Once the head-end does not answer, the
        rest are not tried (each call would wait for the timeout).
        """
        requests: dict[int, tuple[int, CommandRequest]] = {}
        with unit_of_work(self.registry) as session:
            for command in session.scalars(
                select(MeterCommand).where(MeterCommand.id.in_(list(command_ids))).order_by(MeterCommand.id)
            ):
                if CommandStatus(command.status).final or command.status == CommandStatus.ACCEPTED.value:
                    continue
                now = utcnow()
                if command.action == CommandAction.DISCONNECT.value:
                    assert command.notice_served_on is not None
                    allowed = self.settings.earliest_disconnection(command.notice_served_on, now)
                    if allowed > now:
                        command.next_check_at = allowed  # outside switching hours: wait for them
                        continue
                attempt = command.attempts + 1
                requests[command.id] = (
                    attempt,
                    CommandRequest(
                        meter_no=command.meter_no,
                        action=CommandAction(command.action),
                        reason=command.reason,
                        transaction_id=f"{command.transaction_id}.{attempt}",
                        expires_at=now + self.settings.window,
                        response_url=self.settings.response_url,
                    ),
                )
        failures: dict[int, BaseException] = {}
        sent: dict[int, tuple[int, CommandRequest]] = {}
        going: list[int] = []
        billing_down: BaseException | None = None
        for command_id, (_, request) in requests.items():
            if request.action is CommandAction.CONNECT:
                going.append(command_id)
            elif billing_down is not None:
                failures[command_id] = billing_down
            else:
                # A disconnection goes only while billing still says the dues are owed.
                try:
                    if self._still_owed(command_id):
                        going.append(command_id)
                except Exception as exc:
                    failures[command_id] = billing_down = exc
        headend_down: BaseException | None = None
        for start in range(0, len(going), MAX_COMMANDS_PER_CALL):
            chunk = going[start : start + MAX_COMMANDS_PER_CALL]
            try:
                if headend_down is not None:
                    raise headend_down
                refused = headend.initiate_many([requests[command_id][1] for command_id in chunk])
            except Exception as exc:
                failures.update((command_id, exc) for command_id in chunk)
                headend_down = exc
                continue
            for command_id in chunk:
                attempt, request = requests[command_id]
                error = refused.get(request.transaction_id)
                if error is None:
                    sent[command_id] = (attempt, request)
                elif isinstance(error, NotFound):
                    self._to_field(command_id, "unknown_at_headend")
                elif isinstance(error, ConnectorRejected) and error.code == "remote_switch_unsupported":
                    self._to_field(command_id, "remote_switch_unsupported")
                else:
                    code = error.code if isinstance(error, ConnectorRejected) else None
                    self._failed(command_id, attempt, code or "rejected", CommandStatus.FAILED)
        if not sent:
            return failures
        with unit_of_work(self.registry) as session:
            entries: list[AuditRecord] = []
            for command in session.scalars(
                select(MeterCommand)
                .where(MeterCommand.id.in_(list(sent)))
                .order_by(MeterCommand.id)
                .with_for_update()
            ):
                attempt, request = sent[command.id]
                if command.attempts != attempt - 1 or CommandStatus(command.status).final:
                    continue  # a notification or another run recorded this attempt already
                command.status = CommandStatus.ACCEPTED.value
                command.attempts = attempt
                command.expires_at = request.expires_at
                command.next_check_at = request.expires_at
                command.failure_code = None
                command.updated_at = utcnow()
                entries.append(_entry(command, "hub-worker", "meters.command_accepted", {"attempt": attempt}))
            audit.record_many(session, entries)
        return failures

    def _failed(self, command_id: int, attempt: int, code: str, status: CommandStatus) -> None:
        with unit_of_work(self.registry) as session:
            command = session.get(MeterCommand, command_id, with_for_update=True)
            assert command is not None
            command.attempts = max(command.attempts, attempt)
            self._retry_or_field(session, command, code, status, utcnow())

    def _retry_or_field(
        self, session: Session, command: MeterCommand, code: str, status: CommandStatus, now: datetime
    ) -> None:
        command.failure_code = code[:40]
        command.updated_at = now
        if command.attempts >= self.settings.max_attempts:
            command.status = CommandStatus.FIELD_VISIT.value
            command.next_check_at = None
            self._audit(session, command, "hub-worker", "meters.field_visit", {"failure_code": code})
            return
        command.status = status.value
        wait = self.settings.retry_seconds * 2 ** max(command.attempts - 1, 0)
        command.next_check_at = now + timedelta(seconds=wait)
        self._audit(
            session,
            command,
            "hub-worker",
            f"meters.command_{status.value}",
            {"failure_code": code, "retry_in": wait},
        )

    def _to_field(self, command_id: int, code: str) -> None:
        with unit_of_work(self.registry) as session:
            command = session.get(MeterCommand, command_id, with_for_update=True)
            assert command is not None
            if CommandStatus(command.status).final:
                return
            command.status = CommandStatus.FIELD_VISIT.value
            command.failure_code = code
            command.next_check_at = None
            command.updated_at = utcnow()
            self._audit(session, command, "hub-worker", "meters.field_visit", {"failure_code": code})

    def _executed(self, session: Session, command: MeterCommand, actor: str, now: datetime) -> None:
        command.status = CommandStatus.EXECUTED.value
        command.executed_at = now
        command.updated_at = now
        command.next_check_at = None
        command.failure_code = None
        self._audit(session, command, actor, "meters.command_executed", {"attempt": command.attempts})
        if command.action == CommandAction.CONNECT.value:
            enqueue_sms(
                session,
                command.mobile,
                f"उपभोक्ता क्रमांक {command.consumer_number}: आपकी बिजली आपूर्ति पुनः चालू कर दी गई है। "
                f"Power is back on for consumer number {command.consumer_number}.",
                SMS_TEMPLATE,
                key=f"meter-command:{command.transaction_id}",
            )

    # -- the watcher (hub-worker) ----------------------------------------------------------------
    def watch(self) -> int:
        """Periodic job: decide commands past their window, send retries that are due. Returns how many."""
        connectors = self._connectors
        headend = connectors.get(HEADEND)
        if headend is None:
            return 0
        now = utcnow()
        with unit_of_work(self.registry) as session:
            due = [
                (row.id, row.status)
                for row in session.execute(
                    select(MeterCommand.id, MeterCommand.status)
                    .where(
                        MeterCommand.status.in_(
                            [
                                CommandStatus.REQUESTED.value,
                                CommandStatus.ACCEPTED.value,
                                CommandStatus.FAILED.value,
                                CommandStatus.EXPIRED.value,
                            ]
                        ),
                        MeterCommand.next_check_at <= now,
                    )
                    .order_by(MeterCommand.next_check_at)
                    .limit(_WATCH_BATCH)
                )
            ]
        done = 0
        for command_id, status in due:
            try:
                if status == CommandStatus.ACCEPTED.value:
                    self._check_relay(command_id, headend)
                else:
                    self._send(command_id, headend)
            except ConnectorUnavailable:
                log.warning("meters: head-end not answering; commands wait for the next run")
                break
            done += 1
        return done

    def _check_relay(self, command_id: int, headend: Any) -> None:
        """No notification within the window: the relay decides."""
        with unit_of_work(self.registry) as session:
            command = session.get(MeterCommand, command_id)
            assert command is not None
            meter_no, action, attempt = command.meter_no, CommandAction(command.action), command.attempts
        try:
            state = headend.meter_state(meter_no)
        except NotFound:
            self._to_field(command_id, "unknown_at_headend")
            return
        with unit_of_work(self.registry) as session:
            command = session.get(MeterCommand, command_id, with_for_update=True)
            assert command is not None
            if command.status != CommandStatus.ACCEPTED.value or command.attempts != attempt:
                return  # a notification decided it meanwhile
            now = utcnow()
            if state.relay is action.relay:
                self._executed(session, command, "hub-worker", now)
            else:
                self._retry_or_field(session, command, "no_confirmation", CommandStatus.EXPIRED, now)

    # -- the head-end's notification ------------------------------------------------------------
    def notify(self, session: Session, body: bytes, signature: str | None) -> dict[str, Any]:
        """A state-change notification from the head-end (verbatim body + signature header)."""
        if not signature_ok(self.settings.notification_secret, body, signature):
            raise Problem("meter_notification_forged")
        try:
            change = StateChange.decode(body)
        except ValueError as exc:
            raise Problem("meter_notification_malformed", str(exc)) from None
        now = utcnow()
        if abs(now - change.sent_at) > self.settings.max_age:
            raise Problem("meter_notification_stale")
        parts = split_transaction(change.transaction_id)
        command = None
        if parts is not None:
            command = session.scalars(
                select(MeterCommand).where(MeterCommand.transaction_id == parts[0]).with_for_update()
            ).first()
        if (
            parts is None
            or command is None
            or command.meter_no != change.meter_no
            or command.action != change.action.value
        ):
            raise Problem("meter_transaction_unknown", extra={"transaction_id": change.transaction_id})
        attempt = parts[1]
        if command.last_notification_id == change.notification_id:
            raise Problem("meter_notification_replayed")
        current = command.attempts
        if command.status == CommandStatus.REQUESTED.value and attempt == current + 1:
            current = attempt  # the head-end answered before the hub recorded its acceptance
        if (
            CommandStatus(command.status).final
            or attempt != current
            or (change.outcome is Outcome.ACCEPTED and command.status != CommandStatus.REQUESTED.value)
        ):
            raise Problem(
                "meter_command_state_conflict",
                extra={"transaction_id": change.transaction_id, "state": command.status},
            )
        command.attempts = current
        command.last_notification_id = change.notification_id
        command.updated_at = now
        data = {
            "attempt": attempt,
            "outcome": change.outcome.value,
            "notification_id": change.notification_id,
        }
        if change.outcome is Outcome.ACCEPTED:
            command.status = CommandStatus.ACCEPTED.value
            self._audit(session, command, "headend", "meters.command_accepted", data)
        elif change.outcome is Outcome.EXECUTED:
            self._executed(session, command, "headend", now)
        else:
            self._retry_or_field(session, command, change.failure_code or "failed", CommandStatus.FAILED, now)
        return {"transaction_id": change.transaction_id, "status": command.status}

    # -- reading -------------------------------------------------------------------------------
    def status_of(self, session: Session, consumer_number: str) -> dict[str, Any]:
        rows = session.scalars(
            select(MeterCommand)
            .where(MeterCommand.consumer_number == consumer_number)
            .order_by(MeterCommand.id.desc())
            .limit(20)
        ).all()
        return {"consumer_number": consumer_number, "commands": [describe(row) for row in rows]}

    def field_queue(self, session: Session, offices: list[str]) -> list[MeterCommand]:
        return list(
            session.scalars(
                select(MeterCommand)
                .where(
                    MeterCommand.status == CommandStatus.FIELD_VISIT.value,
                    MeterCommand.dc_code.in_(offices),
                )
                .order_by(MeterCommand.updated_at)
                .limit(500)
            )
        )

    # -- audit ---------------------------------------------------------------------------------
    def _audit(
        self, session: Session, command: MeterCommand, actor: str, action: str, data: Mapping[str, Any]
    ) -> None:
        audit.record_many(session, [_entry(command, actor, action, data)])

    def _note(self, consumer_number: str, action: str, data: Mapping[str, Any]) -> None:
        with unit_of_work(self.registry) as session:
            audit.record_many(session, [_consumer_note(consumer_number, action, data)])


@dataclass(frozen=True)
class _Reconnection:
    """A payment that cleared a disconnected meter's dues: the command it calls for."""

    consumer_number: str
    meter_no: str
    payment_id: int
    dc: str
    mobile: str
    remote: bool


def _entry(command: MeterCommand, actor: str, action: str, data: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(
        actor,
        action,
        SUBJECT,
        command.transaction_id,
        {"status": command.status, "meter_no": command.meter_no, **data},
    )


def _consumer_note(consumer_number: str, action: str, data: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord("hub-worker", action, "consumer", consumer_number, dict(data))


def describe(command: MeterCommand) -> dict[str, Any]:
    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    return {
        "transaction_id": command.transaction_id,
        "meter_no": command.meter_no,
        "action": command.action,
        "payment_id": command.payment_id,
        "status": command.status,
        "attempts": command.attempts,
        "failure_code": command.failure_code,
        "requested_at": iso(command.created_at),
        "updated_at": iso(command.updated_at),
        "executed_at": iso(command.executed_at),
    }
