"""``hub-worker <ini>``: delivers outbox messages (Huey consumer + periodic sweep).

The worker builds the same application configuration as the web process
(``hub.make_config``), so it sees the same settings, the same connectors
(``hub.systems.build_connectors``, the ``Connectors`` service) and every handler registered with
``config.add_outbox_handler``. Then it runs Huey's consumer with
``hub.outbox.workers`` threads on the queue the web processes submit to
(SQLite at ``hub.queue.sqlite_path``, or Redis at ``hub.redis_url``), plus
one sweep thread that re-queues, every ``hub.outbox.sweep_seconds``, what a
lost task or a killed worker left pending.

Any number of workers may run on any number of machines: claiming a message
is an atomic conditional UPDATE with a lease. SIGTERM stops it at once
(in-flight messages are retried after their lease), SIGINT after the
current tasks.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
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
    scheduler = Scheduler(worker.engine, worker.periodic_jobs)
    scheduler.start()
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
    try:
        consumer.run()
    finally:
        sweeper.stop()
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
