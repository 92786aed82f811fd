"""Periodic jobs: one worker at a time runs a due job; a failed job is retried."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from hub.models import JobLease
from hub.periodic import PeriodicJob, claim, run_due_jobs


def test_one_holder_at_a_time_and_interval_respected(live_engine: Engine) -> None:
    runs: list[str] = []
    job = PeriodicJob("test.tick", 3600, lambda: runs.append("ran"))
    assert run_due_jobs(live_engine, [job], "worker-a") == ["test.tick"]
    # Not due again for an hour, whoever asks.
    assert run_due_jobs(live_engine, [job], "worker-b") == []
    assert run_due_jobs(live_engine, [job], "worker-a") == []
    assert runs == ["ran"]
    with live_engine.begin() as conn:
        conn.execute(delete(JobLease).where(JobLease.name == "test.tick"))


def test_a_running_job_is_not_claimed_twice(live_engine: Engine) -> None:
    assert claim(live_engine, "test.busy", "worker-a", 60)
    assert not claim(live_engine, "test.busy", "worker-b", 60)


def test_a_failing_job_is_logged_and_runs_again_when_due(live_engine: Engine) -> None:
    calls: list[int] = []

    def boom() -> None:
        calls.append(1)
        raise RuntimeError("billing answered garbage")

    job = PeriodicJob("test.boom", 0.01, boom)
    assert run_due_jobs(live_engine, [job], "worker-a") == []
    import time

    time.sleep(0.05)
    run_due_jobs(live_engine, [job], "worker-b")
    assert len(calls) == 2
