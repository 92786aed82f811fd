"""The transactional outbox: side effects that must follow a commit (SMS, callbacks, meter commands).

A view writes the change and an :class:`~hub.models.outbox.OutboxMessage`
in the same transaction (:func:`enqueue`); nothing leaves the hub unless the
change committed. After the commit the new ids are handed to the task queue
(Huey), and a worker (:mod:`hub.worker`) delivers each message through the
handler registered for its kind.

Guarantees:

* **Never lost.** The row is the truth, the queue only a wake-up call: if
  queueing fails after the commit, or a worker dies mid-delivery, the periodic
  sweep finds the row again (a killed worker's lease expires).
* **At least once to the connector, exactly once in effect.** Every attempt
  carries the message's ``delivery_id`` as the idempotency key; receivers
  deduplicate on it.
* **In order per key.** A message is only claimed when no older message with
  the same key is undelivered; a parked one holds its key until an operator
  retries it. (Callers enqueue while holding the lock on the thing the key
  names, e.g. after updating the application row, so ids follow commit order.)
* **Retried with backoff, then parked.** Each failure adds an attempt and
  waits ``backoff_seconds * 2**(attempts-1)`` (jittered, capped); after
  ``hub.outbox.max_attempts`` the message is parked and logged for an operator
  (``hub-admin <ini> outbox list --status parked`` / ``outbox retry ID``).

Claiming is one conditional UPDATE … RETURNING (status pending, due, lease free,
no older undelivered message for the key) that sets a lease and reads the
messages; it is atomic on SQLite and PostgreSQL, so any number of worker threads
and processes may run. A kind whose handler takes batches (:class:`BatchHandler`)
is claimed in batches: a worker woken for one of its messages takes up to
``batch_size`` due messages of the kind, so a backlog drains in a few
transactions rather than a few per message.

Two lanes: :data:`BACKGROUND` kinds (CPU-bound, such as a signed PDF) are queued
apart and delivered by hub-worker's background process (:mod:`hub.worker`).
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from huey import Huey, PriorityRedisHuey, SqliteHuey
from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import Select, Table, exists, func, insert, literal, literal_column, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from connectors.errors import ConnectorError, ConnectorUnavailable
from connectors.sms import Sms
from hub.db import Database, mark_written
from hub.lookup import process_service, registered
from hub.models.meta import utcnow
from hub.models.outbox import OutboxMessage, OutboxStatus
from hub.shared_state import redis_url

log = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage, Mapping[str, Any]], object]


class BatchHandler(Protocol):
    """A handler that performs many messages of its kind at once (``batch_size`` of them at
    most): one transaction for what they share, instead of one each. Called as a plain handler
    it performs one."""

    batch_size: int

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any], /) -> object: ...

    def deliver_many(
        self, messages: Sequence[OutboxMessage], connectors: Mapping[str, Any]
    ) -> Mapping[int, BaseException]:
        """Perform ``messages``; the ones not performed, each with its error (retried as a plain
        handler's exception is). Raising fails them all."""
        ...


def _batch_size(handler: Handler | None) -> int:
    return int(getattr(handler, "batch_size", 1))


_NEW_IDS = "hub.outbox.new_ids"
_NEW_BACKGROUND_IDS = "hub.outbox.new_background_ids"
# Kinds whose delivery may wait (a signed PDF): queued on the background lane, which hub-worker's
# background process takes, so a burst of documents never stands in front of a payment's posting
# or a meter's reconnection, nor takes the interpreter lock from them.
BACKGROUND = -1
TASK_NAME = "hub.outbox.deliver"
_TABLE = cast(Table, OutboxMessage.__table__)
_SUBMIT_CHUNK = 200
# Built once: one compiled statement for every message (an ORM flush per message costs more than
# the database's own work for it).
_INSERT = insert(_TABLE).returning(_TABLE.c.id)
_INSERT_MANY = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)

# --- handlers --------------------------------------------------------------

_HANDLERS: dict[str, Handler] = {}
_PRIORITIES: dict[str, int] = {}


def register_handler(kind: str, handler: Handler, priority: int = 0) -> None:
    """Register the handler that performs messages of ``kind`` (process-wide).

    ``handler(message, connectors)`` performs the side effect with
    ``message.delivery_id`` as the idempotency key and returns when the
    receiver acknowledged it; any exception means "not delivered, retry".
    Inside a Pyramid app prefer ``config.add_outbox_handler(kind, handler)``. ``priority``:
    0, or :data:`BACKGROUND` for CPU-bound work every other message goes before (its own lane).
    """
    existing = _HANDLERS.get(kind)
    if existing is not None and existing is not handler:
        raise ValueError(f"outbox handler for {kind!r} is already registered")
    _HANDLERS[kind] = handler
    set_priority(kind, priority)


def set_priority(kind: str, priority: int) -> None:
    """The task priority of ``kind`` in every process (0, or :data:`BACKGROUND`)."""
    if priority not in (0, BACKGROUND):
        raise ValueError("outbox priority is 0 or BACKGROUND")
    _PRIORITIES[kind] = priority


def priority_of(kind: str) -> int:
    return _PRIORITIES.get(kind, 0)


def registered_handlers() -> dict[str, Handler]:
    return dict(_HANDLERS)


def connector(connectors: Mapping[str, Any], system: str) -> Any:
    """The connector for ``system`` a handler was given; ConnectorUnavailable (retry) if none is configured."""
    try:
        return connectors[system]
    except KeyError:
        raise ConnectorUnavailable(f"no {system} connector configured", system=system) from None


class SmsDelivery:
    """Kind ``sms``: payload ``{"mobile", "text", "template"}`` (a DLT template name), idempotent on
    the message's delivery id. Taken in batches: an outage's notices or a posting batch's
    receipts go to the gateway a call per batch, not a call per person."""

    batch_size = 50

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> object:
        failed = self.deliver_many([message], connectors).get(message.id)
        if failed is not None:
            raise failed
        return None

    def deliver_many(
        self, messages: Sequence[OutboxMessage], connectors: Mapping[str, Any]
    ) -> Mapping[int, BaseException]:
        failures: dict[int, BaseException] = {}
        asked: dict[int, Sms] = {}
        for message in messages:
            mobile, text, template = (message.payload.get(name) for name in ("mobile", "text", "template"))
            if not (isinstance(mobile, str) and isinstance(text, str) and isinstance(template, str)):
                # The writer's bug, not the gateway's: this message alone fails, until parked.
                failures[message.id] = ValueError("sms: mobile, text and template must be strings")
                continue
            asked[message.id] = Sms(mobile, text, template, message.delivery_id)
        if asked:
            results = connector(connectors, "sms").send_many(list(asked.values()))
            for message_id, sms in asked.items():
                result = results[sms.idempotency_key]
                if isinstance(result, Exception):
                    failures[message_id] = result
        return failures


def deliver_singlewindow_status(message: OutboxMessage, connectors: Mapping[str, Any]) -> object:
    """Kind ``singlewindow.status``: payload is ``StatusUpdate.as_json()``; delivery id = outbox id."""
    from connectors.singlewindow import StatusUpdate

    update = StatusUpdate.from_json(message.delivery_id, message.payload)
    return connector(connectors, "singlewindow").deliver(update)


register_handler("sms", SmsDelivery())
register_handler("singlewindow.status", deliver_singlewindow_status)


# --- writing messages ------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """A message to write with :func:`enqueue_many`."""

    kind: str
    payload: Mapping[str, Any]
    key: str | None = None

    @classmethod
    def sms(cls, mobile: str, text: str, template: str, key: str | None = None) -> Outgoing:
        """An SMS (DLT template name + filled text)."""
        return cls("sms", {"mobile": mobile, "text": text, "template": template}, key)


def enqueue(session: Session, kind: str, payload: Mapping[str, Any], key: str | None = None) -> OutboxMessage:
    """Write a message in the caller's transaction (``request.dbsession``); returns it with its id.

    ``key`` orders messages: same key, strictly in id order (e.g.
    ``"connection-application:123"``). After the request commits its id is
    handed to the worker; if the transaction aborts the message never existed.
    """
    return enqueue_many(session, [Outgoing(kind, payload, key)])[0]


def enqueue_sms(
    session: Session, mobile: str, text: str, template: str, key: str | None = None
) -> OutboxMessage:
    """An SMS (DLT template name + filled text) sent after the commit."""
    return enqueue_many(session, [Outgoing.sms(mobile, text, template, key)])[0]


def enqueue_many(session: Session, messages: Sequence[Outgoing]) -> list[OutboxMessage]:
    """:func:`enqueue` for each of ``messages``, in one statement; ids in the order given."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for message in messages:
        if not message.kind or len(message.kind) > 60:
            raise ValueError("outbox kind must be 1-60 characters")
        if message.key is not None and not 0 < len(message.key) <= 200:
            raise ValueError("outbox key must be 1-200 characters")
        rows.append(
            {
                "kind": message.kind,
                "key": message.key,
                # Fail inside the request, not in the worker hours later.
                "payload": json.loads(json.dumps(dict(message.payload), ensure_ascii=False, allow_nan=False)),
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if not rows:
        return []
    # Pending ORM changes (the row the message is about) go first: ids follow the caller's order.
    session.flush()
    if len(rows) == 1:
        ids = [int(session.execute(_INSERT, rows[0]).scalar_one())]
    else:
        ids = [int(i) for i in session.scalars(_INSERT_MANY, rows)]
    mark_written(session)
    for message_id, row in zip(ids, rows, strict=True):
        new = _NEW_BACKGROUND_IDS if priority_of(row["kind"]) == BACKGROUND else _NEW_IDS
        session.info.setdefault(new, []).append(message_id)
    return [OutboxMessage(id=message_id, **row) for message_id, row in zip(ids, rows, strict=True)]


def enqueue_from(session: Session, kind: str, rows: Select[Any]) -> list[int]:
    """``enqueue`` for every message a query makes, written by the database in one statement.

    ``rows`` selects ``payload`` (a JSON object built in SQL with :func:`json_object`) and ``key``
    per message: for a sweep that writes thousands at once (the complaints' escalations).
    """
    if not kind or len(kind) > 60:
        raise ValueError("outbox kind must be 1-60 characters")
    now = utcnow()
    made = rows.subquery("made")
    statement = (
        insert(_TABLE)
        .from_select(
            ["kind", "key", "payload", "status", "attempts", "next_attempt_at", "created_at"],
            select(
                literal(kind),
                made.c.key,
                made.c.payload,
                literal(OutboxStatus.PENDING.value),
                literal(0),
                literal(now, _TABLE.c.created_at.type),
                literal(now, _TABLE.c.created_at.type),
            ),
        )
        .returning(_TABLE.c.id)
    )
    session.flush()
    ids = [int(i) for i in session.scalars(statement)]
    mark_written(session)
    new = _NEW_BACKGROUND_IDS if priority_of(kind) == BACKGROUND else _NEW_IDS
    session.info.setdefault(new, []).extend(ids)
    return ids


def json_object(session: Session, **fields: Any) -> Any:
    """A JSON object built in SQL from ``fields`` (column expressions), for :func:`enqueue_from`."""
    build = func.json_build_object if session.get_bind().dialect.name == "postgresql" else func.json_object
    parts: list[Any] = []
    for name, value in fields.items():
        parts += [literal_column(f"'{name}'"), value]
    return build(*parts)


def take_new_ids(session: Session) -> list[int]:
    """The ids enqueued through ``session`` since the last call (and forget them); those of
    :data:`BACKGROUND` kinds come last."""
    ids: list[int] = session.info.pop(_NEW_IDS, None) or []
    return ids + (session.info.pop(_NEW_BACKGROUND_IDS, None) or [])


def submit_after_commit(registry: Mapping[str, Any], ids: Sequence[int]) -> None:
    """Wake a worker for messages committed outside a request (the sweep is the backstop)."""
    queue = outbox_queue(registry)
    if queue is not None:
        _submit_new(queue, ids, ())


def _submit_new(queue: OutboxQueue, ids: Sequence[int], background: Sequence[int]) -> None:
    """Hand committed ids to the queue, the background ones behind every other task."""
    try:
        if ids:
            queue.submit(ids)
        if background:
            queue.submit(background, priority=BACKGROUND)
    except Exception:
        log.warning(
            "outbox: could not queue %d message(s); the sweep will", len(ids) + len(background), exc_info=True
        )


def _take_new(session: Session) -> tuple[list[int], list[int]]:
    """(ids, background ids) enqueued through ``session`` since the last call."""
    return session.info.pop(_NEW_IDS, None) or [], session.info.pop(_NEW_BACKGROUND_IDS, None) or []


@contextmanager
def unit_of_work(registry: Mapping[str, Any]) -> Iterator[Session]:
    """Work outside a request (periodic jobs, worker handlers, admin commands): one transaction
    on its own session, and the outbox messages it wrote handed to the worker once it commits,
    as a request's are. If it raises, nothing is committed and nothing is handed over. Objects
    stay readable after the commit (the caller often reports what it wrote)."""
    engine = process_service(registry, Database).engine
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
        ids, background = _take_new(session)
    queue = outbox_queue(registry)
    if queue is not None:
        _submit_new(queue, ids, background)


# --- the queue -------------------------------------------------------------


class OutboxQueue:
    """The Huey queues that wake workers up: SQLite file by default, Redis when configured.

    Two lanes: messages of :data:`BACKGROUND` kinds (CPU-bound work such as a signed PDF) go to
    a queue of their own, which hub-worker consumes in a separate process, so that rendering
    never holds the interpreter lock while payments, meter commands and SMS wait on the
    database. Web processes only ``submit``; a worker process sets ``deliverer`` and runs
    Huey's consumer on its lane, which calls :meth:`_run` for each task.
    """

    def __init__(self, huey: Huey, background: Huey | None = None) -> None:
        self.huey = huey
        self.background = background or huey
        self.deliverer: OutboxDeliverer | None = None
        self._task = huey.task(name=TASK_NAME)(self._run)
        self._background_task = (
            self._task if background is None else background.task(name=TASK_NAME)(self._run)
        )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OutboxQueue:
        url = redis_url(settings, "queue")
        if url is not None:
            # A sorted set, so that priorities hold (a queue of its own name: the list the
            # queue once was is left to the sweep).
            return cls(
                PriorityRedisHuey("hub-outbox-by-priority", url=url, results=False),
                PriorityRedisHuey("hub-outbox-background", url=url, results=False),
            )
        from pathlib import Path

        path = Path(str(settings["hub.queue.sqlite_path"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(
            SqliteHuey("hub-outbox", filename=str(path), results=False),
            SqliteHuey("hub-outbox-background", filename=str(path), results=False),
        )

    def submit(self, ids: Sequence[int], delay: float | None = None, priority: int = 0) -> None:
        """Ask a worker to deliver ``ids`` (now, or after ``delay`` seconds); those of
        ``priority`` :data:`BACKGROUND` on the background lane."""
        ids = list(ids)
        task = self._background_task if priority == BACKGROUND else self._task
        for start in range(0, len(ids), _SUBMIT_CHUNK):
            chunk = ids[start : start + _SUBMIT_CHUNK]
            if delay:
                task.schedule(args=(chunk,), delay=delay, priority=priority)
            else:
                task(chunk, priority=priority)

    def _run(self, ids: list[int]) -> None:
        if self.deliverer is None:
            raise RuntimeError("outbox task run outside a worker (no deliverer)")
        self.deliverer.deliver(ids)


# --- delivering ------------------------------------------------------------


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: between half and all of ``min(cap, base * 2**(attempts-1))``.

    The jitter spreads retries of many messages that failed together (a
    receiver outage) so they do not return as one burst.
    """
    ceiling = min(cap, base * (2 ** max(attempts - 1, 0)))
    return (rng or random).uniform(ceiling / 2, ceiling)


_URL_SECRETS = re.compile(
    r"(://)[^/\s@]+@|([?&][^=\s&]*(?:token|key|secret|sig|password)[^=\s&]*=)[^\s&]+", re.I
)


def describe_error(exc: BaseException) -> str:
    """What an operator may read about a failure: never secrets.

    Connector errors carry messages written for operators (they never echo
    partner data); anything else is reduced to its type and a message with
    credentials and signed query parameters stripped.
    """
    text = f"{exc.code}: {exc}" if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
    text = _URL_SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + ("***@" if m.group(1) else "***"), text)
    return text[:500]


@dataclass(frozen=True)
class DeliveryOutcome:
    id: int
    result: str  # delivered | retry | parked | skipped
    attempts: int = 0
    error: str | None = None


@dataclass
class OutboxDeliverer:
    """Claims, delivers and settles messages. Used by the worker's tasks and its sweep."""

    engine: Engine
    connectors: Mapping[str, Any]
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    max_attempts: int = 8
    lease_seconds: float = 300.0
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    sweep_grace_seconds: float = 30.0
    queue: OutboxQueue | None = None

    def handler_for(self, kind: str) -> Handler | None:
        return self.handlers.get(kind) or _HANDLERS.get(kind)

    def deliver(self, ids: Iterable[int]) -> list[DeliveryOutcome]:
        """Deliver ``ids`` (and, for kinds whose handler takes batches, other due messages of
        the same kind): an outcome for each message handled, ``skipped`` for ids not ours.

        Messages are claimed together and settled together; an id held back by an older message
        of its key is claimed again once this call delivered that one.
        """
        asked = list(dict.fromkeys(ids))
        remaining = asked
        outcomes: dict[int, DeliveryOutcome] = {}
        while remaining:
            token = secrets.token_hex(16)
            claimed = self._claim(token, remaining)
            if not claimed:
                break
            claimed = sorted(claimed + self._top_up(token, claimed), key=lambda m: m.id)
            outcomes.update((o.id, o) for o in self._deliver_claimed(token, claimed))
            remaining = [i for i in remaining if i not in outcomes]
        # In the order asked, then the messages taken with them.
        taken_with = [o for i, o in outcomes.items() if i not in set(asked)]
        return [outcomes.get(i) or DeliveryOutcome(i, "skipped") for i in asked] + taken_with

    def deliver_one(self, message_id: int) -> DeliveryOutcome:
        return self.deliver([message_id])[0]

    def claim(self, message_id: int, now: datetime | None = None) -> str | None:
        """Take the lease on a due message; the claim token, or None if it is not ours to deliver."""
        token = secrets.token_hex(16)
        return token if self._claim(token, [message_id], now) else None

    @staticmethod
    def _claimable(now: datetime, table: Any = _TABLE) -> list[Any]:
        """Due, pending, lease free, and no older undelivered message of its key."""
        older = aliased(OutboxMessage)
        blocked = (
            exists()
            .where(older.key == table.c.key)
            .where(older.id < table.c.id)
            .where(older.status != OutboxStatus.DELIVERED.value)
        )
        return [
            table.c.status == OutboxStatus.PENDING.value,
            table.c.next_attempt_at <= now,
            or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
            ~blocked,
        ]

    def _lease(self, token: str, chosen: Any, now: datetime | None = None) -> list[OutboxMessage]:
        """One UPDATE ... RETURNING: the lease on the claimable messages ``chosen`` names, and
        the messages themselves."""
        now = now or utcnow()
        table = _TABLE
        with self.engine.begin() as conn:
            rows = conn.execute(
                update(table)
                .where(chosen, *self._claimable(now))
                .values(claimed_until=now + timedelta(seconds=self.lease_seconds), claim_token=token)
                .returning(*table.c)
            ).all()
        return sorted((OutboxMessage(**row._mapping) for row in rows), key=lambda m: m.id)

    def _claim(self, token: str, ids: Sequence[int], now: datetime | None = None) -> list[OutboxMessage]:
        return self._lease(token, _TABLE.c.id.in_(list(ids)), now)

    def _top_up(self, token: str, claimed: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        """More due messages of the claimed kinds whose handler takes batches, up to its size:
        under load, a worker takes what has queued up in one go."""
        more: list[OutboxMessage] = []
        table = _TABLE
        for kind in sorted({m.kind for m in claimed}):
            size = _batch_size(self.handler_for(kind))
            wanted = size - sum(1 for m in claimed if m.kind == kind)
            if wanted <= 0:
                continue
            now = utcnow()
            queued = _TABLE.alias("queued")  # not the UPDATE's own table: no correlation
            due = (
                select(queued.c.id)
                .where(queued.c.kind == kind, *self._claimable(now, queued))
                .order_by(queued.c.id)
                .limit(wanted)
                # Another worker topping up at the same moment takes other rows, not a wait.
                .with_for_update(skip_locked=True)
                # A CTE runs once: as a subquery PostgreSQL may run it again for each row the
                # UPDATE visits, each time past the rows already taken, and take them all.
                .cte("due")
            )
            more += self._lease(token, table.c.id == due.c.id, now)
        return more

    def _deliver_claimed(self, token: str, messages: Sequence[OutboxMessage]) -> list[DeliveryOutcome]:
        failures: dict[int, BaseException] = {}
        by_kind: dict[str, list[OutboxMessage]] = {}
        for message in messages:
            by_kind.setdefault(message.kind, []).append(message)
        for kind, group in by_kind.items():
            handler = self.handler_for(kind)
            if handler is None:
                failures.update((m.id, LookupError(f"no outbox handler for kind {kind!r}")) for m in group)
            elif _batch_size(handler) > 1:
                try:
                    failures.update(cast(BatchHandler, handler).deliver_many(group, self.connectors))
                except Exception as exc:
                    failures.update((m.id, exc) for m in group)
            else:
                for message in group:
                    try:
                        handler(message, self.connectors)
                    except Exception as exc:
                        failures[message.id] = exc
        delivered = [m for m in messages if m.id not in failures]
        outcomes = {m.id: DeliveryOutcome(m.id, "delivered", m.attempts + 1) for m in delivered}
        if delivered:
            self._delivered(delivered, token)
        for message in messages:
            if message.id in failures:
                outcomes[message.id] = self._failed(message, token, cast(Exception, failures[message.id]))
        return [outcomes[m.id] for m in messages]

    def _delivered(self, messages: Sequence[OutboxMessage], token: str) -> None:
        table = _TABLE
        now = utcnow()
        ids = [m.id for m in messages]
        keys = sorted({m.key for m in messages if m.key is not None})
        with self.engine.begin() as conn:
            settled = set(
                conn.execute(
                    update(table)
                    .where(table.c.id.in_(ids))
                    .where(table.c.claim_token == token)
                    .values(
                        status=OutboxStatus.DELIVERED.value,
                        delivered_at=now,
                        attempts=table.c.attempts + 1,
                        claimed_until=None,
                        claim_token=None,
                        last_error=None,
                    )
                    .returning(table.c.id)
                ).scalars()
            )
            # The next message of each key, held back until now.
            heads = (
                select(func.min(table.c.id).label("id"))
                .where(table.c.key.in_(keys))
                .where(table.c.status == OutboxStatus.PENDING.value)
                .group_by(table.c.key)
                .subquery()
            )
            following = (
                conn.execute(select(table.c.id, table.c.kind).where(table.c.id == heads.c.id)).all()
                if keys
                else []
            )
        for message in messages:
            if message.id not in settled:
                # Our lease ran out and another worker took the message over; it
                # delivers again under the same delivery id, which the receiver dedupes.
                log.warning(
                    "outbox lease lost during delivery", extra={"outbox_id": message.id, "kind": message.kind}
                )
        self._submit_by_kind([(int(i), str(kind)) for i, kind in following])

    def _failed(self, message: OutboxMessage, token: str, exc: Exception) -> DeliveryOutcome:
        table = _TABLE
        attempts = message.attempts + 1
        error = describe_error(exc)
        parked = attempts >= self.max_attempts
        delay = 0.0 if parked else backoff_seconds(attempts, self.backoff_base, self.backoff_max)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == message.id)
                .where(table.c.claim_token == token)
                .values(
                    status=(OutboxStatus.PARKED if parked else OutboxStatus.PENDING).value,
                    attempts=attempts,
                    next_attempt_at=now + timedelta(seconds=delay),
                    claimed_until=None,
                    claim_token=None,
                    last_error=error,
                )
            )
        details = {"outbox_id": message.id, "kind": message.kind, "key": message.key, "attempts": attempts}
        if parked:
            log.error("outbox message parked for an operator: %s", error, extra=details)
            return DeliveryOutcome(message.id, "parked", attempts, error)
        log.warning("outbox delivery failed, retrying in %.1fs: %s", delay, error, extra=details)
        self._submit([message.id], delay=delay, priority=priority_of(message.kind))
        return DeliveryOutcome(message.id, "retry", attempts, error)

    def _submit(self, ids: list[int], delay: float | None = None, priority: int = 0) -> None:
        if self.queue is None:
            return
        try:
            self.queue.submit(ids, delay=delay, priority=priority)
        except Exception:
            log.warning("outbox: could not queue %s; the sweep will", ids, exc_info=True)

    def _submit_by_kind(self, messages: Sequence[tuple[int, str]]) -> None:
        """Queue (id, kind) pairs, each on its kind's lane."""
        lanes: dict[int, list[int]] = {}
        for message_id, kind in messages:
            lanes.setdefault(priority_of(kind), []).append(message_id)
        for priority, ids in sorted(lanes.items(), reverse=True):
            self._submit(ids, priority=priority)

    def due_ids(self, limit: int = 1000, now: datetime | None = None) -> list[int]:
        """Pending messages a task should have delivered by now: lost tasks, dead workers' leases.

        Only the head of each key (nothing older undelivered), and only what
        has been due for longer than the grace period, so messages whose task
        is merely waiting in the queue are not queued twice.
        """
        return [message_id for message_id, _ in self._due(limit, now)]

    def _due(self, limit: int, now: datetime | None = None) -> list[tuple[int, str]]:
        now = now or utcnow()
        table = _TABLE
        query = (
            select(table.c.id, table.c.kind)
            .where(*self._claimable(now, table))
            .where(table.c.next_attempt_at <= now - timedelta(seconds=self.sweep_grace_seconds))
            .order_by(table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(i), str(kind)) for i, kind in conn.execute(query)]

    def sweep(self, limit: int = 1000) -> list[int]:
        """Re-queue what :meth:`due_ids` finds, each on its kind's lane; returns the ids."""
        due = self._due(limit)
        ids = [message_id for message_id, _ in due]
        if ids:
            log.info("outbox sweep re-queued %d message(s)", len(ids), extra={"outbox_ids": ids[:20]})
            self._submit_by_kind(due)
        return ids


def deliverer_from_settings(
    settings: Mapping[str, Any],
    engine: Engine,
    connectors: Mapping[str, Any],
    handlers: Mapping[str, Handler] | None = None,
    queue: OutboxQueue | None = None,
) -> OutboxDeliverer:
    return OutboxDeliverer(
        engine=engine,
        connectors=connectors,
        handlers=dict(handlers or {}),
        max_attempts=int(settings["hub.outbox.max_attempts"]),
        lease_seconds=float(settings["hub.outbox.lease_seconds"]),
        backoff_base=float(settings["hub.outbox.backoff_seconds"]),
        backoff_max=float(settings["hub.outbox.backoff_max_seconds"]),
        sweep_grace_seconds=float(settings["hub.outbox.sweep_seconds"]),
        queue=queue,
    )


# --- operator functions (hub-admin outbox ...) -----------------------------


def list_messages(session: Session, status: str | None = None, limit: int = 100) -> list[OutboxMessage]:
    """Newest first; ``status`` one of pending, delivered, parked."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxMessage.status == OutboxStatus(status).value)
    return list(session.scalars(query))


class OutboxError(Exception):
    """An operator asked for something the outbox cannot do (unknown id, already delivered)."""


def retry(session: Session, message_id: int) -> OutboxMessage:
    """Make a parked (or backing-off) message due now with a fresh set of attempts.

    The caller commits and then submits the id to the queue (the sweep would
    pick it up anyway).
    """
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise OutboxError(f"no outbox message {message_id}")
    if message.status == OutboxStatus.DELIVERED.value:
        raise OutboxError(f"outbox message {message_id} was already delivered")
    message.status = OutboxStatus.PENDING.value
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.claimed_until = None
    message.claim_token = None
    session.flush()
    return message


# --- Pyramid wiring ----------------------------------------------------------


def _after_transaction(committed: bool, request: Request, queue: OutboxQueue) -> None:
    session: Session | None = request.__dict__.get("dbsession")
    if session is None:
        return
    ids, background = _take_new(session)
    if committed:
        _submit_new(queue, ids, background)


def _watch_transaction(request: Request, session: Session) -> None:
    """Queue the ids a request enqueued once its transaction has committed, and only then.

    Runs when a request first uses its database session (hub.db), so requests
    that never touch the database carry no hooks.
    """
    queue = outbox_queue(request.registry)
    if queue is None:
        return
    try:
        txn = request.tm.get()
    except Exception:
        return
    txn.addAfterCommitHook(_after_transaction, args=(request, queue))
    txn.addAfterAbortHook(_after_transaction, args=(False, request, queue))


class OutboxHandlers(dict[str, Handler]):
    """The handler of each message kind (``config.add_outbox_handler``)."""


def outbox_queue(registry: Mapping[Any, Any]) -> OutboxQueue | None:
    """The queue that wakes hub-worker (None in a registry made without hub.outbox: a
    command's, whose messages wait for the worker's sweep)."""
    queue: OutboxQueue | None = registry.get(OutboxQueue)
    return queue


def add_outbox_handler(config: Configurator, kind: str, handler: Handler | str, priority: int = 0) -> None:
    """``config.add_outbox_handler(kind, handler)``: the handler for messages of ``kind`` (a
    :class:`BatchHandler` to take them in batches); ``priority=BACKGROUND`` for CPU-bound work
    every other message may go before, delivered by hub-worker's background process."""
    resolved: Handler = config.maybe_dotted(handler)

    def register() -> None:
        registered(config.registry, OutboxHandlers)[kind] = resolved
        set_priority(kind, priority)

    config.action(("hub.outbox.handler", kind), register)


def includeme(config: Configurator) -> None:
    registry = config.registry
    registry[OutboxQueue] = OutboxQueue.from_settings(config.get_settings())
    config.add_directive("add_outbox_handler", add_outbox_handler)
    process_service(registry, Database).session_hooks.append(_watch_transaction)
