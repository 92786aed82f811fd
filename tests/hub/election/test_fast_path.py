"""Scrutiny-day settings: the deferred verification journal and the host-local registry replica.

The rest of the election tests log verifications inline (tests/conftest.py);
this module runs the hub as production does (``hub.verification.log = deferred``
and a replica file) and checks that nothing is lost and nothing stale is told.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import hub.registry as registry_module
from hub import verifications
from hub.certificate_xml import certificate_xml
from hub.documents import revoke_document
from hub.models.document import DocumentVerification, IssuedDocument
from hub.registry import (
    ENTRY_COLUMNS,
    REPLICA_VERSION,
    STAMP_REREAD_SECONDS,
    CertificateRegistry,
    RegistryReplica,
    StoredSummary,
    _entry,
    _from_replica,
    _replica_row,
)
from hub.verifications import VerificationJournal
from tests.hub.election.conftest import Election

VERIFY = "/api/v1/certificates/verify"
BATCH = "/api/v1/election/verifications"


@pytest.fixture(scope="module")
def replica_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replica") / "registry.lmdb"


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any], replica_path: Path) -> dict[str, Any]:
    return {
        **live_settings,
        "hub.verification.log": "deferred",
        "hub.verification.flush_seconds": "0.05",
        "hub.registry.replica_path": str(replica_path),
        "hub.registry.replica_poll_seconds": "0.05",
        "hub.registry.replica_max_lag_seconds": "1.0",
    }


@pytest.fixture(scope="module", autouse=True)
def _stop_background_threads(live_wsgi_app: Any) -> Iterator[None]:
    yield
    registry = live_wsgi_app.registry
    registry["verification_journal"].stop()
    replica = registry["certificate_registry"].replica
    if replica is not None:
        replica.stop()


def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def logged(election: Election, number: str) -> int:
    with election.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(DocumentVerification.number_given == number)).scalar_one()
        )


def journal(election: Election) -> VerificationJournal:
    found: VerificationJournal = election.registry["verification_journal"]
    return found


def replica(election: Election) -> RegistryReplica:
    lookup: CertificateRegistry = election.registry["certificate_registry"]
    assert lookup.replica is not None
    return lookup.replica


def replica_is_used(follower: RegistryReplica, number: str) -> bool:
    return follower.lookup([number]) is not None


def replica_holds(election: Election, number: str) -> bool:
    found = replica(election).lookup([number])
    return bool(found) and number in found


# ----------------------------------------------------------------- the deferred journal


def test_deferred_log_and_holder_sms_are_written_in_the_background(election: Election) -> None:
    record, code, mobile = election.certificate()
    authority = election.authority()
    for _ in range(3):
        answer = election.app.post_json(
            VERIFY, {"number": record.number, "code": code}, headers=authority["headers"]
        ).json
        assert answer["status"] == "valid"
    # Nobody calls flush: the journal's own thread writes the rows.
    assert eventually(lambda: logged(election, record.number) == 3)
    election.drain()
    sent = election.sms(mobile)
    assert len(sent) == 1, "one SMS per certificate per day, however many checks"
    assert record.number in sent[0].text


def test_a_batch_is_logged_in_bulk_and_texts_each_holder_once(election: Election) -> None:
    issued = [election.certificate() for _ in range(3)]
    authority = election.authority()
    items = [{"ref": f"r{i}", "number": r.number, "code": c} for i, (r, c, _m) in enumerate(issued)]
    items += items[:1]  # the same certificate twice in one batch
    answer = election.app.post_json(BATCH, {"items": items}, headers=authority["headers"]).json
    assert [i["result"]["status"] for i in answer["items"]] == ["valid"] * 4
    journal(election).flush()
    assert [logged(election, r.number) for r, _c, _m in issued] == [2, 1, 1]
    election.drain()
    assert [len(election.sms(m)) for _r, _c, m in issued] == [1, 1, 1]


def test_rows_the_database_refuses_are_kept_and_written_later(
    election: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, code, _mobile = election.certificate()
    held = journal(election)
    held.flush()

    def refusing() -> Session:
        raise ConnectionError("database unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(held, "factory", refusing)
        # Stop the background thread's attempts from racing the explicit ones below.
        patch.setattr(held, "flush_seconds", 3600.0)
        election.app.post_json(VERIFY, {"number": record.number, "code": code})
        with pytest.raises(ConnectionError):
            held.flush()
        assert held.pending >= 1
        assert logged(election, record.number) == 0
    assert held.flush() >= 1
    assert logged(election, record.number) == 1


def test_a_full_journal_writes_in_the_request_instead(
    election: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, code, _mobile = election.certificate()
    monkeypatch.setattr(verifications, "MAX_PENDING", 0)
    election.app.post_json(VERIFY, {"number": record.number, "code": code})
    # Written in the request's own transaction: there when the answer is.
    assert logged(election, record.number) == 1


# ----------------------------------------------------------------- the registry replica


def test_the_replica_follows_issues_and_revocations(election: Election) -> None:
    record, code, _mobile = election.certificate()
    # Issued a moment ago: answered from the database until the replica has it.
    assert election.app.post_json(VERIFY, {"number": record.number, "code": code}).json["status"] == "valid"
    assert eventually(lambda: replica_holds(election, record.number))

    # Write the verification's log row first: on SQLite a transaction that has read cannot
    # start writing once another connection (the journal's) has committed since its read.
    journal(election).flush()
    with Session(election.engine, expire_on_commit=False) as session, session.begin():
        doc = session.get(IssuedDocument, record.id)
        assert doc is not None
        revoke_document(session, doc, "officer:dgm-1", "dues found after issue")
    assert eventually(
        lambda: (
            replica(election).lookup([record.number])
            and replica(election).lookup([record.number])[record.number].status == "revoked"
        )
    )
    answer = election.app.post_json(VERIFY, {"number": record.number, "code": code}).json
    assert answer["status"] == "revoked"
    assert answer["revocation_reason"] == "dues found after issue"


def test_verification_reads_the_replica_while_it_is_fresh(election: Election, replica_path: Path) -> None:
    record, code, _mobile = election.certificate()
    assert eventually(lambda: replica_holds(election, record.number))
    assert replica_path.stat().st_mode & 0o077 == 0, "the replica is the hub user's alone"
    # An edit that bypasses the change feed (never done by the hub) shows which copy answered.
    with election.engine.begin() as conn:
        conn.execute(update(IssuedDocument).where(IssuedDocument.id == record.id).values(status="superseded"))
    try:
        answer = election.app.post_json(VERIFY, {"number": record.number, "code": code}).json
        assert answer["status"] == "valid", "answered from the replica"
    finally:
        with election.engine.begin() as conn:
            conn.execute(update(IssuedDocument).where(IssuedDocument.id == record.id).values(status="valid"))


def test_the_replica_answers_by_holder_name_and_in_full_from_its_stored_summary(election: Election) -> None:
    record, code, _mobile = election.certificate(name_latin="Asha Verma")
    assert eventually(lambda: replica_holds(election, record.number))
    entry = replica(election).lookup([record.number])
    assert entry is not None
    summary = entry[record.number].public_summary
    assert isinstance(summary, StoredSummary)
    assert summary == record.public_summary
    by_code = election.app.post_json(VERIFY, {"number": record.number, "code": code}).json
    assert by_code["holder_name"] == record.public_summary["holder_name"]
    assert by_code["connections"] == record.public_summary["connections"]
    headers = election.authority()["headers"]
    by_name = election.app.post_json(
        VERIFY, {"number": record.number, "holder_name": "asha  VERMA"}, headers=headers
    ).json
    assert by_name["status"] == "valid"
    wrong_name = election.app.post_json(
        VERIFY, {"number": record.number, "holder_name": "Usha Verma"}, headers=headers
    ).json
    assert wrong_name == {"number": record.number, "status": "unknown"}


def test_a_stale_replica_is_not_used(election: Election, replica_path: Path) -> None:
    record, code, _mobile = election.certificate()
    assert eventually(lambda: replica_holds(election, record.number))
    follower = replica(election)
    with election.engine.begin() as conn:
        conn.execute(update(IssuedDocument).where(IssuedDocument.id == record.id).values(status="superseded"))
    # The follower stamps the replica every poll; an old stamp is what a stuck follower leaves.
    follower.stop()
    try:
        time.sleep(0.3)  # the follower's thread ends within a poll
        follower._stamp(time.time() - 60)
        assert replica_is_used(follower, record.number) is False
        answer = election.app.post_json(VERIFY, {"number": record.number, "code": code}).json
        assert answer["status"] == "superseded", "answered from the database"
    finally:
        with election.engine.begin() as conn:
            conn.execute(update(IssuedDocument).where(IssuedDocument.id == record.id).values(status="valid"))
        follower.resume()
    assert eventually(lambda: replica_holds(election, record.number)), "following again"


def test_readyz_shows_the_replica_lag_without_judging_by_it(election: Election) -> None:
    record, _code, _mobile = election.certificate()
    assert eventually(lambda: replica_holds(election, record.number))
    info = election.app.get("/readyz").json["info"]["registry_replica"]
    assert info["used"] is True and 0 <= info["lag_seconds"] < 1.0


def test_unknown_numbers_and_wrong_codes_answer_alike(election: Election) -> None:
    record, code, _mobile = election.certificate()
    assert eventually(lambda: replica_holds(election, record.number))
    wrong = election.app.post_json(VERIFY, {"number": record.number, "code": "AAAA-BBBB-CCCC"}).json
    missing = election.app.post_json(VERIFY, {"number": "MPCZ/ND/2026-27/999999", "code": code}).json
    assert wrong == {"number": record.number, "status": "unknown"}
    assert missing == {"number": "MPCZ/ND/2026-27/999999", "status": "unknown"}


@pytest.mark.parametrize("revoked", [False, True])
def test_an_entry_reads_back_from_the_replica_as_the_database_gives_it(revoked: bool) -> None:
    issued = datetime(2026, 11, 22, 6, 10, 12, 123456, tzinfo=UTC)
    columns: dict[str, Any] = {
        "id": 7,
        "number": "MPCZ/ND/2026-27/0000007",
        "status": "revoked" if revoked else "valid",
        "issued_at": issued,
        # Another offset (a session in India time) is kept as the database gave it.
        "valid_until": (issued + timedelta(days=90)).astimezone(timezone(timedelta(hours=5, minutes=30))),
        "verification_code_sha256": "ab" * 32,
        "holder_samagra_id": None if revoked else "123456789",
        "public_summary": {
            "holder_name": "किरण शर्मा (Kiran Sharma)",
            "connections": [{"consumer_number": "4512300001", "dues": "0.00"}],
            "no_connection": False,
            "purpose": {"ward": "7"},
        },
        "subject_type": "nodues_application",
        "subject_id": "ND-7",
        "xml_sha256": "0" * 64,
        "revoked_at": issued + timedelta(days=3) if revoked else None,
        "revocation_reason": "dues found after issue" if revoked else None,
        "superseded_by_id": 9 if revoked else None,
    }
    row = tuple(columns[name] for name in ENTRY_COLUMNS)  # a database row, as _SELECT_ENTRY reads it
    number, blob = _replica_row(row)
    entry = _from_replica(blob)
    assert number == entry.number == "MPCZ/ND/2026-27/0000007"
    assert entry == _entry(row)  # what a lookup in the database makes of the same row
    assert entry.issued_at == "2026-11-22T06:10:12.123456+00:00"
    assert entry.valid_until == "2027-02-20T11:40:12.123456+05:30"
    assert entry.revoked_at == ("2026-11-25T06:10:12.123456+00:00" if revoked else None)
    assert entry.public_summary == columns["public_summary"]
    assert isinstance(entry.public_summary, StoredSummary), "decoded only when read"
    assert entry.status_at(issued) == columns["status"]
    assert entry.status_at(issued + timedelta(days=91)) == ("revoked" if revoked else "expired")
    # The answer part is written with the entry, from the values it carries.
    assert entry.answer_xml == certificate_xml(
        entry.status,
        entry.issued_at,
        entry.valid_until,
        entry.public_summary,
        entry.revoked_at,
        entry.revocation_reason,
        entry.superseded_by_id,
    )
    assert (
        b"<e:revocation_reason>dues found after issue</e:revocation_reason>" in entry.answer_xml
    ) is revoked
    assert (b"<e:superseded>true</e:superseded>" in entry.answer_xml) is revoked
    assert "<e:holder_name>किरण शर्मा (Kiran Sharma)</e:holder_name>".encode() in entry.answer_xml


def test_an_entry_whose_answer_part_cannot_be_written_is_still_stored_and_read() -> None:
    issued = datetime(2026, 11, 22, 6, 10, 12, tzinfo=UTC)
    columns: dict[str, Any] = {
        "id": 8,
        "number": "MPCZ/ND/2026-27/0000008",
        "status": "valid",
        "issued_at": issued,
        "valid_until": issued + timedelta(days=90),
        "verification_code_sha256": "ab" * 32,
        "holder_samagra_id": None,
        "public_summary": {"holder_name": "Kiran \ud800"},  # a lone surrogate: no UTF-8 for it
        "subject_type": "nodues_application",
        "subject_id": "ND-8",
        "xml_sha256": "0" * 64,
        "revoked_at": None,
        "revocation_reason": None,
        "superseded_by_id": None,
    }
    row = tuple(columns[name] for name in ENTRY_COLUMNS)
    assert _entry(row).answer_xml is None
    _number, blob = _replica_row(row)  # the follower is not stopped by it
    entry = _from_replica(blob)
    assert entry.answer_xml is None
    assert entry.public_summary == {"holder_name": "Kiran \ud800"}


class _Clock:
    """hub.registry's ``time``, with a monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_a_process_reads_the_stamp_again_after_a_tenth_of_a_second(
    election: Election, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, _code, _mobile = election.certificate()
    clock = _Clock()
    monkeypatch.setattr(registry_module, "time", clock)
    fresh = RegistryReplica(tmp_path / "stamp.lmdb", election.engine, max_lag_seconds=3.0)
    fresh.stop()  # no follower: this test stamps the file itself
    try:
        fresh.sync_once()
        assert record.number in (fresh.lookup([record.number]) or {})
        # The file's stamp turns stale behind this process's back (as when its follower stops).
        with fresh._writable().begin(write=True) as txn:
            txn.put(b"\x00synced_at", repr(time.time() - 60).encode())
        clock.now += STAMP_REREAD_SECONDS / 2
        assert record.number in (fresh.lookup([record.number]) or {}), "the stamp read a moment ago"
        clock.now += STAMP_REREAD_SECONDS
        assert fresh.lookup([record.number]) is None, "read again: stale, so the database answers"
        fresh._stamp(time.time())
        assert record.number in (fresh.lookup([record.number]) or {}), "its own stamp is read at once"
    finally:
        fresh.close()


def test_a_replica_of_another_version_is_rebuilt(election: Election, tmp_path: Path) -> None:
    record, _code, _mobile = election.certificate()
    path = tmp_path / "old.lmdb"
    fresh = RegistryReplica(path, election.engine)
    fresh.stop()  # no follower: this test syncs the file itself
    try:
        with fresh._writable().begin(write=True) as txn:
            txn.put(b"\x00version", b"0")
            txn.put(b"\x00change_id", b"0")
            txn.put(b"MPCZ/ND/2026-27/OLD", b"an entry of the old format")
        written = fresh.sync_once()
        total = total_before(election)
        assert written == total
        assert fresh.contents()[0] == total, "the old entries are gone"
        with fresh._writable().begin() as txn:
            assert txn.get(b"\x00version") == REPLICA_VERSION.encode()
        assert record.number in (fresh.lookup([record.number]) or {})
    finally:
        fresh.close()


def test_a_batch_lookup_reads_every_number_the_replica_holds_and_no_unstamped_copy(
    election: Election, tmp_path: Path
) -> None:
    records = [election.certificate()[0] for _ in range(3)]
    path = tmp_path / "batch.lmdb"
    replica = RegistryReplica(path, election.engine)
    replica.stop()  # no follower: this test stamps the file itself
    try:
        replica.sync_once()
        # Repeated and unknown numbers, and strings no number is: each held one found once.
        odd = ["", "\x00synced_at", "X" * 600]
        wanted = [r.number for r in records] * 2 + [f"MPCZ/ND/2026-27/9{i:06d}" for i in range(600)] + odd
        found = replica.lookup(wanted)
        assert found is not None and sorted(found) == sorted(r.number for r in records)
        assert all(found[r.number].id == r.id for r in records)
        assert replica.lookup(["MPCZ/ND/2026-27/9999999"]) == {}
        # Entries without the stamp (never written so, but never trusted): the database answers.
        replica._stamp(None)
        assert replica.lookup(wanted) is None
        assert replica.lookup([records[0].number]) is None
        assert replica.contents() == (total_before(election), None), "every entry, no stamp"
    finally:
        replica.close()


def total_before(election: Election) -> int:
    with election.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(IssuedDocument)).scalar_one())


def test_a_replica_that_cannot_be_written_leaves_verification_to_the_database(
    election: Election, tmp_path: Path
) -> None:
    record, code, _mobile = election.certificate()
    # A directory where the file should be: the follower fails, keeps trying, and nothing breaks.
    path = tmp_path / "replica.lmdb"
    path.mkdir()
    broken = RegistryReplica(path, election.engine, poll_seconds=0.05)
    try:
        assert broken.lookup([record.number]) is None
        time.sleep(0.3)
        assert broken.lookup([record.number]) is None
        # A session that is closed: an open one would hold its read transaction past the test.
        with Session(election.engine) as session:
            answered = CertificateRegistry(broken).lookup_one(session, record.number)
        assert answered is not None and answered.id == record.id, "the database answered"
    finally:
        broken.stop()
