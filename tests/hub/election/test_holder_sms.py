"""The holders' SMS follow the verification log: hub-worker's job, not the answer's.

Log rows are written here as an answer writes them (``record_verifications``),
with the moments and authorities each test needs; ``follow_verification_log``
is what hub-worker runs every few seconds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from hub.certificates.log import record_verifications
from hub.certificates.verification import RegistryEntry, VerificationResult
from hub.db import Database
from hub.election.holder_sms import follow_verification_log, notify_holders
from hub.lookup import process_service
from hub.models.document import IssuedDocument
from tests.hub.election.conftest import AUTHORITY_NAME, Election

# 18:00 UTC is 23:30 in India: an hour later is the next India day.
EVENING = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def log(
    election: Election,
    record: IssuedDocument | None,
    client_id: str | None,
    at: datetime,
    number: str | None = None,
) -> None:
    """One log row, as an answer writes it, in its own transaction."""
    with Session(election.engine) as session, session.begin():
        write(session, record, client_id, at, number)


def write(
    session: Session,
    record: IssuedDocument | None,
    client_id: str | None,
    at: datetime,
    number: str | None = None,
) -> None:
    if record is None:
        result = VerificationResult("unknown", number or "MPCZ/ND/2026-27/9999999")
    else:
        result = VerificationResult("valid", number or record.number, RegistryEntry.of(record))
    verifier = f"client:{client_id}" if client_id else "ip:127.0.0.1"
    record_verifications(session, [result], "code", verifier, at, client_id)


def follow(election: Election) -> int:
    queued: list[int] = []
    texted = follow_verification_log(process_service(election.registry, Database).sessions, queued.extend)
    assert len(queued) == texted  # each SMS's outbox id reaches the worker's queue after the commit
    return texted


def texts(election: Election, mobile: str) -> list[str]:
    election.drain()
    return [m.text for m in election.sms(mobile)]


def test_first_authority_of_each_india_day_is_named_once(election: Election) -> None:
    follow(election)  # whatever earlier tests left in the log
    record, _code, mobile = election.certificate()
    first = election.authority(name="District Election Officer Bhopal")
    second = election.authority()
    log(election, record, second["client_id"], EVENING + timedelta(minutes=1))
    log(election, record, first["client_id"], EVENING)  # logged later, checked earlier
    log(election, record, second["client_id"], EVENING + timedelta(hours=1))  # the next day in India
    assert follow(election) == 2
    sent = texts(election, mobile)
    assert len(sent) == 2
    assert "District Election Officer Bhopal on 23-11-2026 23:30 IST" in sent[0]
    assert f"{AUTHORITY_NAME} on 24-11-2026 00:30 IST" in sent[1]
    # Again, and later checks the same days: the ledger has both days.
    log(election, record, first["client_id"], EVENING + timedelta(hours=2))
    assert follow(election) == 0
    assert len(texts(election, mobile)) == 2


def test_anonymous_checks_wrong_secrets_and_old_rows_text_nobody(election: Election) -> None:
    follow(election)
    record, _code, mobile = election.certificate()
    authority = election.authority()
    log(election, record, None, EVENING)  # anyone with the code, on the public page
    log(election, None, authority["client_id"], EVENING, number=record.number)  # a wrong code
    # A row nobody marked for its holder (logged before the log named authorities).
    with Session(election.engine) as session, session.begin():
        session.execute(
            text(
                "INSERT INTO document_verifications (at, document_id, number_given, method, outcome, verifier) "
                "VALUES (:at, :doc, :number, 'code', 'valid', :verifier)"
            ),
            {"at": EVENING, "doc": record.id, "number": record.number, "verifier": "client:old"},
        )
    assert follow(election) == 0
    assert texts(election, mobile) == []


def test_the_log_is_claimed_in_chunks_and_the_claim_commits_with_the_sms(election: Election) -> None:
    follow(election)
    issued = [election.certificate() for _ in range(5)]
    authority = election.authority()
    for record, _code, _mobile in issued:
        log(election, record, authority["client_id"], EVENING)
    factory = process_service(election.registry, Database).sessions
    with factory() as session, session.begin():
        chunk = notify_holders(session, limit=2)
        assert chunk.read == 2 and chunk.texted == 2
    # A run that fails after claiming gives its rows back with its SMS: the next run sends them.
    with pytest.raises(RuntimeError), factory() as session, session.begin():
        assert notify_holders(session, limit=2).texted == 2
        raise RuntimeError("worker died mid-run")
    behind = election.app.get("/readyz").json["info"]["holder_sms"]
    assert behind["rows_due"] == 3
    assert follow(election) == 3  # the failed run's two, then the last one
    assert [len(texts(election, m)) for _r, _c, m in issued] == [1] * 5
    assert election.app.get("/readyz").json["info"]["holder_sms"]["rows_due"] == 0


@pytest.mark.postgresql_only
def test_a_check_that_commits_after_a_later_one_is_still_told(election: Election) -> None:
    """Two answers interleaved: the first to take an id commits last, after the follower ran."""
    follow(election)
    record, _code, mobile = election.certificate()
    later, _code2, later_mobile = election.certificate()
    authority = election.authority()
    first = Session(election.engine)
    first.begin()
    write(first, record, authority["client_id"], EVENING)  # the lower id, not yet committed
    done = threading.Event()

    def answer_later() -> None:
        log(election, later, authority["client_id"], EVENING)
        done.set()

    thread = threading.Thread(target=answer_later)
    thread.start()
    try:
        assert done.wait(10), "an answer's log write waited for another's transaction"
        assert follow(election) == 1  # the later id, committed first
        assert len(texts(election, later_mobile)) == 1
    finally:
        first.commit()
        first.close()
        thread.join(10)
    assert follow(election) == 1  # the earlier id, committed late: not skipped
    assert len(texts(election, mobile)) == 1
    assert follow(election) == 0
