"""Looking up the document registry for verification: the database, or a host-local read replica.

On scrutiny day returning officers verify certificates at thousands per
second, and each verification only *reads* one registry row. Asking
PostgreSQL for it costs a round trip and the database server's CPU every
time; on the hub's hosts that is most of the cost of the answer.

So a host may keep a **read replica**: a SQLite file (``hub.registry.replica_path``)
holding what verification needs of every registry row. One process per host
(whichever holds the file lock) follows the registry's change feed
(``registry_changes``, appended in the transaction that issues, supersedes or
revokes a document) every ``replica_poll_seconds`` and stamps the replica
with the time of its last successful poll. Every web process reads it through
its own read-only connection; the operating system's page cache is shared,
so a million rows cost one copy of memory per host, not one per worker.

The rules that keep answers right:

* A replica not stamped within ``replica_max_lag_seconds`` (its follower is
  stuck, the database is down, the file is being rebuilt) is not used: every
  lookup goes to the database, which answers or fails the request.
* A number the replica does not hold (unknown, or issued since the last poll)
  is looked up in the database: the replica never answers "unknown" alone.
* A revocation is therefore visible to verifiers within one poll interval
  (0.25 s by default) while the replica is used, immediately otherwise.

With no replica configured (the default; SQLite deployments gain nothing from
one) every lookup is one indexed SELECT in the request's transaction.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import marshal
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hub.background import ProcessThread
from hub.models.document import IssuedDocument, RegistryChange, status_at

log = logging.getLogger(__name__)

# A session, or what makes one on first need (e.g. ``lambda: request.dbsession``).
SessionSource = Session | Callable[[], Session]

# Bump when the replica's table changes: a replica of another version is rebuilt. The
# entries are marshal blobs, whose format belongs to the Python version: it is part of this.
REPLICA_VERSION = f"2.marshal{marshal.version}"


class RegistryEntry(NamedTuple):
    """What verification needs to know of one registry row (a snapshot; never written back).

    The timestamps are ISO 8601 text, as verification answers give them (``datetime.isoformat``
    of the row's values): an answer copies them as they are, and the replica stores them so.
    Parsing each into a datetime and formatting it back per answer cost ~2 µs an item, more than
    a batch item's lookup. A NamedTuple: a replica entry is made from its stored tuple in one
    call, where a frozen dataclass's ``__init__`` cost ~3 µs for fourteen fields.
    """

    id: int
    number: str
    status: str
    issued_at: str
    valid_until: str
    verification_code_sha256: str
    holder_samagra_id: str | None
    public_summary: Mapping[str, Any]
    subject_type: str
    subject_id: str
    xml_sha256: str
    revoked_at: str | None = None
    revocation_reason: str | None = None
    superseded_by_id: int | None = None

    def status_at(self, now: datetime) -> str:
        return status_at(self.status, datetime.fromisoformat(self.valid_until), now)

    @classmethod
    def of(cls, record: IssuedDocument) -> RegistryEntry:
        return _entry(tuple(getattr(record, name) for name in ENTRY_COLUMNS))


ENTRY_COLUMNS = RegistryEntry._fields
_SELECT_ENTRY = select(*(getattr(IssuedDocument, name) for name in ENTRY_COLUMNS))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# How a registry row's columns become an entry's values, aligned with ENTRY_COLUMNS (None: as
# they are): timestamps as ISO text, the summary (JSON from the database: a plain dict of str,
# numbers, bools, None, lists and dicts) as a dict. A NULL stays None. A replica entry is stored
# as these values (see _replica_row).
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "issued_at": _iso,
    "valid_until": _iso,
    "revoked_at": _iso,
    "public_summary": dict,
}
_CONVERTERS = tuple(_CONVERT.get(name) for name in ENTRY_COLUMNS)


def _values(row: Sequence[Any]) -> tuple[Any, ...]:
    # Row is in ENTRY_COLUMNS order (the entry's field order).
    return tuple(v if f is None or v is None else f(v) for f, v in zip(_CONVERTERS, row, strict=True))


def _entry(row: Sequence[Any]) -> RegistryEntry:
    return RegistryEntry._make(_values(row))


def find_entries(session: Session, numbers: Iterable[str]) -> dict[str, RegistryEntry]:
    """The registry rows of ``numbers`` from the database (one query), keyed by number."""
    wanted = sorted({n for n in numbers if n})
    if not wanted:
        return {}
    if len(wanted) == 1:
        rows = session.execute(_SELECT_ENTRY.where(IssuedDocument.number == wanted[0]))
    else:
        rows = session.execute(_SELECT_ENTRY.where(IssuedDocument.number.in_(wanted)))
    return {row.number: _entry(row) for row in rows}


# ----------------------------------------------------------------- the replica file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (number TEXT PRIMARY KEY, entry BLOB NOT NULL) WITHOUT ROWID;
"""
_INSERT = "INSERT OR REPLACE INTO entries (number, entry) VALUES (?, ?)"


def _replica_row(row: Sequence[Any]) -> tuple[str, bytes]:
    """A database row (ENTRY_COLUMNS order) as the replica stores it: its number, and one blob.

    One marshal blob per entry, not a column per field: a lookup then moves one value out
    of SQLite and decodes it in one C call (~10 µs less per verification than fourteen
    columns and a JSON summary), and the tuple it decodes to is the entry's. marshal is not
    for data from others; this file is written by the hub's own follower only and readable
    by the hub's user only (0600).
    """
    return row[1], marshal.dumps(_values(row))


def _from_replica(blob: bytes) -> RegistryEntry:
    return RegistryEntry._make(marshal.loads(blob))  # noqa: S302 - the hub's own file, see _replica_row


# Readers map the file into memory (up to SQLite's default cap of 2 GB, ~3 million
# entries): a B-tree page is then read in place, not copied out by a read() per page.
_READER_MMAP_BYTES = 2_147_418_112


class RegistryReplica:
    """The host-local replica: read by every process, followed by the one holding its lock."""

    def __init__(
        self, path: Path, engine: Engine, *, poll_seconds: float = 0.25, max_lag_seconds: float = 3.0
    ) -> None:
        self.path = path
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.max_lag_seconds = max_lag_seconds
        self._local = threading.local()
        self._follower = ProcessThread(self._follow_forever, "registry-replica", on_start=self._renew_readers)
        self._stop = threading.Event()
        # Which database the file copies: a file left from another database is rebuilt, never followed.
        url = engine.url
        self.source = hashlib.sha256(
            f"{url.drivername}|{url.host}|{url.port}|{url.database}|{url.query}".encode()
        ).hexdigest()[:32]

    # ------------------------------------------------------------- reading

    def _reader(self) -> sqlite3.Connection | None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.is_file():
                return None
            try:
                # Read-only: a reader can never damage the file the follower writes.
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
                )
                conn.execute(f"PRAGMA mmap_size={_READER_MMAP_BYTES}")
            except sqlite3.Error:
                return None  # the follower logs what is wrong with the file; the database answers
            self._local.conn = conn
        return conn

    def lookup(self, numbers: Sequence[str]) -> dict[str, RegistryEntry] | None:
        """Entries the replica holds for ``numbers``; None when the replica must not be used."""
        self.ensure_following()
        conn = self._reader()
        if conn is None:
            return None
        statements: list[tuple[str, Sequence[str]]]
        if len(numbers) == 1:
            statements = [(_READ_ONE, numbers)]
        else:
            unique = sorted(set(numbers))  # in key order: neighbouring numbers share B-tree pages
            statements = [
                # Only "?" placeholders are added: the numbers travel as parameters.
                (_READ_MANY + "(" + ", ".join("?" * len(part)) + ")", part)
                for part in (unique[start : start + 500] for start in range(0, len(unique), 500))
            ]
        found: dict[str, RegistryEntry] = {}
        oldest = math.inf
        try:
            # The stamp comes with each row, from the same snapshot as the row (one statement,
            # one read transaction): every row of a statement carries the same one. A number
            # the replica lacks has no row and no stamp, and the database answers for it.
            for statement, parameters in statements:
                stamp: str | None = ""  # "": no row read (a stored stamp is never empty)
                # Each row decoded as it arrives (the entry holds its number): no list of rows
                # kept meanwhile, and no number column copied out beside the blob.
                for blob, row_stamp in conn.execute(statement, parameters):
                    entry = _from_replica(blob)
                    found[entry.number] = entry
                    stamp = row_stamp
                if stamp is None:
                    return None  # entries without a stamp: trusted no more than a stale copy
                if stamp:
                    oldest = min(oldest, float(stamp))
        except sqlite3.Error:
            # Being rebuilt, replaced or unreadable: the database answers instead.
            log.warning("registry replica unreadable; asking the database", exc_info=True)
            self._local.conn = None
            return None
        if time.time() - oldest > self.max_lag_seconds:
            return None
        return found

    def status(self) -> dict[str, Any]:
        """For /readyz: how old the replica's stamp is, and whether verification uses it."""
        conn = self._reader()
        stamp = None
        if conn is not None:
            try:
                row = conn.execute("SELECT v FROM meta WHERE k = 'synced_at'").fetchone()
                stamp = float(row[0]) if row else None
            except sqlite3.Error:
                self._local.conn = None
        if stamp is None:
            return {"used": False, "lag_seconds": None}
        lag = max(0.0, time.time() - stamp)
        return {"used": lag <= self.max_lag_seconds, "lag_seconds": round(lag, 3)}

    # ------------------------------------------------------------- following

    def ensure_following(self) -> None:
        """Start this process's follower thread once (after a fork too); it waits for the file lock."""
        self._follower.start()

    def _renew_readers(self) -> None:
        # A forked child must not share its parent's SQLite connections.
        self._local = threading.local()

    def stop(self) -> None:
        """Stop following (the thread ends within a poll); readers go on reading the file as it is."""
        self._stop.set()

    def resume(self) -> None:
        """Follow again after :meth:`stop` (on the next lookup)."""
        self._stop.clear()
        self._follower.forget()

    def _follow_forever(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._follow_when_elected()
                return
            except Exception:
                # The file cannot be made, opened or written (permissions, a full disk): no fresh
                # stamp, so verification asks the database meanwhile, and this process tries again.
                failures += 1
                log.error(
                    "registry replica cannot be followed; verification asks the database",
                    exc_info=failures == 1,
                    extra={"path": str(self.path), "failures": failures},
                )
                self._stop.wait(min(60.0, 2.0 * failures))

    def _follow_when_elected(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(self.path.with_name(self.path.name + ".lock"), "a+b")  # noqa: SIM115 - held for life
        while not self._stop.is_set():
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Another process follows; take over if it goes away.
                self._stop.wait(2.0)
                continue
            try:
                self._follow_while_holding()
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
        lock_file.close()

    def _follow_while_holding(self) -> None:
        writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # Holders' Samagra IDs and code hashes: readable by the hub's own user only. SQLite
        # gives the -wal and -shm files the database file's permissions.
        os.chmod(self.path, 0o600)
        try:
            writer.execute("PRAGMA journal_mode=WAL")
            # The replica can always be rebuilt from the database: no fsync on every poll.
            writer.execute("PRAGMA synchronous=OFF")
            writer.executescript(_SCHEMA)
            failures = 0
            while not self._stop.is_set():
                try:
                    self.sync_once(writer)
                    failures = 0
                    self._stop.wait(self.poll_seconds)
                except Exception:
                    # The stamp ages meanwhile, so readers stop trusting the replica after max_lag.
                    failures += 1
                    log.warning("registry replica could not follow the registry", exc_info=failures == 1)
                    self._stop.wait(min(30.0, self.poll_seconds * 2**failures))
        finally:
            writer.close()

    def sync_once(self, writer: sqlite3.Connection) -> int:
        """Build the replica if it is new or of another version, else apply new changes; then stamp it.

        Returns the number of entries written.
        """
        meta = dict(writer.execute("SELECT k, v FROM meta").fetchall())
        if (
            meta.get("version") != REPLICA_VERSION
            or meta.get("source") != self.source
            or "change_id" not in meta
        ):
            return self._build(writer)
        last = int(meta["change_id"])
        written = 0
        with self.engine.connect() as conn:
            while True:
                changes = conn.execute(
                    select(RegistryChange.id, RegistryChange.document_id)
                    .where(RegistryChange.id > last)
                    .order_by(RegistryChange.id)
                    .limit(5000)
                ).all()
                if not changes:
                    break
                ids = sorted({c.document_id for c in changes})
                rows = conn.execute(_SELECT_ENTRY.where(IssuedDocument.id.in_(ids))).all()
                last = changes[-1].id
                writer.execute("BEGIN")
                writer.executemany(_INSERT, (_replica_row(r) for r in rows))
                writer.execute("INSERT OR REPLACE INTO meta VALUES ('change_id', ?)", (str(last),))
                writer.execute("COMMIT")
                written += len(rows)
            conn.rollback()
        writer.execute("INSERT OR REPLACE INTO meta VALUES ('synced_at', ?)", (repr(time.time()),))
        return written

    def _build(self, writer: sqlite3.Connection) -> int:
        """Copy the whole registry from one database snapshot, with the feed position of that snapshot."""
        started = time.monotonic()
        written = 0
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # The feed position and the rows must come from one snapshot.
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                last = conn.execute(select(func.coalesce(func.max(RegistryChange.id), 0))).scalar_one()
                writer.execute("BEGIN")
                # Readers keep seeing the old copy (or none) until this transaction commits.
                writer.execute("DELETE FROM meta")
                writer.execute("DELETE FROM entries")
                result = conn.execution_options(stream_results=True, yield_per=10_000).execute(_SELECT_ENTRY)
                for rows in result.partitions():
                    writer.executemany(_INSERT, (_replica_row(r) for r in rows))
                    written += len(rows)
                writer.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [
                        ("version", REPLICA_VERSION),
                        ("source", self.source),
                        ("change_id", str(last)),
                        ("synced_at", repr(time.time())),
                    ],
                )
                writer.execute("COMMIT")
        # Move the build out of the write-ahead log: readers then find pages in the file itself.
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        log.info(
            "registry replica built",
            extra={
                "entries": written,
                "seconds": round(time.monotonic() - started, 1),
                "path": str(self.path),
            },
        )
        return written


_STAMP = "(SELECT v FROM meta WHERE k = 'synced_at')"
_READ_ONE = f"SELECT entry, {_STAMP} FROM entries WHERE number = ?"  # noqa: S608 - constants
_READ_MANY = f"SELECT entry, {_STAMP} FROM entries WHERE number IN "  # noqa: S608 - constants


# ----------------------------------------------------------------- the lookup views use


class CertificateRegistry:
    """``registry["certificate_registry"]``: registry entries for verification, replica first."""

    def __init__(self, replica: RegistryReplica | None = None) -> None:
        self.replica = replica

    def lookup(self, session: SessionSource, numbers: Sequence[str]) -> dict[str, RegistryEntry]:
        """Entries for ``numbers`` (absent: no such number); the database only for what the replica lacks.

        ``session`` may be a callable making the session: a request then creates
        its database session (and joins its transaction) only if the replica
        cannot answer.
        """
        wanted = [n for n in numbers if n]
        if not wanted:
            return {}
        found: dict[str, RegistryEntry] = {}
        if self.replica is not None:
            found = self.replica.lookup(wanted) or {}
        missing = [n for n in wanted if n not in found]
        if missing:
            found.update(find_entries(session if isinstance(session, Session) else session(), missing))
        return found

    def lookup_one(self, session: SessionSource, number: str) -> RegistryEntry | None:
        return self.lookup(session, [number]).get(number)


def make_registry(settings: Mapping[str, Any], engine: Engine) -> CertificateRegistry:
    path = str(settings.get("hub.registry.replica_path") or "").strip()
    if not path:
        return CertificateRegistry()
    replica = RegistryReplica(
        Path(path),
        engine,
        poll_seconds=float(settings.get("hub.registry.replica_poll_seconds") or 0.25),
        max_lag_seconds=float(settings.get("hub.registry.replica_max_lag_seconds") or 3.0),
    )
    return CertificateRegistry(replica)
