"""Verifying certificates for the election authority: one question or a thousand, one answer shape.

A single question goes through :func:`hub.documents.verify_by_number`, the
same function as REST ``verifyCertificate``; a batch goes through
:func:`hub.documents.verify_numbers` too: one registry lookup for all its
numbers, every item judged by the same rule, all logged together
(hub.verifications). A malformed item is answered with an error of its own
and never fails the batch.

After a partner (an authority, not an anonymous page visitor) verifies a
certificate, its holder is told by SMS which authority checked it: at most
one SMS per certificate per day in India time (:class:`HolderNotice` is the
ledger), however many times and by however many authorities it is checked.
The SMS is not decided while answering: hub-worker follows the verification
log every few seconds (:func:`follow_verification_log`), so a web process
spends nothing on it per verification and a thousand checks become one
ledger write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, cast

from pyramid.request import Request
from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from forms.errors import FormError
from forms.reader import clean_text
from hub.documents import (
    IST,
    CertificateQuestion,
    VerificationResult,
    verify_by_number,
    verify_numbers,
)
from hub.models import FeedCursor, PartnerClient
from hub.models.document import DocumentVerification, IssuedDocument
from hub.models.election import HolderNotice
from hub.models.meta import utcnow
from hub.outbox import enqueue_sms, take_new_ids
from hub.registry import SessionSource

MAX_BATCH = 1000
SMS_TEMPLATE = "certificate_verified"
# Documents whose subject is a no-dues application: the application holds the holder's mobile.
NODUES_SUBJECT = "nodues_application"


class RejectedQuestion(NamedTuple):
    """A batch item that could not be asked; its ``ref`` is still echoed so the caller finds the row."""

    error: FormError
    ref: str | None = None


def read_ref(data: Mapping[str, Any]) -> str | None:
    raw = data.get("ref")
    if not isinstance(raw, str):
        return None
    return clean_text(raw)[:64] or None


class BatchItem(NamedTuple):
    """One answer of a batch: a result, or why the item could not be asked.

    A NamedTuple, as the other per-item values of a batch: a frozen dataclass's ``__init__``
    cost ~0.7 µs an item more.
    """

    # The item's place in the batch (shadows tuple.index, which nothing here calls).
    index: int  # type: ignore[assignment]
    ref: str | None
    result: VerificationResult | None = None
    error: FormError | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index}
        if self.ref is not None:
            out["ref"] = self.ref
        if self.result is not None:
            out["result"] = self.result.as_dict()
        elif self.error is not None:
            out["error"] = item_error(self.error)
        return out


def item_error(error: FormError) -> dict[str, str]:
    first = error.problems[0] if error.problems else None
    out = {"code": error.code, "message": first.message if first else error.message}
    if first is not None:
        # The field inside the item ("number"), not the reader's path.
        out["field"] = first.field.rsplit("/", 1)[-1]
    return out


def verify_one(
    request: Request, question: CertificateQuestion, now: datetime | None = None
) -> VerificationResult:
    """One question from an authenticated partner: REST verifyCertificate's own function."""
    partner = request.partner
    return verify_by_number(
        request.registry,
        lambda: request.dbsession,
        question,
        verifier=f"client:{partner.client_id}",
        client_id=partner.client_id,
        now=now,
    )


def verify_many(
    registry: Mapping[str, Any],
    session: SessionSource,
    questions: Sequence[CertificateQuestion | RejectedQuestion],
    *,
    client_id: str,
    now: datetime | None = None,
    inline: bool = False,
) -> list[BatchItem]:
    """Answer a batch in order: one registry lookup, one log write, the holders' SMS deduplicated."""
    if len(questions) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} questions in one batch")
    asked = [q for q in questions if isinstance(q, CertificateQuestion)]
    answered = verify_numbers(
        registry,
        session,
        asked,
        verifier=f"client:{client_id}",
        client_id=client_id,
        now=now,
        inline=inline,
    )
    results = iter(answered)
    return [
        BatchItem(index, question.ref, error=question.error)
        if isinstance(question, RejectedQuestion)
        else BatchItem(index, question.ref, next(results))
        for index, question in enumerate(questions)
    ]


# ----------------------------------------------------------------- holder SMS


# The holders' SMS follow the verification log (hub.verifications) from this cursor, in hub-worker.
HOLDER_NOTICES = "election.holder_notices"
# How often hub-worker looks (its scheduler ticks every few seconds): a holder hears within seconds.
HOLDER_NOTICES_INTERVAL_SECONDS = 2.0
# Log rows read per transaction.
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
    read: int  # log rows read (fewer than the limit: caught up)
    texted: int  # SMS queued


def notify_holders(session: Session, limit: int = FEED_CHUNK) -> FollowedLog:
    """Text the holders of certificates authorities checked since the last call: once a day each.

    Follows ``document_verifications`` from its :class:`FeedCursor` (writers append under
    the feed lock, so no row commits behind the cursor) and moves the cursor in the same
    transaction as the ledger rows and SMS it writes: run again after a failure, it reads
    the same rows and the ledger keeps it from texting twice. Only an authority's checks
    that matched a certificate count (a wrong code tells the holder nothing: it may be a
    typo, and answering it would let anyone trigger SMS). Reads at most ``limit`` log rows.
    """
    cursor = session.execute(
        select(FeedCursor).where(FeedCursor.name == HOLDER_NOTICES).with_for_update()
    ).scalar_one_or_none()
    if cursor is None:
        cursor = FeedCursor(name=HOLDER_NOTICES, position=0)
        session.add(cursor)
    after = cursor.position
    window = (
        select(DocumentVerification.id)
        .where(DocumentVerification.id > after)
        .order_by(DocumentVerification.id)
        .limit(limit)
        .subquery()
    )
    upto, read = session.execute(select(func.max(window.c.id), func.count())).one()
    if upto is None:
        return FollowedLog(0, 0)
    checks = session.execute(
        select(
            IssuedDocument.id,
            IssuedDocument.number,
            IssuedDocument.subject_id,
            DocumentVerification.client_id,
            DocumentVerification.at,
        )
        .join(IssuedDocument, IssuedDocument.id == DocumentVerification.document_id)
        .where(
            DocumentVerification.id > after,
            DocumentVerification.id <= upto,
            DocumentVerification.client_id.is_not(None),
            IssuedDocument.subject_type == NODUES_SUBJECT,
        )
    ).all()
    cursor.position = upto
    cursor.updated_at = utcnow()
    # (document, India day) -> the first authority to check it that day.
    firsts: dict[tuple[int, date], _Check] = {}
    for document_id, number, subject_id, client_id, at in checks:
        check = _Check(document_id, number, subject_id, client_id or "", at)
        key = (check.document_id, check.at.astimezone(IST).date())
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
    """For /readyz: how many log rows the holder-SMS follower has yet to read (ids, so an upper bound)."""
    newest = session.execute(select(func.max(DocumentVerification.id))).scalar() or 0
    cursor = session.execute(select(FeedCursor).where(FeedCursor.name == HOLDER_NOTICES)).scalar_one_or_none()
    return {
        "rows_behind": max(0, newest - (cursor.position if cursor else 0)),
        "followed_at": cursor.updated_at.isoformat() if cursor else None,
    }


def follow_verification_log(factory: sessionmaker[Session], on_commit: Callable[[list[int]], None]) -> int:
    """hub-worker's periodic job: :func:`notify_holders` until it has caught up with the log.

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
# which for a thousand notices cost more than the rest of the journal's bulk write.
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
# psycopg and PostgreSQL each time (~20 µs a verification in the journal's bulk write).
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
