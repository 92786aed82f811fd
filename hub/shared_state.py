"""Where state every process shares lives: the one place that decides Redis or the database.

With ``hub.redis_url`` set, the rate-limit counters (hub.ratelimit), the SOAP nonce cache
(hub.soap.security) and the outbox's task queue (hub.outbox) live in Redis; otherwise in
the database (counters and nonces) and a SQLite queue file (``hub.queue.sqlite_path``).
``hub.ratelimit.redis_url`` may put the counters alone on another Redis. Throttles, OTP
attempts and job progress are database rows everywhere: they change in the same
transaction as the rows they guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import redis

SharedUse = Literal["counters", "nonces", "queue"]


def redis_url(settings: Mapping[str, Any], use: SharedUse) -> str | None:
    """The Redis that holds ``use``, or None when it lives in the database."""
    if use == "counters" and settings["hub.ratelimit.redis_url"]:
        return str(settings["hub.ratelimit.redis_url"])
    return str(settings["hub.redis_url"]) or None


def redis_client(url: str) -> redis.Redis:
    """A client with short timeouts: a Redis that stops answering fails the caller fast
    (a 503 or a retried task), it never holds a request thread."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
