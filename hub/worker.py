"""``hub-worker <ini>``: delivers outbox messages (Huey consumer + periodic sweep).

The worker builds the same application configuration as the web process
(``hub.make_config``), so it sees the same settings, the same connectors
(``hub.systems.build_connectors``, the ``Connectors`` service) and every handler registered with
``config.add_outbox_handler``. Then it runs Huey's consumer with
``hub.outbox.workers`` threads on the queue the web processes submit to
(SQLite at ``hub.queue.sqlite_path``, or Redis at ``hub.redis_url``), plus
one sweep thread that re-queues, every ``hub.outbox.sweep_seconds``, what a
lost task or a killed worker left pending. A child process runs the periodic
jobs and consumes the background lane (signed PDFs and other CPU-bound kinds)
with ``hub.outbox.background_workers`` threads, so that neither competes for the
interpreter lock with deliveries waiting on the database.

Any number of workers may run on any number of machines: claiming a message
is an atomic conditional UPDATE with a lease. SIGTERM stops it at once
(in-flight messages are retried after their lease), SIGINT after the
current tasks.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import multiprocessing.process
import os
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.db import Database
from hub.lookup import process_service, registered
from hub.outbox import (
    OutboxDeliverer,
    OutboxHandlers,
    OutboxQueue,
    deliverer_from_settings,
    outbox_queue,
    registered_handlers,
)
from hub.periodic import PeriodicJob, PeriodicJobs, Scheduler
from hub.systems import Connectors

warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10


class Sweeper(threading.Thread):
    """Re-queues due messages every ``interval`` seconds, starting at once (a restart sweeps first)."""

    def __init__(self, deliverer: OutboxDeliverer, interval: float) -> None:
        super().__init__(name="outbox-sweep", daemon=True)
        self.deliverer = deliverer
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.deliverer.sweep()
            except Exception:
                log.exception("outbox sweep failed; trying again in %ss", self.interval)
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()


@dataclass
class Worker:
    """A configured worker: the queue it consumes and the deliverer its tasks call."""

    queue: OutboxQueue
    deliverer: OutboxDeliverer
    settings: dict[str, Any]
    engine: Any
    periodic_jobs: list[PeriodicJob]


def build_worker(settings: dict[str, Any]) -> Worker:
    """Configure the app from raw ini ``settings`` (validated here) and wire a deliverer to its queue."""
    from hub import make_config

    config = make_config({}, **settings)
    registry = config.registry
    if outbox_queue(registry) is None:
        # Until the composition root includes hub.outbox itself.
        config.include("hub.outbox")
    config.commit()
    app_settings = dict(config.get_settings())
    queue = outbox_queue(registry)
    assert queue is not None
    deliverer = deliverer_from_settings(
        app_settings,
        engine=process_service(registry, Database).engine,
        connectors=process_service(registry, Connectors),
        handlers=registered(registry, OutboxHandlers),
        queue=queue,
    )
    queue.deliverer = deliverer
    engine = process_service(registry, Database).engine
    return Worker(queue, deliverer, app_settings, engine, list(registered(registry, PeriodicJobs)))


def run(settings: dict[str, Any], threads: int | None = None) -> None:
    """Run the consumer until SIGTERM/SIGINT."""
    worker = build_worker(settings)
    app_settings = worker.settings
    threads = threads or int(app_settings["hub.outbox.workers"])
    sweeper = Sweeper(worker.deliverer, float(app_settings["hub.outbox.sweep_seconds"]))
    sweeper.start()
    consumer = worker.queue.huey.create_consumer(
        workers=threads,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        backoff=1.5,
        max_delay=float(app_settings["hub.outbox.poll_seconds"]),
        check_worker_health=True,
    )
    log.info(
        "hub-worker started: %d thread(s) on %s",
        threads,
        type(worker.queue.huey).__name__,
        extra={"handlers": sorted({*registered_handlers(), *worker.deliverer.handlers})},
    )
    background = start_background(settings)
    try:
        consumer.run()
    finally:
        sweeper.stop()
        background.terminate()
        background.join(15)


def start_background(settings: dict[str, Any]) -> multiprocessing.process.BaseProcess:
    """The periodic jobs (feeds, sweeps, audits) and the background lane's consumer (signed PDFs
    and other CPU-bound kinds) in a process of their own: their work never holds this process's
    interpreter lock while its threads wait on the database for a payment or a meter command."""
    process = multiprocessing.get_context("spawn").Process(
        target=run_background, args=(settings, os.getpid()), name="hub-worker-background", daemon=True
    )
    process.start()
    return process


def run_background(settings: dict[str, Any], parent: int) -> None:
    """The background process: the periodic jobs and its lane's consumer, until SIGTERM or its
    parent is gone."""
    # Below the web processes and the deliveries in the CPU's queue: when the machine is busy,
    # a payment's posting goes before a receipt's rendering.
    os.nice(BACKGROUND_NICENESS)
    worker = build_worker(settings)
    app_settings = worker.settings
    scheduler = Scheduler(worker.engine, worker.periodic_jobs)
    scheduler.start()

    def watch_parent() -> None:
        # A parent killed outright (SIGKILL) cannot stop us: what we hold has a lease, and the
        # next hub-worker's own background process takes over.
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    threads = int(app_settings["hub.outbox.background_workers"])
    consumer = worker.queue.background.create_consumer(
        workers=threads,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        backoff=1.5,
        max_delay=float(app_settings["hub.outbox.poll_seconds"]),
        check_worker_health=True,
    )
    log.info("hub-worker background process started: %d thread(s) and the periodic jobs", threads)
    try:
        consumer.run()
    finally:
        scheduler.stop()


def load_ini(ini: str) -> dict[str, Any]:
    from plaster import get_settings

    # Logging is the app's own (hub.observability, JSON lines); plaster's
    # setup_logging would add a second, plain-text handler.
    return dict(get_settings(ini, "app:main"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub-worker", description="Deliver the hub's outbox messages.")
    parser.add_argument("ini", help="the hub's ini file, e.g. development.ini")
    parser.add_argument(
        "--workers", type=int, default=None, help="delivery threads (default hub.outbox.workers)"
    )
    args = parser.parse_args(argv)
    from hub.settings import ConfigurationError

    try:
        settings = load_ini(args.ini)
        run(settings, args.workers)
    except ConfigurationError as exc:
        print(f"hub-worker: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
