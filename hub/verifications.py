"""Recording verifications: the verification log.

Every verification is logged (who asked, how, what they were told, and the
authority that asked, if one did). On scrutiny day these writes would be most
of the cost of an answer that only *reads* the registry: a log INSERT and a
COMMIT that waits for the database's disk, per question.

So by default (``hub.verification.log = deferred``) the answer does not wait
for them. The request appends its verifications to this process's
:class:`VerificationJournal`; a background thread writes what has gathered
every ``hub.verification.flush_seconds`` (0.2 s) in one transaction: one COPY
into ``document_verifications``.

What follows a verification is not decided here: the log is a feed. Writers
append under a feed lock (:func:`hub.db.lock_feed`), so ids become visible in
order, and followers in hub-worker read it by id with a cursor of their own
(hub.election texts each certificate's holder once a day). A web process does
nothing per verification but keep its log row.

What deferring costs, and what protects against it:

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
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple, cast

from pyramid.config import Configurator
from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from hub.background import ProcessThread
from hub.db import bulk_insert, lock_feed
from hub.models.document import DocumentVerification
from hub.registry import SessionSource

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
    ``__init__`` (one ``object.__setattr__`` per field) costs ~4x a tuple's. Its fields are
    ``document_verifications`` columns and it is written as the row it is (no dict per row):
    the texts are cut to their columns' lengths when it is made (:meth:`VerificationJournal.record`).
    """

    at: datetime
    number_given: str
    method: str
    outcome: str
    verifier: str
    client_id: str | None
    document_id: int | None  # the certificate the answer was about; None: unknown (or a wrong secret)


# The verification log's feed lock (hub.db.lock_feed): ids become visible in the order followers read them.
VERIFICATION_FEED_LOCK = 0x7665726966656564


def write_verifications(session: Session, rows: Sequence[Verification]) -> None:
    """The log rows in one bulk write, in ``session``'s transaction, under the feed lock."""
    if not rows:
        return
    lock_feed(session, VERIFICATION_FEED_LOCK)
    bulk_insert(session, cast(Table, DocumentVerification.__table__), Verification._fields, rows)


class VerificationJournal:
    """``registry["verification_journal"]``: where verifications go (see the module doc)."""

    def __init__(
        self, factory: sessionmaker[Session], *, deferred: bool = True, flush_seconds: float = 0.2
    ) -> None:
        self.factory = factory
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
        verifier = verifier[:200]
        rows = [
            Verification(
                at,
                r.number[:64],
                method,
                r.status,
                verifier,
                client_id,
                None if r.record is None else r.record.id,
            )
            for r in results
        ]
        if inline or not self.deferred or len(self._pending) >= MAX_PENDING:
            write_verifications(session if isinstance(session, Session) else session(), rows)
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
                    write_verifications(session, batch)
                    session.commit()
                finally:
                    session.close()
            except BaseException:
                self._pending.extendleft(reversed(batch))
                raise
        return len(batch)

    def write_due(self) -> int:
        """One wake's writing: what is held, and again at once only while whole chunks wait.

        Not "until nothing is held": under load rows arrive while a write is on the wire, so
        that loop never slept and wrote ~20 rows at a time back to back, paying a transaction's
        round trips per 20 rows instead of per ``flush_seconds`` of verifications (~70 µs of
        CPU a verification under wrk instead of ~10). Rows that arrive meanwhile wait for the
        next wake. Returns the rows written.
        """
        written = last = self.flush()
        while last >= WRITE_CHUNK:
            last = self.flush()
            written += last
        return written

    def _flush_forever(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.wait(
                self.flush_seconds if failures == 0 else min(30.0, self.flush_seconds * 2**failures)
            )
            self._wake.clear()
            try:
                self.write_due()
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


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    config.registry["verification_journal"] = VerificationJournal(
        config.registry["dbsession_factory"],
        deferred=settings.get("hub.verification.log", "deferred") == "deferred",
        flush_seconds=float(settings.get("hub.verification.flush_seconds") or 0.2),
    )
