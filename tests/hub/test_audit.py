"""The hash-chained audit log: appends chain, tampering is found, concurrent appends never fork."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hub.audit import (
    GENESIS_HASH,
    AuditRecord,
    appending_series,
    canonical_data,
    entry_hash,
    record,
    record_many,
    record_series,
    verify_chain,
)
from hub.models.audit import AuditEntry


def _head(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))) or 0)


def _fill(session: Session, n: int) -> list[int]:
    return [
        record(
            session, f"client:{i % 3}", "kyc.disclosed", "consumer", f"N{i:06d}", {"fields": ["name"], "i": i}
        )
        for i in range(n)
    ]


def test_entries_chain_and_verify(dbsession: Session) -> None:
    start = _head(dbsession)
    seqs = _fill(dbsession, 5)
    assert seqs == list(range(start + 1, start + 6))
    rows = dbsession.scalars(select(AuditEntry).where(AuditEntry.seq > start).order_by(AuditEntry.seq)).all()
    for previous, entry in zip(rows, rows[1:], strict=False):
        assert entry.prev_hash == previous.hash
    if start == 0:
        assert rows[0].prev_hash == GENESIS_HASH
    result = verify_chain(dbsession)
    assert result.ok, result
    assert result.checked == start + 5
    assert (result.head_seq, result.head_hash) == (rows[-1].seq, rows[-1].hash)


def test_devanagari_and_canonical_data(dbsession: Session) -> None:
    seq = record(
        dbsession,
        "officer:7",
        "application.status",
        "connection-application",
        "NC-1",
        {"remarks": "मांग पत्र जारी", "b": 1, "a": [2, 1]},
    )
    entry = dbsession.get(AuditEntry, seq)
    assert entry is not None
    # Sorted keys, no spaces, UTF-8 kept as is: the same data always hashes the same.
    assert entry.data_json == '{"a":[2,1],"b":1,"remarks":"मांग पत्र जारी"}'
    assert entry.data == {"a": [2, 1], "b": 1, "remarks": "मांग पत्र जारी"}
    assert canonical_data({"b": 1, "a": [2, 1], "remarks": "मांग पत्र जारी"}) == entry.data_json
    with pytest.raises(ValueError):
        canonical_data({"x": float("nan")})
    assert verify_chain(dbsession).ok


def test_record_many_is_one_insert_statement(dbsession: Session, engine: Engine) -> None:
    start = _head(dbsession)
    inserts: list[int] = []

    def count(conn: object, cursor: object, statement: str, params: Any, ctx: object, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
            # One statement carrying every row's values (not a DBAPI executemany of 700).
            inserts.append(len(params))

    event.listen(engine, "before_cursor_execute", count)
    try:
        seqs = record_many(
            dbsession,
            [
                AuditRecord(
                    "client:dbt-1",
                    "kyc.disclosed",
                    "consumer",
                    f"N{i:06d}",
                    {"purpose": "ladli", "fields": ["name", "mobile"]},
                )
                for i in range(700)
            ],
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert seqs == list(range(start + 1, start + 701))
    # SQLite: one multi-row INSERT; PostgreSQL: COPY, and no INSERT at all.
    assert inserts == ([] if engine.dialect.name == "postgresql" else [700 * 9])
    assert verify_chain(dbsession).ok


def test_edited_row_is_detected(dbsession: Session) -> None:
    start = _head(dbsession)
    _fill(dbsession, 5)
    target = start + 3
    dbsession.execute(
        update(AuditEntry)
        .where(AuditEntry.seq == target)
        .values(data_json='{"fields":["name","bank_account"],"i":2}')
    )
    result = verify_chain(dbsession)
    assert not result.ok
    assert result.first_bad_seq == target
    assert "edited" in result.reason


def test_edited_timestamp_or_actor_is_detected(dbsession: Session) -> None:
    start = _head(dbsession)
    _fill(dbsession, 3)
    dbsession.execute(
        update(AuditEntry).where(AuditEntry.seq == start + 2).values(actor="client:someone-else")
    )
    assert verify_chain(dbsession).first_bad_seq == start + 2


def test_deleted_middle_row_is_detected(dbsession: Session) -> None:
    start = _head(dbsession)
    _fill(dbsession, 5)
    dbsession.execute(delete(AuditEntry).where(AuditEntry.seq == start + 3))
    result = verify_chain(dbsession)
    assert not result.ok
    assert result.first_bad_seq == start + 4
    assert "deleted" in result.reason


def test_deleted_middle_row_with_renumbering_is_detected(dbsession: Session) -> None:
    """Closing the gap by renumbering still breaks the prev_hash link."""
    start = _head(dbsession)
    _fill(dbsession, 4)
    dbsession.execute(delete(AuditEntry).where(AuditEntry.seq == start + 2))
    for seq in (start + 3, start + 4):
        dbsession.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq - 1))
    result = verify_chain(dbsession)
    assert not result.ok
    assert result.first_bad_seq == start + 2


def test_swapped_rows_are_detected(dbsession: Session) -> None:
    start = _head(dbsession)
    _fill(dbsession, 5)
    a, b = start + 2, start + 3
    cols = ["at", "actor", "action", "subject_type", "subject_id", "data_json", "prev_hash", "hash"]
    row_a = dbsession.execute(
        select(*[getattr(AuditEntry, c) for c in cols]).where(AuditEntry.seq == a)
    ).one()
    row_b = dbsession.execute(
        select(*[getattr(AuditEntry, c) for c in cols]).where(AuditEntry.seq == b)
    ).one()
    # Free the unique hash first, then swap every column but seq.
    dbsession.execute(update(AuditEntry).where(AuditEntry.seq == a).values(hash="x" * 64))
    dbsession.execute(
        update(AuditEntry).where(AuditEntry.seq == b).values(dict(zip(cols, row_a, strict=True)))
    )
    dbsession.execute(
        update(AuditEntry).where(AuditEntry.seq == a).values(dict(zip(cols, row_b, strict=True)))
    )
    result = verify_chain(dbsession)
    assert not result.ok
    assert result.first_bad_seq == a


def test_deleted_newest_rows_need_an_anchor(dbsession: Session) -> None:
    _fill(dbsession, 4)
    before = verify_chain(dbsession)
    assert before.ok
    dbsession.execute(delete(AuditEntry).where(AuditEntry.seq == before.head_seq))
    # The chain alone still looks fine; the anchor kept from the last verify does not.
    assert verify_chain(dbsession).ok
    result = verify_chain(dbsession, anchor=(before.head_seq, before.head_hash))
    assert not result.ok
    assert result.first_bad_seq == before.head_seq


def test_naive_timestamp_refused(dbsession: Session) -> None:
    with pytest.raises(ValueError):
        record_many(dbsession, [AuditRecord("a", "b", "c", "d", {}, at=datetime(2026, 1, 1))])  # noqa: DTZ001
    record_many(dbsession, [AuditRecord("a", "b", "c", "d", {}, at=datetime(2026, 1, 1, tzinfo=UTC))])


@pytest.fixture()
def audit_cleanup(committed_engine: Engine) -> Iterator[int]:
    with Session(committed_engine) as session:
        start = _head(session)
    yield start
    with committed_engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.seq > start))


def test_concurrent_appends_keep_one_chain(committed_engine: Engine, audit_cleanup: int) -> None:
    """Threads appending at once (each its own transaction): one chain, no gaps, no fork."""
    threads_n, per_thread = 8, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_n)

    def append(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with Session(committed_engine) as session, session.begin():
                    entries = [
                        AuditRecord(f"worker:{worker}", "test.append", "thing", f"{worker}-{i}-{j}", {"j": j})
                        for j in range(1 + i % 3)
                    ]
                    record_many(session, entries)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    expected = threads_n * sum(1 + i % 3 for i in range(per_thread))
    with Session(committed_engine) as session:
        added = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.seq > audit_cleanup)
        )
        assert added == expected
        result = verify_chain(session)
    assert result.ok, result
    assert result.head_seq == audit_cleanup + expected


@pytest.mark.postgresql_only
def test_postgresql_appends_take_the_advisory_lock(committed_engine: Engine, audit_cleanup: int) -> None:
    """While one transaction holds the chain, another append waits instead of forking it."""
    first = Session(committed_engine)
    first.begin()
    record(first, "a", "test.lock", "thing", "1")
    done = threading.Event()

    def second() -> None:
        with Session(committed_engine) as session, session.begin():
            record(session, "b", "test.lock", "thing", "2")
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not done.wait(0.5)  # blocked on pg_advisory_xact_lock
    with committed_engine.connect() as conn:
        waiting = conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        ).scalar()
    assert waiting == 1
    first.commit()
    first.close()
    thread.join(10)
    assert done.is_set()
    with Session(committed_engine) as session:
        assert verify_chain(session).ok


def test_hub_admin_audit_verify(
    committed_engine: Engine, audit_cleanup: int, database_url: str, tmp_path: Any
) -> None:
    """``hub-admin <ini> audit verify``: exit 0 on an intact chain, 1 naming the edited row."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    ini = tmp_path / "admin.ini"
    ini.write_text(
        "[app:main]\nuse = egg:discom-hub\n"
        f"hub.database_url = {database_url.replace('%', '%%')}\nhub.secret_key = test-secret-key\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {"PYTHONPATH": str(root)}

    def verify() -> tuple[int, dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "hub.cli", str(ini), "audit", "verify"],
            check=False,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, json.loads(done.stdout)

    with Session(committed_engine) as session, session.begin():
        seqs = _fill(session, 3)
    code, out = verify()
    assert (code, out["ok"], out["head_seq"]) == (0, True, seqs[-1])
    with committed_engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.seq == seqs[1]).values(subject_id="N999999"))
    code, out = verify()
    assert (code, out["ok"], out["first_bad_seq"]) == (1, False, seqs[1])


def test_entry_hash_is_the_documented_canonical_json() -> None:
    """The hand-written canonical form must equal json.dumps(sort_keys=True), or old chains stop verifying."""
    import hashlib
    import json
    from datetime import UTC, datetime

    from hub.audit import entry_hash

    at = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    for actor, subject_id, data_json in [
        ("client:c_1", "MPCZ/ND/2026-27/000123", '{"reason":"बकाया राशि"}'),
        ('officer:"quoted"\\back', "\u2028\x00\ttab", "{}"),
        ("", "", '{"a":[1,2,{"b":null}]}'),
    ]:
        expected = json.dumps(
            {
                "seq": 42,
                "at": at.isoformat(timespec="microseconds"),
                "actor": actor,
                "action": "document.revoked",
                "subject_type": "document",
                "subject_id": subject_id,
                "data": data_json,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        want = hashlib.sha256(("f" * 64 + expected).encode("utf-8")).hexdigest()
        got = entry_hash(
            "f" * 64,
            seq=42,
            at=at,
            actor=actor,
            action="document.revoked",
            subject_type="document",
            subject_id=subject_id,
            data_json=data_json,
        )
        assert got == want


# Text COPY's text format must escape (tab, newline, carriage return, backslash, its \\N null
# marker) next to what JSON escapes (quotes, control characters), Devanagari left as is.
AWKWARD = ("1019990020", 'N"quoted"\\back', "विकास\tटैब", "line\nbreak\r", "\\N", "\u2028\x01")


def _entries_after(session: Session, start: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.seq > start).order_by(AuditEntry.seq)))


@pytest.mark.parametrize("size", [len(AWKWARD), 70])
def test_series_writes_exactly_the_entries_record_many_would(dbsession: Session, size: int) -> None:
    """Below 64 entries an INSERT, above it COPY on PostgreSQL: either way entry_hash's canonical entries."""
    start = _head(dbsession)
    head_hash = dbsession.scalar(select(AuditEntry.hash).where(AuditEntry.seq == start)) or GENESIS_HASH
    at = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    data = {"purpose": "ladli-behna", "fields": ["holder_name_hi", "bank_account:masked"], "via": "बकाया"}
    items = [(f"{AWKWARD[i % len(AWKWARD)]}/{i}", AWKWARD[(i + 1) % len(AWKWARD)]) for i in range(size)]
    seqs = record_series(dbsession, "client:c_1\t", "kyc.disclosed", "kyc_person", data, "number", items, at)
    assert seqs == range(start + 1, start + size + 1)
    rows = _entries_after(dbsession, start)
    prev = head_hash
    for row, (subject_id, value) in zip(rows, items, strict=True):
        data_json = canonical_data({**data, "number": value})
        assert (row.at, row.actor, row.action, row.subject_type) == (
            at,
            "client:c_1\t",
            "kyc.disclosed",
            "kyc_person",
        )
        assert (row.subject_id, row.data_json, row.prev_hash) == (subject_id, data_json, prev)
        assert row.hash == entry_hash(
            prev,
            seq=row.seq,
            at=at,
            actor="client:c_1\t",
            action="kyc.disclosed",
            subject_type="kyc_person",
            subject_id=subject_id,
            data_json=data_json,
        )
        prev = row.hash
    assert verify_chain(dbsession).ok


def test_record_many_copies_any_text(dbsession: Session) -> None:
    """record_many's COPY path (70 entries) writes every value back exactly as given."""
    start = _head(dbsession)
    entries = [
        AuditRecord(
            f"officer:{AWKWARD[i % len(AWKWARD)]}",
            "test.copy",
            "thing",
            AWKWARD[(i + 2) % len(AWKWARD)],
            {"remarks": AWKWARD[(i + 3) % len(AWKWARD)], "i": i},
        )
        for i in range(70)
    ]
    record_many(dbsession, entries)
    rows = _entries_after(dbsession, start)
    assert [(r.actor, r.subject_id, r.data) for r in rows] == [
        (e.actor, e.subject_id, dict(e.data)) for e in entries
    ]
    assert verify_chain(dbsession).ok


@pytest.mark.parametrize("size", [3, 70])
def test_series_whose_block_fails_leaves_no_entry(
    committed_engine: Engine, audit_cleanup: int, size: int
) -> None:
    """The block runs while the entries are written; when it raises, none of them is committed."""
    items = [(f"9000000{i:02d}", f"10199900{i:02d}") for i in range(size)]
    with pytest.raises(RuntimeError, match="rendering failed"):  # noqa: PT012 - the block is the subject
        with Session(committed_engine) as session, session.begin():
            with appending_series(
                session, "client:c_1", "kyc.disclosed", "kyc_person", {}, "n", items
            ) as seqs:
                assert len(seqs) == size
                raise RuntimeError("rendering failed")
    with Session(committed_engine) as session:
        assert _head(session) == audit_cleanup
    with Session(committed_engine) as session, session.begin():
        # The chain goes on from where it was.
        seqs = record_series(session, "client:c_1", "kyc.disclosed", "kyc_person", {}, "n", items)
        assert seqs[0] == audit_cleanup + 1
    with Session(committed_engine) as session:
        assert verify_chain(session).ok


def test_series_refuses_data_holding_its_slot_value(dbsession: Session) -> None:
    from hub.audit import _SLOT

    with pytest.raises(ValueError, match="slot"):
        record_series(dbsession, "a", "b", "c", {"x": _SLOT}, "n", [("s", "v")])
    assert record_series(dbsession, "a", "b", "c", {"x": "y"}, "n", []) == range(0)
