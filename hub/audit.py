"""The append-only, hash-chained audit log: every state change and every disclosure of personal data.

Each entry carries ``prev_hash`` (the previous entry's hash) and
``hash = SHA-256(prev_hash || canonical JSON of the entry)``, where the
canonical JSON includes the entry's ``seq``. So:

* an edited row no longer matches its own hash;
* a deleted row leaves a gap in ``seq`` and a broken ``prev_hash`` link;
* rows whose contents were swapped fail both their hash (seq is hashed) and the links.

Deleting the *newest* rows cannot be seen from the chain alone: keep the head
(``seq`` and ``hash`` printed by ``hub-admin <ini> audit verify``) somewhere
else, e.g. in the operations log, and pass it back as ``anchor``.

Appends are serialised so the chain never forks: on PostgreSQL a
transaction-level advisory lock is taken before the head is read; on SQLite
the database write lock is taken first (one writer at a time). The lock is
held until the caller's transaction ends, so audit late in a request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from hub.models.audit import AuditEntry
from hub.models.meta import utcnow

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key: "audit" in ASCII, any constant unique to this lock would do.
_PG_LOCK_KEY = 0x6175646974
_VERIFY_BATCH = 5000


@dataclass(frozen=True)
class AuditRecord:
    """An entry to append (``record_many`` takes a list of these)."""

    actor: str
    action: str
    subject_type: str
    subject_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None


@dataclass(frozen=True)
class AuditVerification:
    """The result of :func:`verify_chain`."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_seq: int = 0
    head_hash: str = GENESIS_HASH

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
        }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"audit data: {type(value).__name__} is not JSON")


def canonical_data(data: Mapping[str, Any]) -> str:
    """Canonical JSON of an entry's data (sorted keys, no spaces, UTF-8 as is, no NaN)."""
    return json.dumps(
        data,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit timestamps must carry a time zone")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    data_json: str,
) -> str:
    """SHA-256 over the previous hash and the canonical entry (``data_json`` already canonical).

    The canonical entry is exactly ``json.dumps({...}, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` of the seven fields, written
    out by hand: a generic dumps per entry was a third of a KYC export's time
    (tests/hub/test_audit.py holds the two forms equal).
    """
    canonical = (
        f'{{"action":{_string(action)},"actor":{_string(actor)},"at":{_string(_timestamp(at))},'
        f'"data":{_string(data_json)},"seq":{int(seq)},"subject_id":{_string(subject_id)},'
        f'"subject_type":{_string(subject_type)}}}'
    )
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


_string = json.JSONEncoder(ensure_ascii=False).encode


def _lock_chain(session: Session) -> None:
    """Serialise appends until the caller's transaction ends."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif dialect == "sqlite":
        # A write statement takes SQLite's single write lock now (it matches no
        # row), so the head read next cannot go stale before our INSERT.
        session.execute(text("UPDATE audit_log SET seq = seq WHERE 0 = 1"))
    else:  # pragma: no cover - the hub runs on SQLite and PostgreSQL only
        raise RuntimeError(f"audit log: no chain lock for {dialect}")


def _head(session: Session) -> tuple[int, str]:
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def record_many(session: Session, entries: Iterable[AuditRecord]) -> list[int]:
    """Append ``entries`` in one INSERT, chained in Python, in the caller's transaction.

    Returns the assigned ``seq`` numbers. For disclosures a pull of 1,000
    records is one statement, not 1,000.
    """
    batch = list(entries)
    if not batch:
        return []
    now = utcnow()
    _lock_chain(session)
    seq, prev = _head(session)
    rows: list[dict[str, Any]] = []
    for entry in batch:
        seq += 1
        at = entry.at or now
        data_json = canonical_data(entry.data)
        digest = entry_hash(
            prev,
            seq=seq,
            at=at,
            actor=entry.actor,
            action=entry.action,
            subject_type=entry.subject_type,
            subject_id=str(entry.subject_id),
            data_json=data_json,
        )
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": entry.actor,
                "action": entry.action,
                "subject_type": entry.subject_type,
                "subject_id": str(entry.subject_id),
                "data_json": data_json,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    if len(rows) >= _COPY_THRESHOLD and session.get_bind().dialect.name == "postgresql":
        _copy_rows(session, rows)
    else:
        # With RETURNING, SQLAlchemy's "insertmanyvalues" renders one multi-row
        # INSERT per 1,000 rows instead of a DBAPI executemany (one statement per row).
        session.execute(insert(AuditEntry).returning(AuditEntry.seq), rows)
    return [row["seq"] for row in rows]


# Bulk disclosures (KYC pulls and exports) write thousands of entries a second;
# building and preparing one huge INSERT cost psycopg ~85% of an export's time
# (bench/bench_kyc.py), COPY streams the same rows for a fraction of it.
_COPY_THRESHOLD = 64
_COPY_BATCH = 250
_COPY_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "data_json",
    "prev_hash",
    "hash",
)


def _copy_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """COPY ``rows`` into audit_log on the session's own connection and transaction."""
    lines = []
    for row in rows:
        fields = [_copy_field(row[c]) for c in _COPY_COLUMNS[2:7]]
        fields += [row["prev_hash"], row["hash"]]
        lines.append(f"{row['seq']}\t{_timestamp(row['at'])}\t" + "\t".join(fields) + "\n")
    _copy_lines(session, lines)


def _copy_lines(session: Session, lines: Iterable[str]) -> None:
    """COPY rows already in COPY's text format, on the session's own connection and transaction."""
    with _copying(session, lines):
        pass


@contextmanager
def _copying(session: Session, lines: Iterable[str]) -> Iterator[None]:
    """Send ``lines`` (COPY text format) with COPY, run the block, then complete the COPY.

    The lines go ``_COPY_BATCH`` at a time as ``lines`` yields them, so
    PostgreSQL inserts the first entries while Python still chains the next
    and while the block runs; completing the COPY waits for the rest. (One
    ``write`` per batch: psycopg's ``write_row`` adapts every value in
    Python, which cost as much as hashing the entries.) If the block raises,
    the COPY is aborted and the transaction with it.
    """
    session.flush()
    driver = session.connection().connection.driver_connection
    assert driver is not None
    statement = f"COPY audit_log ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) == _COPY_BATCH:
                copy.write("".join(batch))
                batch.clear()
        if batch:
            copy.write("".join(batch))
        yield


def _copy_field(value: str) -> str:
    """A text value in COPY's text format: backslash, tab, newline and carriage return escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


# A value no caller's data holds: record_series renders the data once with it and cuts there.
_SLOT = "\x00audit-series-slot\x00"


def record_series(
    session: Session,
    actor: str,
    action: str,
    subject_type: str,
    data: Mapping[str, Any],
    vary: str,
    items: Sequence[tuple[str, str]],
    at: datetime | None = None,
) -> range:
    """Append one entry per ``(subject_id, value)`` of ``items``, in the caller's transaction.

    Entry *i* is exactly what :func:`record_many` would append for
    ``AuditRecord(actor, action, subject_type, subject_id_i, {**data, vary: value_i}, at)``
    (same ``data_json``, same hash; :func:`verify_chain` cannot tell them apart).
    Everything but the subject and one string in ``data`` is the same across
    the series, so its canonical JSON is rendered once and each entry costs
    two string escapes, a concatenation and a SHA-256: a KYC export writes one
    disclosure entry per record released, and a generic ``json.dumps`` plus
    hash per entry was most of the export's time. Returns the assigned ``seq``
    numbers.
    """
    with appending_series(session, actor, action, subject_type, data, vary, items, at) as seqs:
        return seqs


@contextmanager
def appending_series(
    session: Session,
    actor: str,
    action: str,
    subject_type: str,
    data: Mapping[str, Any],
    vary: str,
    items: Sequence[tuple[str, str]],
    at: datetime | None = None,
) -> Iterator[range]:
    """:func:`record_series` around a block of the caller's that runs while PostgreSQL inserts the entries.

    On PostgreSQL, a series of ``_COPY_THRESHOLD`` entries or more is sent
    with COPY before the block runs and the COPY is completed after it, so
    the database's insert work overlaps the caller's (a KYC export renders
    the chunk it discloses meanwhile). If the block raises, the COPY is
    aborted and the caller's transaction cannot commit: entries are never
    written without the work they record. Elsewhere the entries are
    inserted before the block.
    """
    if not items:
        yield range(0)
        return
    when = at or utcnow()
    stamp = _timestamp(when)
    slot = encode_basestring(_SLOT)
    template = canonical_data({**data, vary: _SLOT})
    if template.count(slot) != 1:
        raise ValueError(f"audit series: data must not hold the series slot value ({vary!r})")
    data_head, _, data_tail = template.partition(slot)
    # The canonical entry of entry_hash, split around the parts that vary.
    head = (
        f'{{"action":{encode_basestring(action)},"actor":{encode_basestring(actor)},'
        f'"at":{encode_basestring(stamp)},"data":'
    )
    tail = f',"subject_type":{encode_basestring(subject_type)}}}'
    _lock_chain(session)
    seq, prev = _head(session)
    seqs = range(seq + 1, seq + 1 + len(items))

    def chained() -> Iterator[tuple[int, str, str, str, str]]:
        sha256 = hashlib.sha256
        enc = encode_basestring
        previous = prev
        for number, (subject_id, value) in zip(seqs, items, strict=True):
            data_json = data_head + enc(value) + data_tail
            canonical = f'{head}{enc(data_json)},"seq":{number},"subject_id":{enc(subject_id)}{tail}'
            digest = sha256((previous + canonical).encode("utf-8")).hexdigest()
            yield number, subject_id, data_json, previous, digest
            previous = digest

    if len(items) >= _COPY_THRESHOLD and session.get_bind().dialect.name == "postgresql":
        constant = "\t".join((stamp, _copy_field(actor), _copy_field(action), _copy_field(subject_type)))
        lines = (
            f"{number}\t{constant}\t{_copy_field(subject_id)}\t{_copy_field(data_json)}\t{prev_hash}\t{digest}\n"
            for number, subject_id, data_json, prev_hash, digest in chained()
        )
        with _copying(session, lines):
            yield seqs
        return
    session.execute(
        insert(AuditEntry).returning(AuditEntry.seq),
        [
            {
                "seq": number,
                "at": when,
                "actor": actor,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "data_json": data_json,
                "prev_hash": prev_hash,
                "hash": digest,
            }
            for number, subject_id, data_json, prev_hash, digest in chained()
        ],
    )
    yield seqs


def record(
    session: Session,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    data: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its ``seq``."""
    return record_many(session, [AuditRecord(actor, action, subject_type, str(subject_id), data or {})])[0]


def verify_chain(session: Session, anchor: tuple[int, str] | None = None) -> AuditVerification:
    """Walk the whole chain in ``seq`` order and report the first defect.

    ``anchor`` is a ``(seq, hash)`` seen earlier (a previous verification's
    head): the chain must still contain it, which catches deletion of the
    newest rows.
    """
    expected_seq = 1
    prev = GENESIS_HASH
    checked = 0
    anchor_seen = anchor is None
    last_seq = 0
    while True:
        rows = session.execute(
            select(
                AuditEntry.seq,
                AuditEntry.at,
                AuditEntry.actor,
                AuditEntry.action,
                AuditEntry.subject_type,
                AuditEntry.subject_id,
                AuditEntry.data_json,
                AuditEntry.prev_hash,
                AuditEntry.hash,
            )
            .where(AuditEntry.seq > last_seq)
            .order_by(AuditEntry.seq)
            .limit(_VERIFY_BATCH)
        ).all()
        if not rows:
            break
        for seq, at, actor, action, subject_type, subject_id, data_json, prev_hash, digest in rows:
            last_seq = seq
            if seq != expected_seq:
                return AuditVerification(
                    False,
                    checked,
                    seq,
                    f"seq gap: expected {expected_seq}, found {seq} (rows deleted)",
                    expected_seq - 1,
                    prev,
                )
            if prev_hash != prev:
                return AuditVerification(
                    False,
                    checked,
                    seq,
                    "prev_hash does not link to the previous entry (row deleted or reordered)",
                    seq - 1,
                    prev,
                )
            recomputed = entry_hash(
                prev_hash,
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                subject_type=subject_type,
                subject_id=subject_id,
                data_json=data_json,
            )
            if recomputed != digest:
                return AuditVerification(
                    False,
                    checked,
                    seq,
                    "hash does not match the entry (row edited or reordered)",
                    seq - 1,
                    prev,
                )
            if anchor is not None and seq == anchor[0]:
                if digest != anchor[1]:
                    return AuditVerification(
                        False, checked, seq, "entry differs from the anchor", seq - 1, prev
                    )
                anchor_seen = True
            prev = digest
            expected_seq += 1
            checked += 1
    if not anchor_seen:
        assert anchor is not None
        return AuditVerification(
            False,
            checked,
            anchor[0],
            f"anchor seq {anchor[0]} is missing (newest rows deleted)",
            last_seq,
            prev,
        )
    return AuditVerification(True, checked, None, "", last_seq, prev)
