"""Per-client rate limits shared by every process, cheap on the hot path.

Counters live in Redis (production), in PostgreSQL, or, on the embedded SQLite
default, in a SQLite file of their own beside the database; never in a process
dict, so N processes on M machines enforce one limit. (A counter committed in
the hub's own SQLite file between a request's read and its write made that
request's write fail: SQLite cannot move a reader's snapshot forward. Counters
in their own file never touch the hub database's snapshots or write lock.) To
keep the shared store off the hot path each process *leases* a slice of the
window's allowance with one atomic increment and spends it locally; the
overshoot is bounded by (processes x slice), which the slice size keeps small
against the limit (at most 1/20 of it).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pyramid.config import Configurator
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from hub.db import Database
from hub.lookup import process_service
from hub.shared_state import redis_client, redis_url

WINDOW_SECONDS = 60


class SharedCounter(Protocol):
    def add(self, bucket: str, window_start: int, amount: int) -> int:
        """Atomically add ``amount`` and return the new total of the window."""


@dataclass(frozen=True)
class SharedCounters:
    """The counters every process shares (rate limits, KYC limits), where hub.shared_state puts
    them: registered by :func:`includeme`, found with ``process_service(registry, SharedCounters)``."""

    counter: SharedCounter


class SqlCounter:
    """``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on SQLite >= 3.35 and PostgreSQL.

    Runs on its own autocommit connection: a rolled-back request still counts,
    and no lock is held across the request.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sql = text(
            "INSERT INTO rate_limit_windows (bucket, window_start, count) VALUES (:b, :w, :n) "
            "ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_windows.count + :n "
            "RETURNING count"
        )
        self._cleanup = text("DELETE FROM rate_limit_windows WHERE window_start < :w")
        self._last_cleanup = 0.0

    def add(self, bucket: str, window_start: int, amount: int) -> int:
        with self._engine.begin() as conn:
            total = int(conn.execute(self._sql, {"b": bucket, "w": window_start, "n": amount}).scalar_one())
            now = time.monotonic()
            if now - self._last_cleanup > WINDOW_SECONDS:
                self._last_cleanup = now
                conn.execute(self._cleanup, {"w": window_start - 2 * WINDOW_SECONDS})
        return total


COUNTER_TABLE = (
    "CREATE TABLE IF NOT EXISTS rate_limit_windows (bucket VARCHAR(200) NOT NULL, "
    "window_start INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (bucket, window_start))"
)


def counter_file_for(database_url: str) -> str | None:
    """The counters' own SQLite file beside a SQLite database file; None for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.database + "-counters"


def shared_counter(settings: Mapping[str, Any], engine: Engine) -> SharedCounter:
    """The counters, where hub.shared_state puts them (see also the module docstring)."""
    from hub.db import make_engine

    url = redis_url(settings, "counters")
    if url is not None:
        return RedisCounter(url)
    counter_file = counter_file_for(str(engine.url))
    if counter_file is None:
        return SqlCounter(engine)
    counters = make_engine("sqlite:///" + counter_file, pool_size=2)
    with counters.begin() as conn:
        conn.execute(text(COUNTER_TABLE))
    return SqlCounter(counters)


class RedisCounter:
    def __init__(self, url: str) -> None:
        self._redis = redis_client(url)

    def add(self, bucket: str, window_start: int, amount: int) -> int:
        key = f"hub:rl:{bucket}:{window_start}"
        pipe = self._redis.pipeline()
        pipe.incrby(key, amount)
        pipe.expire(key, 2 * WINDOW_SECONDS)
        total, _ = pipe.execute()
        return int(total)


@dataclass
class _Lease:
    window_start: int
    remaining: int
    exhausted: bool


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int


# The answer to almost every hit, made once (a frozen dataclass costs ~1 µs to build).
ALLOWED = Verdict(True, 0)


def _retry_after(window_start: int, now: float) -> int:
    return max(1, math.ceil(window_start + WINDOW_SECONDS - now))


class RateLimiter:
    def __init__(self, counter: SharedCounter) -> None:
        self._counter = counter
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def spent(self, bucket: str, now: float | None = None) -> Verdict:
        """Whether this process already found ``bucket``'s allowance of this window spent, without
        spending any: for refusing before costly work what only a later :meth:`hit` may count.
        Another process's hits show here once this process's own hit was refused."""
        now = time.time() if now is None else now
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        with self._lock:
            lease = self._leases.get(bucket)
            if lease is None or lease.window_start != window_start or not lease.exhausted:
                return ALLOWED
        return Verdict(False, _retry_after(window_start, now))

    def hit(self, bucket: str, limit: int, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        with self._lock:
            lease = self._leases.get(bucket)
            if lease is None or lease.window_start != window_start:
                lease = _Lease(window_start, 0, False)
                self._leases[bucket] = lease
            if lease.remaining > 0:
                lease.remaining -= 1
                return ALLOWED
            if lease.exhausted:
                return Verdict(False, _retry_after(window_start, now))
        slice_size = max(1, min(50, limit // 20))
        total = self._counter.add(bucket, window_start, slice_size)
        granted = min(slice_size, max(0, limit - (total - slice_size)))
        with self._lock:
            lease = self._leases.setdefault(bucket, _Lease(window_start, 0, False))
            if lease.window_start != window_start:
                lease.window_start, lease.remaining, lease.exhausted = window_start, 0, False
            if granted <= 0:
                lease.exhausted = True
                return Verdict(False, _retry_after(window_start, now))
            lease.remaining += granted - 1
            if len(self._leases) > 50_000:
                self._leases = {b: lv for b, lv in self._leases.items() if lv.window_start == window_start}
        return ALLOWED


def includeme(config: Configurator) -> None:
    """The process's counters (shared with KYC limits) and the limiter views find with
    ``request.find_service(RateLimiter)``."""
    counter = shared_counter(config.get_settings(), process_service(config.registry, Database).engine)
    config.register_service(SharedCounters(counter), SharedCounters)
    config.register_service(RateLimiter(counter), RateLimiter)
