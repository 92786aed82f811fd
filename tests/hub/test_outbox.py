"""The transactional outbox in one process: request transactions, claims, order, backoff, parking, leases.

The worker process itself (Huey consumer, sweep, kill -9) is in test_worker.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pyramid.request import Request
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.reference_db import ensure_up, set_down
from connectors.singlewindow.reference import ReferenceSingleWindow
from connectors.sms.reference import ReferenceSms, RefSmsMessage
from hub.db import standalone_registry
from hub.models.meta import utcnow
from hub.models.outbox import OutboxMessage, OutboxStatus
from hub.outbox import (
    BACKGROUND,
    OutboxDeliverer,
    OutboxError,
    OutboxQueue,
    Outgoing,
    backoff_seconds,
    describe_error,
    enqueue,
    enqueue_many,
    enqueue_sms,
    list_messages,
    outbox_queue,
    retry,
    set_priority,
    take_new_ids,
    unit_of_work,
)
from hub.systems import Connectors, build_connectors

# Reference connectors as a deployment's ini would name them.
CONNECTORS: dict[str, str] = {
    "hub.sms.backend": "connectors.sms.reference:ReferenceSms",
    "hub.sms.sender_id": "MPCZED",
    "hub.sms.entity_id": "1101234567890123456",
    "hub.sms.template.notice.id": "1107161234567890123",
    "hub.sms.template.notice.text": "{#var#}: {#var#}",
    "hub.singlewindow.backend": "connectors.singlewindow.reference:ReferenceSingleWindow",
}


def status_update(application: str, sequence: int, status: str = "document_scrutiny") -> dict[str, Any]:
    return {
        "application_id": application,
        "application_no": f"NC-{application}",
        "status": status,
        "sequence": sequence,
        "occurred_at": "2026-11-23T10:00:00+00:00",
        "remarks": "दस्तावेज़ जांच",
        "details": {},
    }


class OutboxRows:
    """Rows this test wrote with real commits, removed afterwards (other processes read them)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.connect() as conn:
            self.start = int(conn.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0))) or 0)

    def add(self, kind: str, payload: Mapping[str, Any], key: str | None = None) -> int:
        with Session(self.engine) as session, session.begin():
            message = enqueue(session, kind, payload, key)
            take_new_ids(session)
            return message.id

    def get(self, message_id: int) -> OutboxMessage:
        with Session(self.engine, expire_on_commit=False) as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            return message

    def make_due(self, message_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id).values(next_attempt_at=utcnow())
            )

    def cleanup(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(OutboxMessage).where(OutboxMessage.id > self.start))


@pytest.fixture()
def rows(committed_engine: Engine) -> Iterator[OutboxRows]:
    tracker = OutboxRows(committed_engine)
    yield tracker
    tracker.cleanup()


@pytest.fixture()
def connectors(reference_engine: Engine) -> Iterator[Connectors]:
    built = build_connectors(dict(CONNECTORS), reference_engine)
    yield built
    ensure_up_all(reference_engine)


def ensure_up_all(engine: Engine) -> None:
    for system in ("sms", "singlewindow"):
        set_down(engine, system, down=False)


@pytest.fixture()
def queue(tmp_path: Path) -> OutboxQueue:
    return OutboxQueue.from_settings(
        {"hub.redis_url": "", "hub.queue.sqlite_path": str(tmp_path / "queue.sqlite")}
    )


def queued_ids(queue: OutboxQueue) -> list[int]:
    """The ids waiting on either lane."""
    lanes = [queue.huey] if queue.background is queue.huey else [queue.huey, queue.background]
    return [i for lane in lanes for task in lane.pending() for i in task.args[0]]


@pytest.fixture()
def deliverer(committed_engine: Engine, connectors: dict[str, Any], queue: OutboxQueue) -> OutboxDeliverer:
    return OutboxDeliverer(
        engine=committed_engine,
        connectors=connectors,
        max_attempts=3,
        lease_seconds=60,
        backoff_base=30,
        backoff_max=600,
        sweep_grace_seconds=0,
        queue=queue,
    )


# --- in a request transaction -------------------------------------------------


class Boom(Exception):
    pass


def _enqueue_view(request: Request) -> dict[str, Any]:
    message = enqueue_sms(request.dbsession, "9876543210", f"Notice: {request.matchdict['tag']}", "notice")
    if request.matchdict["outcome"] == "fail":
        raise Boom("the change failed after the message was written")
    return {"id": message.id}


@pytest.fixture(scope="module")
def outbox_app(
    committed_engine: Engine, base_settings: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Any:
    from hub import make_config

    settings = {
        **base_settings,
        **CONNECTORS,
        "hub.queue.sqlite_path": str(tmp_path_factory.mktemp("outboxq") / "queue.sqlite"),
        "hub.test_engine": committed_engine,
    }
    config = make_config({}, **settings)
    if outbox_queue(config.registry) is None:
        config.include("hub.outbox")
    config.add_route("test.outbox", "/_test/outbox/{outcome}/{tag}")
    config.add_view(_enqueue_view, route_name="test.outbox", renderer="json", public=True)
    return config.make_wsgi_app()


def _sms_rows(engine: Engine, tag: str) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.payload["text"].as_string() == f"Notice: {tag}")
            )
        )


def test_message_from_a_failed_request_never_exists(
    outbox_app: Any, committed_engine: Engine, rows: OutboxRows
) -> None:
    app = TestApp(outbox_app)
    queue = outbox_queue(outbox_app.registry)
    assert queue is not None
    queue.huey.flush()
    app.get("/_test/outbox/fail/failed-1", status=500)
    assert _sms_rows(committed_engine, "failed-1") == []
    assert queued_ids(queue) == []


def test_message_from_a_committed_request_is_queued_after_commit(
    outbox_app: Any, committed_engine: Engine, rows: OutboxRows
) -> None:
    app = TestApp(outbox_app)
    queue = outbox_queue(outbox_app.registry)
    assert queue is not None
    queue.huey.flush()
    response = app.get("/_test/outbox/ok/ok-1")
    [message] = _sms_rows(committed_engine, "ok-1")
    assert message.id == response.json["id"]
    assert message.status == "pending"
    assert message.delivery_id == f"hub-outbox-{message.id}"
    assert queued_ids(queue) == [message.id]
    # A later failed request does not re-queue anything.
    app.get("/_test/outbox/fail/failed-2", status=500)
    assert queued_ids(queue) == [message.id]


def test_enqueue_refuses_what_json_cannot_carry(dbsession: Session) -> None:
    with pytest.raises(ValueError):
        enqueue(dbsession, "sms", {"x": float("nan")})
    with pytest.raises(TypeError):
        enqueue(dbsession, "sms", {"x": object()})


def test_enqueue_many_writes_in_the_order_given_and_refuses_all_for_one_bad(dbsession: Session) -> None:
    set_priority("test.receipt_pdf", BACKGROUND)
    written = enqueue_many(
        dbsession,
        [
            Outgoing("test.reconnect", {"payment_id": 7}),
            Outgoing("test.receipt_pdf", {"payment_id": 7}, "bills.receipt:7"),
            Outgoing.sms("9876543210", "Rs 10 received. बिल", "payment_receipt", "bills.receipt:7"),
        ],
    )
    ids = [m.id for m in written]
    assert ids == sorted(ids) and len(set(ids)) == 3
    stored = {m.id: m for m in dbsession.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
    assert [stored[i].kind for i in ids] == ["test.reconnect", "test.receipt_pdf", "sms"]
    assert stored[ids[2]].payload["text"] == "Rs 10 received. बिल"
    # The background kind is handed over last, after the others.
    assert take_new_ids(dbsession) == [ids[0], ids[2], ids[1]]
    with pytest.raises(ValueError):
        enqueue_many(dbsession, [Outgoing("sms", {"n": 1}), Outgoing("sms", {"x": float("inf")})])
    assert take_new_ids(dbsession) == []
    assert (
        dbsession.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.id > ids[2]))
        == 0
    )


# --- delivering ------------------------------------------------------------------


def test_sms_delivered_once_with_the_delivery_id(
    rows: OutboxRows, deliverer: OutboxDeliverer, committed_engine: Engine, connectors: dict[str, Any]
) -> None:
    message_id = rows.add(
        "sms", {"mobile": "+91 98765 43210", "text": "Notice: delivered-once", "template": "notice"}
    )
    [outcome] = deliverer.deliver([message_id])
    assert outcome.result == "delivered"
    again = deliverer.deliver([message_id])
    assert again[0].result == "skipped"
    sms: ReferenceSms = connectors["sms"]
    sent = [m for m in sms.messages_to("9876543210") if m.text == "Notice: delivered-once"]
    assert [m.idempotency_key for m in sent] == [f"hub-outbox-{message_id}"]
    message = rows.get(message_id)
    assert (message.status, message.attempts, message.last_error) == ("delivered", 1, None)
    assert message.delivered_at is not None


class SmsCalls:
    """The SMS gateway, counting the calls that hand it messages."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.calls: list[int] = []

    def send_many(self, messages: Sequence[Any]) -> Any:
        self.calls.append(len(messages))
        return self.gateway.send_many(messages)


def test_sms_waiting_together_go_to_the_gateway_in_one_call_and_fail_alone(
    rows: OutboxRows, deliverer: OutboxDeliverer, connectors: dict[str, Any]
) -> None:
    gateway = SmsCalls(connectors["sms"])
    deliverer.connectors = {**connectors, "sms": gateway}
    good = [
        rows.add("sms", {"mobile": f"98765432{n}0", "text": f"Notice: together {n}", "template": "notice"})
        for n in range(4)
    ]
    unregistered = rows.add("sms", {"mobile": "9876543210", "text": "Sale!", "template": "promo"})
    malformed = rows.add("sms", {"mobile": 9876543210, "text": "Notice: no", "template": "notice"})
    outcomes = {o.id: o.result for o in deliverer.deliver([good[0]])}
    assert gateway.calls == [5]  # woken for one, the worker took the six; the malformed never left
    assert outcomes == {**dict.fromkeys(good, "delivered"), unregistered: "retry", malformed: "retry"}
    assert "sms_template_unregistered" in (rows.get(unregistered).last_error or "")
    sms: ReferenceSms = connectors["sms"]
    assert [len([m for m in sms.messages_to(f"98765432{n}0") if "together" in m.text]) for n in range(4)] == [
        1
    ] * 4


def test_connector_down_retries_with_backoff_then_parks(
    rows: OutboxRows,
    deliverer: OutboxDeliverer,
    committed_engine: Engine,
    reference_engine: Engine,
    queue: OutboxQueue,
) -> None:
    set_down(reference_engine, "sms")
    message_id = rows.add("sms", {"mobile": "9876543210", "text": "Notice: parked", "template": "notice"})
    before = utcnow()
    [first] = deliverer.deliver([message_id])
    assert (first.result, first.attempts) == ("retry", 1)
    message = rows.get(message_id)
    assert message.status == "pending"
    assert message.last_error is not None and message.last_error.startswith("connector_unavailable")
    # First retry waits between half and all of backoff_base (30 s), jittered.
    wait = (message.next_attempt_at - before).total_seconds()
    assert 15 <= wait <= 31
    # Not due yet: another task for it does nothing.
    assert deliverer.deliver([message_id])[0].result == "skipped"
    # The retry was handed to the queue with a delay.
    [task] = queue.huey.pending()
    assert task.args == ([message_id],) and task.eta is not None

    rows.make_due(message_id)
    assert deliverer.deliver([message_id])[0].result == "retry"
    rows.make_due(message_id)
    parked = deliverer.deliver([message_id])[0]
    assert (parked.result, parked.attempts) == ("parked", 3)
    assert rows.get(message_id).status == "parked"
    rows.make_due(message_id)
    assert deliverer.deliver([message_id])[0].result == "skipped"

    # The operator brings it back once the gateway is up.
    ensure_up_all(reference_engine)
    with Session(committed_engine) as session, session.begin():
        assert [m.id for m in list_messages(session, "parked") if m.id == message_id] == [message_id]
        revived = retry(session, message_id)
        assert (revived.status, revived.attempts) == ("pending", 0)
    assert deliverer.deliver([message_id])[0].result == "delivered"
    with Session(committed_engine) as session, session.begin(), pytest.raises(OutboxError):
        retry(session, message_id)


def test_unknown_kind_is_retried_then_parked(rows: OutboxRows, deliverer: OutboxDeliverer) -> None:
    message_id = rows.add("no.such.kind", {})
    for _ in range(3):
        rows.make_due(message_id)
        outcome = deliverer.deliver([message_id])[0]
    assert outcome.result == "parked"
    assert "no outbox handler" in (rows.get(message_id).last_error or "")


def test_order_per_key(
    rows: OutboxRows, deliverer: OutboxDeliverer, connectors: dict[str, Any], queue: OutboxQueue
) -> None:
    key = "connection-application:ORD-1"
    ids = [rows.add("singlewindow.status", status_update("ORD-1", seq), key) for seq in (1, 2, 3)]
    other = rows.add("singlewindow.status", status_update("ORD-2", 1), "connection-application:ORD-2")
    # Newer messages wait for older ones of the same key; other keys do not.
    assert [o.result for o in deliverer.deliver([ids[2], ids[1], other])] == [
        "skipped",
        "skipped",
        "delivered",
    ]
    assert deliverer.deliver([ids[0]])[0].result == "delivered"
    # Delivering one hands the next of its key to the queue at once.
    assert ids[1] in queued_ids(queue)
    assert deliverer.deliver([ids[2]])[0].result == "skipped"
    assert [o.result for o in deliverer.deliver([ids[1], ids[2]])] == ["delivered", "delivered"]
    portal: ReferenceSingleWindow = connectors["singlewindow"]
    received = portal.received("ORD-1")
    assert [u.sequence for u in received] == [1, 2, 3]
    assert [u.delivery_id for u in received] == [f"hub-outbox-{i}" for i in ids]


def test_parked_message_holds_its_key(
    rows: OutboxRows, deliverer: OutboxDeliverer, committed_engine: Engine, reference_engine: Engine
) -> None:
    key = "connection-application:HOLD-1"
    set_down(reference_engine, "singlewindow")
    first = rows.add("singlewindow.status", status_update("HOLD-1", 1), key)
    second = rows.add("singlewindow.status", status_update("HOLD-1", 2), key)
    for _ in range(3):
        rows.make_due(first)
        deliverer.deliver([first])
    assert rows.get(first).status == "parked"
    ensure_up_all(reference_engine)
    assert deliverer.deliver([second])[0].result == "skipped"
    assert second not in deliverer.due_ids()
    with Session(committed_engine) as session, session.begin():
        retry(session, first)
    assert deliverer.deliver([first, second])[0].result == "delivered"
    assert rows.get(second).status == "delivered"


def test_killed_workers_lease_expires_and_the_sweep_finds_it(
    rows: OutboxRows, deliverer: OutboxDeliverer, queue: OutboxQueue
) -> None:
    message_id = rows.add("sms", {"mobile": "9876543210", "text": "Notice: lease", "template": "notice"})
    deliverer.lease_seconds = 0.5
    assert deliverer.claim(message_id) is not None  # ... and the worker dies here
    assert deliverer.claim(message_id) is None
    assert message_id not in deliverer.due_ids()
    deadline = time.monotonic() + 10
    while message_id not in deliverer.due_ids() and time.monotonic() < deadline:
        time.sleep(0.1)
    queue.huey.flush()
    assert message_id in deliverer.sweep()
    assert message_id in queued_ids(queue)
    assert deliverer.deliver([message_id])[0].result == "delivered"


def test_sweep_skips_messages_not_yet_overdue(rows: OutboxRows, deliverer: OutboxDeliverer) -> None:
    message_id = rows.add("sms", {"mobile": "9876543210", "text": "Notice: fresh", "template": "notice"})
    deliverer.sweep_grace_seconds = 3600
    assert message_id not in deliverer.due_ids()
    deliverer.sweep_grace_seconds = 0
    assert message_id in deliverer.due_ids()


def test_concurrent_deliverers_deliver_each_message_once(
    rows: OutboxRows, committed_engine: Engine, connectors: dict[str, Any]
) -> None:
    calls: dict[int, int] = {}
    lock = threading.Lock()

    def counting(message: OutboxMessage, conns: Mapping[str, Any]) -> None:
        with lock:
            calls[message.id] = calls.get(message.id, 0) + 1

    ids = [rows.add("test.count", {"n": n}) for n in range(40)]
    workers = [
        OutboxDeliverer(engine=committed_engine, connectors=connectors, handlers={"test.count": counting})
        for _ in range(4)
    ]
    errors: list[BaseException] = []

    def run(d: OutboxDeliverer) -> None:
        try:
            d.deliver(ids)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert calls == dict.fromkeys(ids, 1)
    with Session(committed_engine) as session:
        statuses = session.scalars(select(OutboxMessage.status).where(OutboxMessage.id.in_(ids))).all()
    assert set(statuses) == {OutboxStatus.DELIVERED.value}


class Batches:
    """A batch handler for ``test.batch``: records each batch it is given, fails the odd ``n``s."""

    batch_size = 5

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.lock = threading.Lock()

    def __call__(self, message: OutboxMessage, conns: Mapping[str, Any]) -> None:
        failed = self.deliver_many([message], conns).get(message.id)
        if failed is not None:
            raise failed

    def deliver_many(
        self, messages: Sequence[OutboxMessage], conns: Mapping[str, Any]
    ) -> dict[int, BaseException]:
        with self.lock:
            self.batches.append([m.id for m in messages])
        return {m.id: Boom(f"odd {m.payload['n']}") for m in messages if m.payload["n"] % 2}


def test_batch_kind_takes_what_has_queued_and_retries_its_failures_alone(
    rows: OutboxRows, deliverer: OutboxDeliverer
) -> None:
    handler = Batches()
    deliverer.handlers = {"test.batch": handler}
    ids = [rows.add("test.batch", {"n": n}) for n in range(7)]
    keyed = [rows.add("test.batch", {"n": 10 + n}, "test-batch:K") for n in range(2)]
    plain = rows.add("sms", {"mobile": "9876543210", "text": "Notice: plain", "template": "notice"})
    outcomes = deliverer.deliver([ids[3]])
    # Woken for one, the worker took up to the batch size of that kind, oldest first; only the
    # head of a key; and no message of another kind.
    assert handler.batches == [sorted([ids[3], *ids[:3], ids[4]])]
    assert {o.id: o.result for o in outcomes} == {
        ids[0]: "delivered",
        ids[1]: "retry",
        ids[2]: "delivered",
        ids[3]: "retry",
        ids[4]: "delivered",
    }
    assert rows.get(ids[1]).attempts == 1 and rows.get(ids[1]).status == "pending"
    assert rows.get(plain).status == "pending"
    assert rows.get(keyed[0]).status == "pending"
    # The next batch: what was left, the key's head, never its second message.
    outcomes = deliverer.deliver([ids[5]])
    assert handler.batches[1] == [ids[5], ids[6], keyed[0]]
    assert rows.get(keyed[0]).status == "delivered"
    assert rows.get(keyed[1]).status == "pending"
    assert rows.get(ids[6]).status == "delivered"


def test_batch_handler_that_raises_fails_its_whole_batch(
    rows: OutboxRows, deliverer: OutboxDeliverer
) -> None:
    class Broken(Batches):
        def deliver_many(
            self, messages: Sequence[OutboxMessage], conns: Mapping[str, Any]
        ) -> dict[int, BaseException]:
            raise Boom("billing answered nonsense")

    deliverer.handlers = {"test.batch": Broken()}
    ids = [rows.add("test.batch", {"n": n}) for n in range(3)]
    assert [o.result for o in deliverer.deliver(ids)] == ["retry"] * 3
    assert [rows.get(i).last_error for i in ids] == ["Boom: billing answered nonsense"] * 3


def test_concurrent_batch_deliverers_take_each_message_once(
    rows: OutboxRows, committed_engine: Engine, connectors: dict[str, Any]
) -> None:
    handler = Batches()
    ids = [rows.add("test.batch", {"n": 2 * n}) for n in range(60)]
    workers = [
        OutboxDeliverer(engine=committed_engine, connectors=connectors, handlers={"test.batch": handler})
        for _ in range(4)
    ]
    threads = [
        threading.Thread(target=d.deliver, args=([i],)) for d, i in zip(workers * 5, ids[::3], strict=False)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [i for batch in handler.batches for i in batch]
    assert len(taken) == len(set(taken))
    assert all(len(batch) <= Batches.batch_size for batch in handler.batches)
    with Session(committed_engine) as session:
        delivered = session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.id.in_(ids), OutboxMessage.status == "delivered")
        ).all()
    assert sorted(delivered) == sorted(taken)
    assert set(ids[::3]) <= set(delivered)


def test_errors_never_carry_secrets() -> None:
    from connectors.errors import ConnectorUnavailable

    assert describe_error(ConnectorUnavailable("sms gateway timed out", system="sms")) == (
        "connector_unavailable: sms gateway timed out"
    )
    text = describe_error(
        RuntimeError("GET https://user:hunter2@sw.example/cb?access_token=abc123&x=1 failed")
    )
    assert "hunter2" not in text and "abc123" not in text
    assert text.startswith("RuntimeError: ")


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    import random

    rng = random.Random(7)
    for attempts, ceiling in ((1, 5), (2, 10), (3, 20), (10, 60)):
        for _ in range(50):
            delay = backoff_seconds(attempts, 5, 60, rng)
            assert ceiling / 2 <= delay <= ceiling


def test_sms_reference_table_records_the_delivery(
    rows: OutboxRows, deliverer: OutboxDeliverer, reference_engine: Engine
) -> None:
    message_id = rows.add("sms", {"mobile": "9876543210", "text": "Notice: table", "template": "notice"})
    deliverer.deliver([message_id])
    with Session(reference_engine) as session:
        stored = session.scalars(
            select(RefSmsMessage).where(RefSmsMessage.idempotency_key == f"hub-outbox-{message_id}")
        ).all()
    assert [m.text for m in stored] == ["Notice: table"]
    ensure_up(reference_engine, "sms")


def test_background_messages_wait_on_their_own_lane(
    committed_engine: Engine, rows: OutboxRows, queue: OutboxQueue
) -> None:
    # A signed receipt enqueued before a meter's message in one unit of work: the worker takes
    # the meter's message first, whatever the order they were written in.
    set_priority("test.receipt_pdf", BACKGROUND)
    registry = standalone_registry(committed_engine)
    registry[OutboxQueue] = queue
    with unit_of_work(registry) as session:
        receipt = enqueue(session, "test.receipt_pdf", {"payment_id": 1}).id
        reconnect = enqueue(session, "test.reconnect", {"payment_id": 1}).id
    assert sorted(queued_ids(queue)) == sorted([receipt, reconnect])
    # The receipt waits on the background lane, which hub-worker consumes in a process of its own.
    first, second = queue.huey.dequeue(), queue.huey.dequeue()
    assert first is not None and first.args[0] == [reconnect]
    assert second is None
    rendering = queue.background.dequeue()
    assert rendering is not None and rendering.args[0] == [receipt]
