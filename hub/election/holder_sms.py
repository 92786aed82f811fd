"""Telling a certificate's holder by SMS which authority verified it: at most once a day.

After a partner (an authority, not an anonymous page visitor) verifies a
no-dues certificate, its holder is told by SMS which authority checked it: at
most one SMS per certificate per day in India time (:class:`HolderNotice` is
the ledger), however many times and by however many authorities it is checked.

The SMS is not decided while answering: the answer's log row is marked
``notify_holder`` (hub.certificates.log) and hub-worker claims marked rows
every few seconds (:func:`follow_verification_log`), so a web process spends
nothing on it beyond the log row, and a thousand checks become one ledger write.
Rows are claimed by their mark with a conditional UPDATE, not read after a
cursor by id: an id is handed out when a row is inserted, so a transaction
that commits late would land behind such a cursor and its row be missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from hub.models import PartnerClient
from hub.models.document import DocumentVerification, IssuedDocument
from hub.models.election import HolderNotice
from hub.models.meta import IST, utcnow
from hub.outbox import enqueue_sms, take_new_ids

SMS_TEMPLATE = "certificate_verified"
# Documents whose subject is a no-dues application: the application holds the holder's mobile.
NODUES_SUBJECT = "nodues_application"
# The periodic job's name in hub-worker.
HOLDER_NOTICES = "election.holder_notices"
# How often hub-worker looks (its scheduler ticks every few seconds): a holder hears within seconds.
HOLDER_NOTICES_INTERVAL_SECONDS = 2.0
# Log rows claimed per transaction.
FEED_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class _Check:
    """An authority's check of a no-dues certificate, read from the verification log."""

    document_id: int
    number: str
    subject_id: str
    client_id: str
    at: datetime


class FollowedLog(NamedTuple):
    read: int  # log rows claimed (fewer than the limit: caught up)
    texted: int  # SMS queued


# The marked rows, oldest first; rows another worker holds are left to it (SKIP LOCKED; SQLite
# has one writer at a time anyway). The predicate is the partial index's.
_DUE = (
    select(DocumentVerification.id)
    .where(text("notify_holder"))
    .order_by(DocumentVerification.id)
    .with_for_update(skip_locked=True)
)


def claim_checks(session: Session, limit: int) -> list[tuple[int, str, datetime]]:
    """Unmark up to ``limit`` marked log rows; return their (document, client, at), in ``session``.

    The claim commits with what the caller does about the rows: a run that fails gives them back.
    """
    claimed = session.execute(
        update(DocumentVerification)
        .where(DocumentVerification.id.in_(_DUE.limit(limit).scalar_subquery()))
        .values(notify_holder=None)
        .returning(DocumentVerification.document_id, DocumentVerification.client_id, DocumentVerification.at)
        .execution_options(synchronize_session=False)
    ).all()
    return [(d, c, at) for d, c, at in claimed if d is not None and c is not None]


def notify_holders(session: Session, limit: int = FEED_CHUNK) -> FollowedLog:
    """Text the holders of certificates authorities checked and nobody has told yet: once a day each.

    Claims marked log rows (:func:`claim_checks`) and writes the ledger rows and SMS in the same
    transaction: run again after a failure, it claims the same rows and the ledger keeps it from
    texting twice. Only an authority's checks that matched a certificate are marked (a wrong
    code tells the holder nothing: it may be a typo, and answering it would let anyone trigger
    SMS). Claims at most ``limit`` log rows.
    """
    claimed = claim_checks(session, limit)
    read = len(claimed)
    if not claimed:
        return FollowedLog(read, 0)
    documents = {
        row.id: row
        for row in session.execute(
            select(IssuedDocument.id, IssuedDocument.number, IssuedDocument.subject_id).where(
                IssuedDocument.id.in_(sorted({d for d, _, _ in claimed})),
                IssuedDocument.subject_type == NODUES_SUBJECT,
            )
        )
    }
    # (document, India day) -> the first authority to check it that day.
    firsts: dict[tuple[int, date], _Check] = {}
    for document_id, client_id, at in claimed:
        document = documents.get(document_id)
        if document is None:
            continue
        check = _Check(document_id, document.number, document.subject_id, client_id, at)
        key = (document_id, at.astimezone(IST).date())
        first = firsts.get(key)
        if first is None or check.at < first.at:
            firsts[key] = check
    if not firsts:
        return FollowedLog(read, 0)
    rows = [
        (doc_id, day, firsts[(doc_id, day)].client_id)
        for doc_id, day in sorted(firsts)  # one order for every writer: no deadlock between runs
    ]
    first_today = claim_first_notices(session, rows, utcnow())
    texted = 0
    texts = [firsts[key] for key in sorted(first_today)]
    mobiles = holder_mobiles(session, sorted({c.subject_id for c in texts}))
    names: dict[str, str] = {}
    for check in texts:
        mobile = mobiles.get(check.subject_id)
        if not mobile:
            continue
        if check.client_id not in names:
            names[check.client_id] = authority_name(session, check.client_id)
        when = check.at.astimezone(IST).strftime("%d-%m-%Y %H:%M")
        message = (
            f"Your no-dues certificate {check.number} was verified by {names[check.client_id]} on {when} IST. "
            "Not expected? Call 1912. MPCZ"
        )
        enqueue_sms(session, mobile, message, SMS_TEMPLATE)
        texted += 1
    return FollowedLog(read, texted)


def holder_notices_backlog(session: Session) -> dict[str, Any]:
    """For /readyz: how many log rows the holder-SMS follower has yet to claim."""
    due = session.execute(
        select(func.count()).select_from(DocumentVerification).where(text("notify_holder"))
    ).scalar_one()
    return {"rows_due": due}


def follow_verification_log(factory: sessionmaker[Session], on_commit: Callable[[list[int]], None]) -> int:
    """hub-worker's periodic job: :func:`notify_holders` until no marked row is left.

    Each chunk commits on its own; ``on_commit`` is told the outbox ids of its SMS. Returns the SMS queued.
    """
    texted = 0
    while True:
        with factory() as session:
            with session.begin():
                followed = notify_holders(session, FEED_CHUNK)
            on_commit(take_new_ids(session))
        texted += followed.texted
        if followed.read < FEED_CHUNK:
            return texted


# One statement for any number of notices, cached like any other. The arrays travel as array
# literals in one text parameter each: psycopg dumps a Python list element by element in Python,
# which for a thousand notices cost more than the rest of the run.
_CLAIM_PG = text(
    "INSERT INTO election_holder_notices (document_id, day, client_id, created_at) "
    "SELECT d, y, c, CAST(:at AS timestamptz) FROM unnest(CAST(:ids AS integer[]), "
    "CAST(:days AS date[]), CAST(:clients AS varchar[])) AS t(d, y, c) "
    "ON CONFLICT DO NOTHING RETURNING document_id, day"
)


def _pg_array(values: Iterable[str]) -> str:
    """PostgreSQL's text form of an array of ``values``: each element quoted, ``\\`` and ``"`` escaped."""
    return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"


def claim_first_notices(
    session: Session, rows: Sequence[tuple[int, date, str]], at: datetime
) -> list[tuple[int, date]]:
    """Insert (document, day, client) ledger rows made ``at``; return those that were new (the first check today).

    RETURNING, not rowcount: psycopg reports -1 after ON CONFLICT DO NOTHING.
    """
    if not rows:
        return []
    table = cast(Table, HolderNotice.__table__)
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "ids": _pg_array([str(r[0]) for r in rows]),
            "days": _pg_array([r[1].isoformat() for r in rows]),
            "clients": _pg_array([r[2] for r in rows]),
            "at": at,
        }
        return [(r[0], r[1]) for r in session.execute(_CLAIM_PG, params)]
    claimed: list[tuple[int, date]] = []
    for start in range(0, len(rows), 200):  # SQLite binds at most 32,766 parameters per statement
        part = [
            {"document_id": d, "day": day, "client_id": c, "created_at": at}
            for d, day, c in rows[start : start + 200]
        ]
        statement = sqlite_insert(table).values(part).on_conflict_do_nothing()
        claimed += [
            (r[0], r[1]) for r in session.execute(statement.returning(table.c.document_id, table.c.day))
        ]
    return claimed


# The subjects travel as one array literal, not an IN list: an IN list of a few hundred
# parameters is a new statement for every length, rendered by SQLAlchemy and parsed by
# psycopg and PostgreSQL each time.
_MOBILES_PG = text(
    "SELECT public_id, mobile FROM nodues_applications WHERE public_id = ANY(CAST(:ids AS varchar[]))"
)


def holder_mobiles(session: Session, subjects: Sequence[str]) -> dict[str, str]:
    """The mobile of each no-dues application among ``subjects`` (public ids); absent: none on file."""
    if not subjects:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        return {r[0]: r[1] for r in session.execute(_MOBILES_PG, {"ids": _pg_array(subjects)})}
    from hub.models.nodues import NoDuesApplication

    found: dict[str, str] = {}
    for start in range(0, len(subjects), 500):  # SQLite binds at most 32,766 parameters per statement
        query = select(NoDuesApplication.public_id, NoDuesApplication.mobile).where(
            NoDuesApplication.public_id.in_(subjects[start : start + 500])
        )
        found.update({r[0]: r[1] for r in session.execute(query)})
    return found


def authority_name(session: Session, client_id: str) -> str:
    """The partner's registered name, as the holder should read it (bounded, one line)."""
    name = session.execute(select(PartnerClient.name).where(PartnerClient.client_id == client_id)).scalar()
    cleaned = " ".join(str(name or client_id).split())
    return cleaned[:60]
