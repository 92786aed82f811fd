"""Looking up the document registry for verification: the database, or a host-local read replica.

On scrutiny day returning officers verify certificates at thousands per
second, and each verification only *reads* one registry row. Asking
PostgreSQL for it costs a round trip and the database server's CPU every
time; on the hub's hosts that is most of the cost of the answer.

So a host may keep a **read replica**: an LMDB file (``hub.registry.replica_path``)
holding what verification needs of every registry row. One process per host
(whichever holds the file lock) follows the registry's change feed
(``registry_changes``, appended in the transaction that issues, supersedes or
revokes a document) every ``replica_poll_seconds`` and stamps the replica
with the time of its last successful poll. Every web process maps it read-only;
the operating system's page cache is shared, so a million rows cost one copy
of memory per host, not one per worker.

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
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import lmdb
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hub.background import ProcessThread
from hub.certificate_xml import FORMAT as ANSWER_FORMAT
from hub.certificate_xml import certificate_xml
from hub.models.document import IssuedDocument, RegistryChange, status_at

log = logging.getLogger(__name__)

# A session, or what makes one on first need (e.g. ``lambda: request.dbsession``).
SessionSource = Session | Callable[[], Session]

# Bump when the replica's table changes: a replica of another version is rebuilt. The
# entries are marshal blobs, whose format belongs to the Python version: it is part of this, and
# so is the form of the answer part each entry carries (hub.certificate_xml.FORMAT).
REPLICA_VERSION = f"5.lmdb.marshal{marshal.version}.answer{ANSWER_FORMAT}"


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
    # Not a column: the certificate's part of an election answer (hub.certificate_xml), written
    # when the entry is made (for a replica entry: once, by the follower). None: not written
    # (an entry made by hand); an answer then writes it itself.
    answer_xml: bytes | None = None

    def status_at(self, now: datetime) -> str:
        return status_at(self.status, datetime.fromisoformat(self.valid_until), now)

    def answer_part(self) -> bytes:
        """The certificate's part of an election answer: as written with the entry, or (an entry
        made by hand) written now. Raises ValueError for text UTF-8 cannot carry."""
        if self.answer_xml is not None:
            return self.answer_xml
        return certificate_xml(
            self.status,
            self.issued_at,
            self.valid_until,
            self.public_summary,
            self.revoked_at,
            self.revocation_reason,
            self.superseded_by_id,
        )

    @classmethod
    def of(cls, record: IssuedDocument) -> RegistryEntry:
        return _entry(tuple(getattr(record, name) for name in ENTRY_COLUMNS))


# The registry row's columns an entry is made of (every field but the derived answer_xml).
ENTRY_COLUMNS = RegistryEntry._fields[:-1]
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


# Where the summary sits in an entry's values (the replica stores it as a blob of its own).
_SUMMARY = ENTRY_COLUMNS.index("public_summary")


def _values(row: Sequence[Any]) -> tuple[Any, ...]:
    """An entry's values (its fields' order) from a row in ENTRY_COLUMNS order, answer_xml written."""
    values = tuple(v if f is None or v is None else f(v) for f, v in zip(_CONVERTERS, row, strict=True))
    answer_xml: bytes | None
    try:
        answer_xml = RegistryEntry._make((*values, None)).answer_part()
    except ValueError:
        # Text UTF-8 cannot carry (a lone surrogate): no part is stored, so an election answer
        # writes it and refuses it then, as it would anyway; lookups and REST are unaffected.
        answer_xml = None
    return (*values, answer_xml)


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

# One LMDB database: each entry under its number, and the replica's own facts under keys no
# number can have (numbers start with a letter or digit).
_VERSION = b"\x00version"
_SOURCE = b"\x00source"
_CHANGE_ID = b"\x00change_id"
_SYNCED_AT = b"\x00synced_at"
_META_KEYS = (_VERSION, _SOURCE, _CHANGE_ID, _SYNCED_AT)
# LMDB reserves this much address space (not disk: the file grows as entries are written):
# ~10 million entries, and room for a rebuild's second copy while readers keep the first.
_MAP_SIZE = 16 << 30
# How long a process trusts the replica's stamp it last read (see RegistryReplica._synced_at).
STAMP_REREAD_SECONDS = 0.1
# LMDB refuses longer keys; no registry number comes near it.
_MAX_KEY = 511


class StoredSummary(Mapping[str, Any]):
    """A replica entry's public summary, decoded from its stored bytes when first read.

    Most answers never read it: an election answer splices the entry's answer_xml, and only
    REST answers and checks by the holder's name look inside. Decoding the nested dict with
    every entry was half of a lookup's CPU (~1.2 of ~2.4 µs; a 1,000-item batch decodes 1,000).
    """

    __slots__ = ("_blob", "_data")

    def __init__(self, blob: bytes) -> None:
        self._blob = blob
        self._data: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            data = self._data = marshal.loads(self._blob)  # noqa: S302 - the hub's own file, see _replica_row
        return data

    def as_dict(self) -> dict[str, Any]:
        """The summary itself (shared: copy before changing), e.g. for ``dict.update``, which reads a
        dict in C but any other mapping by a Python call per key."""
        return self._decoded()

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __repr__(self) -> str:
        return f"StoredSummary({self._decoded()!r})"


def _replica_row(row: Sequence[Any]) -> tuple[str, bytes]:
    """A database row (ENTRY_COLUMNS order) as the replica stores it: its number, and one blob.

    One marshal blob per entry, not a record per field: a lookup decodes it in one C call,
    and the tuple it decodes to is the entry's, but for the summary: stored as a blob of its
    own inside, decoded only if read (:class:`StoredSummary`). marshal is not for data from
    others; this file is written by the hub's own follower only and readable by the hub's
    user only (0600).
    """
    values = list(_values(row))
    values[_SUMMARY] = marshal.dumps(values[_SUMMARY])
    return row[1], marshal.dumps(tuple(values))


def _put_entries(txn: lmdb.Transaction, rows: Iterable[Sequence[Any]]) -> None:
    """Database rows (ENTRY_COLUMNS order) into the replica, each under its number."""
    for row in rows:
        number, blob = _replica_row(row)
        txn.put(number.encode(), blob)


def _from_replica(blob: bytes) -> RegistryEntry:
    values = list(marshal.loads(blob))  # noqa: S302 - the hub's own file, see _replica_row
    values[_SUMMARY] = StoredSummary(values[_SUMMARY])
    return RegistryEntry._make(values)


def _open(path: Path) -> lmdb.Environment:
    """The replica's environment. LMDB allows one per file in a process (its locks are the
    process's), so readers and the follower of a process share it; only the follower writes."""
    return lmdb.open(
        str(path),
        subdir=False,
        map_size=_MAP_SIZE,
        # Holders' Samagra IDs and code hashes: the hub's own user only (the file and its -lock).
        mode=0o600,
        # Random lookups: reading ahead would only evict pages other lookups need.
        readahead=False,
        # The replica can always be rebuilt from the database: no fsync on every poll.
        sync=False,
        metasync=False,
        max_readers=1024,
    )


def _contents(env: lmdb.Environment) -> tuple[int, float | None]:
    with env.begin() as txn:
        meta = sum(1 for key in _META_KEYS if txn.get(key) is not None)
        stamp = txn.get(_SYNCED_AT)
        return env.stat()["entries"] - meta, float(stamp) if stamp is not None else None


def replica_contents(path: Path) -> tuple[int, float | None]:
    """(entries held, the last sync's time) of the replica at ``path``, from another process
    (operators, the bench): a process that reads or follows it asks its RegistryReplica."""
    env = lmdb.open(str(path), subdir=False, readonly=True, map_size=_MAP_SIZE)
    try:
        return _contents(env)
    finally:
        env.close()


# Environments opened before this process was forked: a child must neither use nor close them
# (closing would release the parent's reader slots), so they are kept here, unused.
_INHERITED: list[lmdb.Environment] = []


class RegistryReplica:
    """The host-local replica: read by every process, followed by the one holding its lock.

    LMDB, not SQLite: both map the file once per host, but Python's sqlite3 releases the GIL
    around every step of a lookup, and each release handed the request's thread over to another
    (~30 futex calls a verification); py-lmdb releases it once a get (around the B-tree walk and
    the touch of the value's pages). Measured alternated on one database with 1,000,000
    certificates: 5,039 against 3,198 REST verifications a second. A copy in each process's own memory was slower than either:
    two private copies compete for one L3 cache (bench/README.md).
    """

    def __init__(
        self, path: Path, engine: Engine, *, poll_seconds: float = 0.25, max_lag_seconds: float = 3.0
    ) -> None:
        self.path = path
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.max_lag_seconds = max_lag_seconds
        self._env: lmdb.Environment | None = None  # this process's (see _open)
        self._env_pid = 0  # the process that opened it
        self._follower = ProcessThread(self._follow_forever, "registry-replica", on_start=self._renew_readers)
        self._stop = threading.Event()
        # The last stamp this process read, and when (time.monotonic()): see _synced_at.
        self._stamp_seen: tuple[float, float] | None = None
        # Which database the file copies: a file left from another database is rebuilt, never followed.
        url = engine.url
        self.source = hashlib.sha256(
            f"{url.drivername}|{url.host}|{url.port}|{url.database}|{url.query}".encode()
        ).hexdigest()[:32]

    # ------------------------------------------------------------- reading

    def _environment(self, *, create: bool = False) -> lmdb.Environment | None:
        """This process's environment; None while there is no file (unless ``create``: the follower)."""
        env = self._env
        if env is None:
            if not create and not self.path.is_file():
                return None
            try:
                env = self._env = _open(self.path)
                self._env_pid = os.getpid()
            except lmdb.Error:
                if create:
                    raise
                return None  # the follower logs what is wrong with the file; the database answers
            if create:
                # ``mode`` applies only to a new file: one left by another hand is made the hub user's too.
                os.chmod(self.path, 0o600)
        return env

    def lookup(self, numbers: Sequence[str]) -> dict[str, RegistryEntry] | None:
        """Entries the replica holds for ``numbers``; None when the replica must not be used."""
        self.ensure_following()
        env = self._environment()
        if env is None:
            return None
        found: dict[str, RegistryEntry] = {}
        try:
            # One read transaction for the entries. A number the replica lacks has no entry, and
            # the database answers for it.
            with env.begin() as txn:
                stamp = self._synced_at(txn)
                if stamp is None or time.time() - stamp > self.max_lag_seconds:
                    return None  # unstamped (never trusted) or stale: the database answers
                for number in numbers:
                    key = number.encode()
                    if not 0 < len(key) <= _MAX_KEY or key[0] == 0:
                        continue  # no number is stored so
                    blob = txn.get(key)
                    if blob is not None:
                        found[number] = _from_replica(blob)
        except lmdb.Error:
            # Replaced or unreadable: the database answers instead.
            log.warning("registry replica unreadable; asking the database", exc_info=True)
            return None
        return found

    def _synced_at(self, txn: lmdb.Transaction) -> float | None:
        """The replica's stamp, read from the file at most every STAMP_REREAD_SECONDS per process.

        Every get releases the GIL (py-lmdb), and under load each release may hand the request's
        thread over to another: reading the stamp with every lookup doubled that. A stamp only
        ever moves forward (the follower stamps after each poll; a rebuild commits entries and
        stamp at once), so one read a moment ago is older than the file's: the lag it shows is
        at most STAMP_REREAD_SECONDS too long, never too short.
        """
        seen = self._stamp_seen
        now = time.monotonic()
        if seen is not None and now - seen[1] < STAMP_REREAD_SECONDS:
            return seen[0]
        raw = txn.get(_SYNCED_AT)
        if raw is None:
            self._stamp_seen = None
            return None
        stamp = float(raw)
        self._stamp_seen = (stamp, now)
        return stamp

    def status(self) -> dict[str, Any]:
        """For /readyz: how old the replica's stamp is, and whether verification uses it."""
        try:
            _entries, stamp = self.contents()
        except lmdb.Error:
            stamp = None
        if stamp is None:
            return {"used": False, "lag_seconds": None}
        lag = max(0.0, time.time() - stamp)
        return {"used": lag <= self.max_lag_seconds, "lag_seconds": round(lag, 3)}

    # ------------------------------------------------------------- following

    def ensure_following(self) -> None:
        """Start this process's follower thread once (after a fork too); it waits for the file lock."""
        self._follower.start()

    def _renew_readers(self) -> None:
        # Run as the follower's thread starts in a process. A forked child must not use (or close)
        # its parent's environment: it opens its own. The same process (a resumed follower) keeps it.
        if self._env is not None and self._env_pid != os.getpid():
            _INHERITED.append(self._env)
            self._env = None

    def contents(self) -> tuple[int, float | None]:
        """(entries held, the last sync's time); (0, None) while there is no file."""
        env = self._environment()
        return (0, None) if env is None else _contents(env)

    def close(self) -> None:
        """Stop following and close this process's environment (tests, shutdown)."""
        self.stop()
        if self._env is not None:
            self._env.close()
            self._env = None

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
        failures = 0
        while not self._stop.is_set():
            try:
                self.sync_once()
                failures = 0
                self._stop.wait(self.poll_seconds)
            except lmdb.Error:
                raise  # the file itself: _follow_forever logs it and tries again later
            except Exception:
                # The stamp ages meanwhile, so readers stop trusting the replica after max_lag.
                failures += 1
                log.warning("registry replica could not follow the registry", exc_info=failures == 1)
                self._stop.wait(min(30.0, self.poll_seconds * 2**failures))

    def _writable(self) -> lmdb.Environment:
        env = self._environment(create=True)
        assert env is not None  # create: opened or raised
        return env

    def _stamp(self, at: float | None) -> None:
        """Stamp the replica as synced ``at`` (a time.time()); None removes the stamp."""
        with self._writable().begin(write=True) as txn:
            if at is None:
                txn.delete(_SYNCED_AT)
            else:
                txn.put(_SYNCED_AT, repr(at).encode())
        self._stamp_seen = None  # this process reads its own stamp at once

    def sync_once(self) -> int:
        """Build the replica if it is new or of another version, else apply new changes; then stamp it.

        Returns the number of entries written.
        """
        env = self._writable()
        with env.begin() as txn:
            version, source, change_id = (txn.get(key) for key in (_VERSION, _SOURCE, _CHANGE_ID))
        if version != REPLICA_VERSION.encode() or source != self.source.encode() or change_id is None:
            return self._build(env)
        last = int(change_id)
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
                # Readers see the entries and the feed position together, at the commit.
                with env.begin(write=True) as txn:
                    _put_entries(txn, rows)
                    txn.put(_CHANGE_ID, str(last).encode())
                written += len(rows)
            conn.rollback()
        self._stamp(time.time())
        return written

    def _build(self, env: lmdb.Environment) -> int:
        """Copy the whole registry from one database snapshot, with the feed position of that snapshot."""
        started = time.monotonic()
        written = 0
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # The feed position and the rows must come from one snapshot.
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                last = conn.execute(select(func.coalesce(func.max(RegistryChange.id), 0))).scalar_one()
                # One write transaction: readers keep seeing the old copy (or none) until it commits.
                with env.begin(write=True) as txn:
                    txn.drop(env.open_db(txn=txn), delete=False)
                    result = conn.execution_options(stream_results=True, yield_per=10_000).execute(
                        _SELECT_ENTRY
                    )
                    for rows in result.partitions():
                        _put_entries(txn, rows)
                        written += len(rows)
                    txn.put(_VERSION, REPLICA_VERSION.encode())
                    txn.put(_SOURCE, self.source.encode())
                    txn.put(_CHANGE_ID, str(last).encode())
                    txn.put(_SYNCED_AT, repr(time.time()).encode())
        log.info(
            "registry replica built",
            extra={
                "entries": written,
                "seconds": round(time.monotonic() - started, 1),
                "path": str(self.path),
            },
        )
        return written


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
