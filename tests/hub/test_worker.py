"""The real worker: ``python -m hub.worker <ini>`` as a process, on the SQLite queue and on Redis.

The worker reads the test database through committed rows, delivers through
the reference connectors, and is killed with SIGKILL in the middle of a
delivery. The test kinds below are registered in the worker through
``pyramid.includes = tests.hub.test_worker``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from pyramid.config import Configurator
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from connectors.reference_db import set_down
from connectors.singlewindow import StatusUpdate
from connectors.singlewindow.reference import ReferenceSingleWindow
from connectors.sms.reference import RefSmsMessage
from hub.models.outbox import OutboxMessage
from hub.outbox import BACKGROUND, OutboxQueue, register_handler
from hub.settings import validate
from tests.hub.test_outbox import CONNECTORS, OutboxRows, status_update

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 11
WAIT = 60.0


# --- test-only handler kinds, run inside the worker process ----------------------


def journalled_callback(message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
    """Deliver a status update, journal every attempt, and stall on the first attempt if asked.

    The stall happens *after* the receiver recorded the delivery: the
    acknowledgement is "lost" when the worker is killed there, which is the
    case that makes at-least-once delivery visible to the receiver.
    """
    payload = message.payload
    journal = Path(payload["journal"])
    seen_before = journal.exists() and any(
        line.split()[0] == message.delivery_id for line in journal.read_text().splitlines()
    )
    update = StatusUpdate.from_json(message.delivery_id, payload["update"])
    receipt = connectors["singlewindow"].deliver(update)
    with journal.open("a") as fh:
        fh.write(f"{message.delivery_id} {'duplicate' if receipt.duplicate else 'accepted'}\n")
        fh.flush()
        os.fsync(fh.fileno())
    if payload.get("stall") and not seen_before:
        time.sleep(300)


def rendered_in(message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
    """A background kind (as a signed PDF is): writes the id of the process that performed it."""
    Path(message.payload["pid_file"]).write_text(str(os.getpid()))


def includeme(config: Configurator) -> None:
    register_handler("test.journalled_callback", journalled_callback)
    register_handler("test.rendered_in", rendered_in, priority=BACKGROUND)


# --- the worker process -------------------------------------------------------------


class WorkerProcess:
    def __init__(self, ini: Path, log: Path) -> None:
        self.ini = ini
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env["PYTHONPATH"] = str(ROOT)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.worker", str(self.ini)], cwd=ROOT, env=env, stdout=out, stderr=out
            )

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(condition: Callable[[], bool], worker: WorkerProcess, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert worker.alive(), f"worker exited while waiting for {what}:\n{worker.output()[-4000:]}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{worker.output()[-4000:]}")


def write_ini(path: Path, settings: Mapping[str, str]) -> Path:
    lines = ["[app:main]", "use = egg:discom-hub"]
    # ConfigParser interpolates "%": the PostgreSQL URL carries %3D (search_path).
    lines += [f"{key} = {str(value).replace('%', '%%')}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", "redis"])
def queue_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "redis":
        import redis

        url = f"redis://127.0.0.1:6379/{REDIS_DB}"
        client = redis.Redis.from_url(url)
        client.flushdb()
        yield {"hub.redis_url": url}
        client.flushdb()
        client.close()
    else:
        yield {"hub.queue.sqlite_path": str(tmp_path / "queue.sqlite")}


@pytest.fixture()
def worker_settings(
    database_url: str, base_settings: dict[str, Any], queue_settings: dict[str, str], tmp_path: Path
) -> dict[str, str]:
    return {
        "hub.database_url": database_url,
        "hub.reference.database_url": base_settings["hub.reference.database_url"],
        "hub.secret_key": "test-secret-key",
        "hub.keys_dir": str(base_settings["hub.keys_dir"]),
        "hub.log_json": "false",
        "hub.outbox.max_attempts": "3",
        "hub.outbox.backoff_seconds": "0.2",
        "hub.outbox.backoff_max_seconds": "1",
        "hub.outbox.sweep_seconds": "1",
        "hub.outbox.lease_seconds": "3",
        "hub.outbox.workers": "2",
        "hub.outbox.poll_seconds": "0.2",
        "pyramid.includes": "tests.hub.test_worker",
        **CONNECTORS,
        **queue_settings,
    }


@pytest.fixture()
def rows(committed_engine: Engine, reference_engine: Engine) -> Iterator[OutboxRows]:
    tracker = OutboxRows(committed_engine)
    yield tracker
    tracker.cleanup()
    for system in ("sms", "singlewindow"):
        set_down(reference_engine, system, down=False)


@pytest.fixture()
def worker(rows: OutboxRows, worker_settings: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(write_ini(tmp_path / "worker.ini", worker_settings), tmp_path / "worker.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture()
def producer(worker_settings: dict[str, str]) -> OutboxQueue:
    """The web process's side of the queue: what the after-commit hook submits to."""
    settings: dict[str, Any] = dict(worker_settings)
    validate(settings)
    return OutboxQueue.from_settings(settings)


def status_of(rows: OutboxRows, message_id: int) -> str:
    return rows.get(message_id).status


# --- tests ---------------------------------------------------------------------------


def test_worker_delivers_an_sms(
    worker: WorkerProcess, rows: OutboxRows, producer: OutboxQueue, reference_engine: Engine
) -> None:
    message_id = rows.add("sms", {"mobile": "9876543210", "text": "Notice: worker", "template": "notice"})
    producer.submit([message_id])
    wait_for(lambda: status_of(rows, message_id) == "delivered", worker, "delivery")
    with Session(reference_engine) as session:
        sent = session.scalars(
            select(RefSmsMessage).where(RefSmsMessage.idempotency_key == f"hub-outbox-{message_id}")
        ).all()
    assert [(m.mobile, m.text) for m in sent] == [("9876543210", "Notice: worker")]


def test_background_kinds_run_in_a_process_of_their_own(
    worker: WorkerProcess, rows: OutboxRows, producer: OutboxQueue, tmp_path: Path
) -> None:
    pid_file = tmp_path / "rendered-in.pid"
    message_id = rows.add("test.rendered_in", {"pid_file": str(pid_file)})
    producer.submit([message_id], priority=BACKGROUND)
    wait_for(lambda: status_of(rows, message_id) == "delivered", worker, "the background delivery")
    assert worker.proc is not None
    background = int(pid_file.read_text())
    assert background != worker.proc.pid
    assert Path(f"/proc/{background}/stat").read_text().rsplit(") ", 1)[1].split()[1] == str(worker.proc.pid)
    # Killed outright, hub-worker leaves no background process behind.
    worker.kill()
    deadline = time.monotonic() + 10
    while running(background) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(background)


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (an exited one nobody reaped yet is a zombie: not live)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(") ", 1)[1].split()[0] != "Z"


def test_worker_retries_then_parks_and_the_operator_retries(
    worker: WorkerProcess,
    rows: OutboxRows,
    producer: OutboxQueue,
    reference_engine: Engine,
    worker_settings: dict[str, str],
) -> None:
    set_down(reference_engine, "sms")
    message_id = rows.add("sms", {"mobile": "9876543210", "text": "Notice: park", "template": "notice"})
    producer.submit([message_id])
    wait_for(lambda: status_of(rows, message_id) == "parked", worker, "parking")
    parked = rows.get(message_id)
    assert parked.attempts == 3
    assert (parked.last_error or "").startswith("connector_unavailable")
    assert "parked for an operator" in worker.output()

    ini = str(worker.ini)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {"PYTHONPATH": str(ROOT)}
    listed = subprocess.run(
        [sys.executable, "-m", "hub.cli", ini, "outbox", "list", "--status", "parked"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert message_id in [json.loads(line)["id"] for line in listed.stdout.splitlines()]

    set_down(reference_engine, "sms", down=False)
    retried = subprocess.run(
        [sys.executable, "-m", "hub.cli", ini, "outbox", "retry", str(message_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(retried.stdout)["status"] == "pending"
    wait_for(lambda: status_of(rows, message_id) == "delivered", worker, "delivery after retry")


def test_sweep_requeues_a_message_whose_task_was_lost(worker: WorkerProcess, rows: OutboxRows) -> None:
    # Committed, but the after-commit queueing never happened (crash between the two).
    message_id = rows.add("sms", {"mobile": "9876543210", "text": "Notice: lost task", "template": "notice"})
    wait_for(lambda: status_of(rows, message_id) == "delivered", worker, "the sweep")


def test_order_per_key_with_several_threads(
    worker: WorkerProcess, rows: OutboxRows, producer: OutboxQueue, reference_engine: Engine
) -> None:
    application = f"WRK-{uuid.uuid4().hex[:8]}"
    key = f"connection-application:{application}"
    ids = [rows.add("singlewindow.status", status_update(application, seq), key) for seq in range(1, 7)]
    # Submitted newest first, one task each: the worker must still deliver in order.
    for message_id in reversed(ids):
        producer.submit([message_id])
    wait_for(lambda: all(status_of(rows, i) == "delivered" for i in ids), worker, "six deliveries")
    portal = ReferenceSingleWindow(reference_engine)
    received = sorted(portal.received(application), key=lambda u: u.delivery_id)
    with Session(reference_engine) as session:
        from connectors.singlewindow.reference import RefSwDelivery

        arrival = session.scalars(
            select(RefSwDelivery.sequence)
            .where(RefSwDelivery.application_id == application)
            .order_by(RefSwDelivery.received_at)
        ).all()
    assert len(received) == 6
    assert list(arrival) == [1, 2, 3, 4, 5, 6]


def test_killed_mid_delivery_every_callback_arrives_exactly_once(
    worker: WorkerProcess,
    rows: OutboxRows,
    producer: OutboxQueue,
    reference_engine: Engine,
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.txt"
    application = f"KILL-{uuid.uuid4().hex[:8]}"
    key = f"connection-application:{application}"
    ids = [
        rows.add(
            "test.journalled_callback",
            {"journal": str(journal), "stall": seq == 2, "update": status_update(application, seq)},
            key,
        )
        for seq in range(1, 6)
    ]
    producer.submit(ids)

    def journal_lines() -> list[str]:
        return journal.read_text().splitlines() if journal.exists() else []

    stalled = f"hub-outbox-{ids[1]}"
    wait_for(
        lambda: any(line.startswith(stalled) for line in journal_lines()), worker, "the stalled delivery"
    )
    worker.kill()  # SIGKILL: the receiver has it, the hub never saw the acknowledgement
    assert status_of(rows, ids[1]) == "pending"
    assert all(status_of(rows, i) == "pending" for i in ids[2:])

    worker.start()
    wait_for(
        lambda: all(status_of(rows, i) == "delivered" for i in ids), worker, "every delivery after restart"
    )

    attempts = [line.split() for line in journal_lines()]
    # At least once to the receiver: the interrupted delivery was sent again ...
    assert [a for a in attempts if a[0] == stalled] == [[stalled, "accepted"], [stalled, "duplicate"]]
    # ... and exactly once in effect: the receiver holds each delivery id once, in sequence order.
    portal = ReferenceSingleWindow(reference_engine)
    received = portal.received(application)
    assert [u.delivery_id for u in received] == [f"hub-outbox-{i}" for i in ids]
    assert [u.sequence for u in received] == [1, 2, 3, 4, 5]
    accepted = [a[0] for a in attempts if a[1] == "accepted"]
    assert accepted == [f"hub-outbox-{i}" for i in ids]


def test_worker_refuses_a_missing_setting(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "bad.ini", {"hub.database_url": "sqlite:///" + str(tmp_path / "x.sqlite")})
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "hub.worker", str(ini)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "hub.secret_key" in result.stderr
