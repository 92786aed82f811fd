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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from pyramid.request import Request
from sqlalchemy import Table, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from forms.errors import FormError
from forms.reader import clean_text
from hub.documents import (
    IST,
    CertificateQuestion,
    VerificationResult,
    verify_by_number,
    verify_numbers,
)
from hub.models import PartnerClient
from hub.models.election import HolderNotice
from hub.models.meta import utcnow
from hub.registry import SessionSource
from hub.verifications import Verification

MAX_BATCH = 1000
SMS_TEMPLATE = "certificate_verified"
# Documents whose subject is a no-dues application: the application holds the holder's mobile.
NODUES_SUBJECT = "nodues_application"


@dataclass(frozen=True)
class RejectedQuestion:
    """A batch item that could not be asked; its ``ref`` is still echoed so the caller finds the row."""

    error: FormError
    ref: str | None = None


def read_ref(data: Mapping[str, Any]) -> str | None:
    raw = data.get("ref")
    if not isinstance(raw, str):
        return None
    return clean_text(raw)[:64] or None


@dataclass(frozen=True)
class BatchItem:
    """One answer of a batch: a result, or why the item could not be asked."""

    index: int
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
    results = iter(
        verify_numbers(
            registry,
            session,
            asked,
            verifier=f"client:{client_id}",
            client_id=client_id,
            now=now,
            inline=inline,
        )
    )
    items: list[BatchItem] = []
    for index, question in enumerate(questions):
        if isinstance(question, RejectedQuestion):
            items.append(BatchItem(index, question.ref, error=question.error))
        else:
            items.append(BatchItem(index, question.ref, result=next(results)))
    return items


# ----------------------------------------------------------------- holder SMS


def notify_holders(session: Session, verifications: Sequence[Verification]) -> int:
    """Queue "your certificate was verified by <authority>" to each matched holder, once a day.

    A verification hook (hub.verifications): runs with the log rows, inline or
    in the deferred journal's bulk write. Only an authority's checks that
    matched a certificate count (a wrong code tells the holder nothing: it may
    be a typo, and answering it would let anyone trigger SMS). Returns the
    number of SMS queued.
    """
    # (document, day) -> the first authority to check it that day, with when.
    firsts: dict[tuple[int, date], Verification] = {}
    # The India day of each moment: a batch's verifications share one moment (one object).
    days: dict[datetime, date] = {}
    for v in verifications:
        entry = v.entry
        if v.client_id is None or entry is None or entry.subject_type != NODUES_SUBJECT:
            continue
        day = days.get(v.at)
        if day is None:
            day = days[v.at] = v.at.astimezone(IST).date()
        key = (entry.id, day)
        if key not in firsts or v.at < firsts[key].at:
            firsts[key] = v
    if not firsts:
        return 0
    rows = [
        (doc_id, day, firsts[(doc_id, day)].client_id or "")
        for doc_id, day in sorted(firsts)  # one order for every writer: no deadlock between batches
    ]
    first_today = claim_first_notices(session, rows, utcnow())
    if not first_today:
        return 0
    from hub.outbox import enqueue_sms

    texts = [firsts[(doc_id, day)] for doc_id, day in sorted(first_today)]
    mobiles = holder_mobiles(session, sorted({v.entry.subject_id for v in texts if v.entry is not None}))
    names: dict[str, str] = {}
    queued = 0
    for v in texts:
        entry = v.entry
        mobile = mobiles.get(entry.subject_id) if entry is not None else None
        if entry is None or not mobile or v.client_id is None:
            continue
        if v.client_id not in names:
            names[v.client_id] = authority_name(session, v.client_id)
        when = v.at.astimezone(IST).strftime("%d-%m-%Y %H:%M")
        message = (
            f"Your no-dues certificate {entry.number} was verified by {names[v.client_id]} on {when} IST. "
            "Not expected? Call 1912. MPCZ"
        )
        enqueue_sms(session, mobile, message, SMS_TEMPLATE)
        queued += 1
    return queued


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
