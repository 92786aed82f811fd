"""Recording verifications: the verification log and what follows it (the holder's SMS).

Every verification is logged (who asked, how, what they were told), and an
authority's check of a certificate is texted to its holder (hub.election).
Those are writes, and on scrutiny day they would be most of the cost of an
answer that only *reads* the registry: a log INSERT, an SMS-ledger INSERT and
a COMMIT that waits for the database's disk, per question.

So by default (``hub.verification.log = deferred``) the answer does not wait
for them. The request appends its verifications to this process's
:class:`VerificationJournal`; a background thread writes what has gathered
every ``hub.verification.flush_seconds`` (0.2 s) in one transaction: one
multi-row INSERT into ``document_verifications``, then the hooks
(``config.add_verification_hook``) with the same rows, e.g. the holder SMS
with its per-day de-duplication, also in bulk.

What that costs, and what protects against it:

* A verification appears in the log up to ``flush_seconds`` after it was
  answered. A process that exits normally writes what it holds first
  (``atexit``); one killed outright (SIGKILL, power loss) loses at most the
  last ``flush_seconds`` of log rows. The answers themselves are unaffected.
* When the database cannot take the rows, they stay in memory and are tried
  again with back-off. If ``MAX_PENDING`` rows pile up, new verifications are
  written inline in their request's transaction instead, so a database that
  stays down fails the requests (and the caller retries) rather than losing
  their log rows.

``inline`` mode writes in the request's own transaction (the tests' rollback
mode needs that: their rows live in a transaction no other connection sees).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from pyramid.config import Configurator
from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from hub.background import ProcessThread
from hub.db import bulk_insert
from hub.models.document import DocumentVerification
from hub.outbox import submit_after_commit, take_new_ids
from hub.registry import RegistryEntry, SessionSource

if TYPE_CHECKING:
    from hub.documents import VerificationResult

log = logging.getLogger(__name__)

# Verifications held in memory before the journal falls back to writing inline.
MAX_PENDING = 200_000
# Rows one bulk write takes; a request that leaves this many waiting wakes the writer early.
WRITE_CHUNK = 20_000


class Verification(NamedTuple):
    """One logged verification. ``client_id``: the partner (authority) who asked, None if anonymous.

    A NamedTuple, not a frozen dataclass: a batch makes a thousand, and a frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field) costs ~4x a tuple's.
    """

    at: datetime
    number_given: str
    method: str
    outcome: str
    verifier: str
    client_id: str | None
    entry: RegistryEntry | None

    def log_row(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "document_id": self.entry.id if self.entry is not None else None,
            "number_given": self.number_given[:64],
            "method": self.method,
            "outcome": self.outcome,
            "verifier": self.verifier[:200],
        }


# A hook sees every verification written, in the transaction that writes its log row.
VerificationHook = Callable[[Session, Sequence[Verification]], None]
HOOKS_KEY = "verification_hooks"


def write_verifications(
    session: Session, rows: Sequence[Verification], hooks: Sequence[VerificationHook]
) -> None:
    """The log rows in one multi-row INSERT, then the hooks, in ``session``'s transaction."""
    if not rows:
        return
    bulk_insert(session, cast(Table, DocumentVerification.__table__), [v.log_row() for v in rows])
    for hook in hooks:
        hook(session, rows)


class VerificationJournal:
    """``registry["verification_journal"]``: where verifications go (see the module doc)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        hooks: list[VerificationHook],
        *,
        deferred: bool = True,
        flush_seconds: float = 0.2,
        on_commit: Callable[[list[int]], None] | None = None,
    ) -> None:
        self.factory = factory
        # Told the outbox ids a bulk write enqueued (the holders' SMS), after its commit.
        self.on_commit = on_commit
        self.hooks = hooks  # the registry's list: hooks added after construction are seen
        self.deferred = deferred
        self.flush_seconds = flush_seconds
        self._pending: deque[Verification] = deque()
        self._wake = threading.Event()
        self._flush_lock = threading.Lock()
        self._writer = ProcessThread(
            self._flush_forever, "verification-journal", on_start=self._flush_at_exit_in_this_process
        )
        self._stop = threading.Event()

    def record(
        self,
        session: SessionSource,
        results: Sequence[VerificationResult],
        method: str,
        verifier: str,
        client_id: str | None = None,
        now: datetime | None = None,
        *,
        inline: bool = False,
    ) -> None:
        """Log ``results``: held for the next bulk write, or (``inline``, or inline mode) in ``session``."""
        at = now or datetime.now(UTC)
        rows = [Verification(at, r.number, method, r.status, verifier, client_id, r.record) for r in results]
        if inline or not self.deferred or len(self._pending) >= MAX_PENDING:
            write_verifications(session if isinstance(session, Session) else session(), rows, self.hooks)
            return
        self._writer.start()
        self._pending.extend(rows)
        # Not sooner: a write woken in the middle of a 1,000-item batch competes with that
        # batch for the GIL and delays its answer by the write's length (~25 ms).
        if len(self._pending) >= WRITE_CHUNK:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write every held verification now, in one transaction; returns how many were written.

        On failure they are put back (in order) and the error is raised.
        """
        with self._flush_lock:
            batch: list[Verification] = []
            while self._pending and len(batch) < WRITE_CHUNK:
                batch.append(self._pending.popleft())
            if not batch:
                return 0
            try:
                session = self.factory()
                try:
                    write_verifications(session, batch, self.hooks)
                    session.commit()
                    new_ids = take_new_ids(session)
                finally:
                    session.close()
            except BaseException:
                self._pending.extendleft(reversed(batch))
                raise
        if self.on_commit is not None and new_ids:
            self.on_commit(new_ids)
        return len(batch)

    def _flush_forever(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.wait(
                self.flush_seconds if failures == 0 else min(30.0, self.flush_seconds * 2**failures)
            )
            self._wake.clear()
            try:
                while self.flush():
                    pass
                failures = 0
            except Exception:
                failures += 1
                log.warning(
                    "verification log could not be written; kept in memory and retried",
                    extra={"pending": len(self._pending)},
                    exc_info=failures == 1,
                )

    def _flush_at_exit_in_this_process(self) -> None:
        atexit.register(self._flush_at_exit)

    def _flush_at_exit(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 10
        while self._pending and time.monotonic() < deadline:
            try:
                self.flush()
            except Exception:
                log.error("verification log rows lost at exit", extra={"pending": len(self._pending)})
                return

    def stop(self) -> None:
        """Stop the flusher thread (tests); held rows stay until :meth:`flush`."""
        self._stop.set()
        self._wake.set()


def add_verification_hook(config: Configurator, hook: VerificationHook) -> None:
    """``config.add_verification_hook(fn)``: ``fn(session, verifications)`` after their log rows."""
    config.registry.setdefault(HOOKS_KEY, []).append(hook)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    config.add_directive("add_verification_hook", add_verification_hook)
    config.registry["verification_journal"] = VerificationJournal(
        config.registry["dbsession_factory"],
        config.registry.setdefault(HOOKS_KEY, []),
        deferred=settings.get("hub.verification.log", "deferred") == "deferred",
        flush_seconds=float(settings.get("hub.verification.flush_seconds") or 0.2),
        on_commit=lambda ids: submit_after_commit(config.registry, ids),
    )
