"""Backoff after wrong passwords and client secrets, per account at an address and per address.

A wrong officer password or client secret counts under two keys: the account
(officer username, client id) *at the caller's address*, and the address
itself across accounts. After a few free failures each further one makes the
key wait twice as long as the last (1 s, 2 s, 4 s ... at most 15 minutes);
while a key waits, the hub answers 429 with Retry-After without checking the
password at all. A stranger's wrong passwords therefore hold up the stranger's
own address, never the officer signing in from theirs, and one address cannot
try many accounts quickly either. A key quiet for an hour starts again.

The counts live in the database (``sign_in_failures``), written in the
request's transaction, so every process and machine shares them; the sign-in
views answer a failure with a response, not an exception, so it commits.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.models.meta import utcnow
from hub.models.throttle import SignInFailures

# A key with no failure for this long starts from nothing again.
FORGET_AFTER = timedelta(hours=1)
# Rows of forgotten keys are deleted by about one failure in this many.
_CLEANUP_ONE_IN = 64


@dataclass(frozen=True)
class Backoff:
    free: int  # failures answered at once
    first_wait_seconds: float = 1.0  # the wait after the first failure beyond the free ones; doubles after
    max_wait_seconds: float = 900.0

    def wait_after(self, failures: int) -> timedelta:
        beyond = failures - self.free
        if beyond <= 0:
            return timedelta(0)
        seconds = self.first_wait_seconds * 2.0 ** min(beyond - 1, 30)
        return timedelta(seconds=min(self.max_wait_seconds, seconds))


# One account (officer, partner client) at one address: typos pass, guessing slows down fast.
ACCOUNT_AT_ADDRESS = Backoff(free=5)
# One address across every account: room for an office behind one NAT address, not for a scan.
ADDRESS = Backoff(free=20)


@dataclass(frozen=True)
class SignInKeys:
    """The keys one sign-in attempt counts under; ``kind`` is ``officer`` or ``client``."""

    keys: tuple[tuple[str, Backoff], ...]

    @classmethod
    def of(cls, kind: str, account: str, address: str | None) -> SignInKeys:
        where = (address or "?")[:64]
        # An unknown account counts like a known one: the answers must not tell them apart.
        return cls(
            ((f"{kind}:{account[:64]}@{where}", ACCOUNT_AT_ADDRESS), (f"{kind}-address:{where}", ADDRESS))
        )

    @property
    def account_key(self) -> str:
        return self.keys[0][0]


def seconds_to_wait(session: Session, keys: SignInKeys, now: datetime | None = None) -> int:
    """How long the caller must wait before the next try under ``keys`` (0: try now)."""
    now = now or utcnow()
    until = session.execute(
        select(SignInFailures.blocked_until).where(SignInFailures.key.in_([k for k, _ in keys.keys]))
    ).scalars()
    latest = max(until, default=None)
    if latest is None or latest <= now:
        return 0
    return max(1, math.ceil((latest - now).total_seconds()))


def record_failure(session: Session, keys: SignInKeys, now: datetime | None = None) -> int:
    """Count a wrong password or secret under each key; the seconds the caller must now wait."""
    now = now or utcnow()
    stale = now - FORGET_AFTER
    dialect = session.get_bind().dialect.name
    table = SignInFailures.__table__
    wait = timedelta(0)
    for key, backoff in keys.keys:
        stmt: Any = (pg_insert if dialect == "postgresql" else sqlite_insert)(SignInFailures)
        stmt = stmt.values(key=key, failures=1, last_failure_at=now, blocked_until=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case((table.c.last_failure_at < stale, 1), else_=table.c.failures + 1),
                "last_failure_at": now,
            },
        ).returning(table.c.failures)
        failures = int(session.execute(stmt).scalar_one())
        key_wait = backoff.wait_after(failures)
        if key_wait:
            session.execute(
                update(SignInFailures).where(SignInFailures.key == key).values(blocked_until=now + key_wait)
            )
        wait = max(wait, key_wait)
    if random.randrange(_CLEANUP_ONE_IN) == 0:
        session.execute(
            delete(SignInFailures).where(
                SignInFailures.last_failure_at < stale, SignInFailures.blocked_until < now
            )
        )
    return math.ceil(wait.total_seconds())


def record_success(session: Session, keys: SignInKeys) -> None:
    """The right password: the account at this address starts afresh (the address's count stays)."""
    # Looked up first: a DELETE that finds nothing still takes SQLite's write lock.
    if session.get(SignInFailures, keys.account_key) is not None:
        session.execute(delete(SignInFailures).where(SignInFailures.key == keys.account_key))
