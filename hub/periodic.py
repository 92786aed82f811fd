"""Periodic jobs (escalation of overdue cases, KYC sync, ...) run by hub-worker.

Flows register a job with ``config.add_periodic_job(name, interval_seconds, run)``;
every worker process runs a scheduler thread, and a lease row per job in the
database makes sure one worker at a time runs it, however many workers run
on however many machines. A job that dies mid-run is retried when its lease
runs out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hub.lookup import registered
from hub.models.job import JobLease
from hub.models.meta import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: float
    run: Callable[[], object]


def claim(engine: Engine, name: str, holder: str, interval: float) -> bool:
    """Take the job's lease if it is due (the interval has passed since its last run)."""
    now = utcnow()
    lease_for = timedelta(seconds=max(interval, 30.0))
    with engine.begin() as conn:
        taken = conn.execute(
            update(JobLease)
            .where(JobLease.name == name, or_(JobLease.leased_until <= now))
            .values(holder=holder, leased_until=now + lease_for)
        ).rowcount
        if taken:
            return True
    try:
        with engine.begin() as conn:
            conn.execute(insert(JobLease).values(name=name, holder=holder, leased_until=now + lease_for))
        return True
    except IntegrityError:
        return False


def finish(engine: Engine, name: str, holder: str, interval: float) -> None:
    """Release the lease until the next run is due."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.holder == holder)
            .values(leased_until=now + timedelta(seconds=interval), last_run_at=now, holder=None)
        )


def run_due_jobs(engine: Engine, jobs: Sequence[PeriodicJob], holder: str) -> list[str]:
    """Run every job whose lease this process can take; returns the names run."""
    ran: list[str] = []
    for job in jobs:
        if not claim(engine, job.name, holder, job.interval_seconds):
            continue
        try:
            job.run()
            ran.append(job.name)
        except Exception:
            log.exception("periodic job failed", extra={"job": job.name})
        finally:
            finish(engine, job.name, holder, job.interval_seconds)
    return ran


class Scheduler(threading.Thread):
    """Wakes every ``tick`` seconds and runs the jobs that are due."""

    def __init__(self, engine: Engine, jobs: Sequence[PeriodicJob], tick: float = 5.0) -> None:
        super().__init__(name="periodic-jobs", daemon=True)
        self.engine = engine
        self.jobs = list(jobs)
        self.tick = tick
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                run_due_jobs(self.engine, self.jobs, self.holder)
            except Exception:
                log.exception("periodic scheduler failed; trying again")
            self.stopped.wait(self.tick)

    def stop(self) -> None:
        self.stopped.set()


class PeriodicJobs(list[PeriodicJob]):
    """The jobs hub-worker runs (``config.add_periodic_job``), in the order they were added."""


def add_periodic_job(config: Any, name: str, interval_seconds: float, run: Callable[[], object]) -> None:
    registered(config.registry, PeriodicJobs).append(PeriodicJob(name, float(interval_seconds), run))


def includeme(config: Any) -> None:
    config.add_directive("add_periodic_job", add_periodic_job)
