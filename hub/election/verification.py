"""Verifying certificates for the election authority: one question or a thousand, one answer shape.

A single question goes through :func:`hub.documents.verify_by_number`, the
same function as REST ``verifyCertificate``; a batch looks its numbers up
with one ``IN`` query and judges every item with the same rule
(:func:`hub.documents.judge_verification`), logging all of them in one
multi-row INSERT. A malformed item is answered with an error of its own and
never fails the batch.

After a partner (an authority, not an anonymous page visitor) verifies a
certificate, its holder is told by SMS which authority checked it: at most
one SMS per certificate per day in India time (:class:`HolderNotice` is the
ledger), however many times and by however many authorities it is checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyramid.request import Request
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from forms.errors import FormError
from forms.reader import clean_text
from hub.documents import (
    IST,
    VerificationResult,
    find_documents,
    judge_verification,
    log_verifications,
    verify_by_number,
)
from hub.models import PartnerClient
from hub.models.election import HolderNotice
from hub.models.meta import utcnow
from hub.views.certificates import CertificateQuestion

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
    """One question from an authenticated partner: REST verifyCertificate's own function, then the SMS."""
    now = now or utcnow()
    partner = request.partner
    result = verify_by_number(
        request.dbsession,
        question.number,
        code=question.code,
        holder_name=question.holder_name,
        samagra_id=question.samagra_id,
        verifier=f"client:{partner.client_id}",
        method=question.method,
        now=now,
    )
    notify_holders(request.dbsession, [result], partner.client_id, now)
    return result


def verify_many(
    session: Session,
    questions: Sequence[CertificateQuestion | RejectedQuestion],
    *,
    client_id: str,
    now: datetime | None = None,
) -> list[BatchItem]:
    """Answer a batch in order: one lookup query, one log INSERT, the holders' SMS deduplicated."""
    if len(questions) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} questions in one batch")
    now = now or utcnow()
    asked = [q for q in questions if isinstance(q, CertificateQuestion)]
    records = find_documents(session, [q.number for q in asked])
    items: list[BatchItem] = []
    by_method: dict[str, list[VerificationResult]] = {}
    for index, question in enumerate(questions):
        if isinstance(question, RejectedQuestion):
            items.append(BatchItem(index, question.ref, error=question.error))
            continue
        result = judge_verification(
            records.get(question.number),
            question.number,
            code=question.code,
            holder_name=question.holder_name,
            samagra_id=question.samagra_id,
            now=now,
        )
        by_method.setdefault(question.method, []).append(result)
        items.append(BatchItem(index, question.ref, result=result))
    verifier = f"client:{client_id}"
    for method, results in by_method.items():
        log_verifications(session, results, method, verifier)
    notify_holders(session, [i.result for i in items if i.result is not None], client_id, now)
    return items


# ----------------------------------------------------------------- holder SMS


def notify_holders(
    session: Session, results: Sequence[VerificationResult], client_id: str, now: datetime
) -> int:
    """Queue "your certificate was verified by <authority>" to each matched holder, once a day.

    Only results that matched a certificate count (a wrong code tells the
    holder nothing: it may be a typo, and answering it would let anyone
    trigger SMS). Returns the number of SMS queued.
    """
    documents = {
        r.record.id: r.record
        for r in results
        if r.record is not None and r.record.subject_type == NODUES_SUBJECT
    }
    if not documents:
        return 0
    day = now.astimezone(IST).date()
    dialect = session.get_bind().dialect.name
    insert_fn: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [
        {"document_id": doc_id, "day": day, "client_id": client_id, "created_at": now}
        for doc_id in sorted(documents)  # one order for every writer: no deadlock between batches
    ]
    # RETURNING, not rowcount: psycopg reports -1 after ON CONFLICT DO NOTHING. Parameters as a
    # list (executemany: SQLAlchemy's "insertmanyvalues"), not .values(rows): one cached statement
    # instead of compiling a 4,000-parameter VALUES clause for every batch.
    table = HolderNotice.__table__
    first_today = set(
        session.execute(
            insert_fn(table).on_conflict_do_nothing().returning(table.c.document_id), rows
        ).scalars()
    )
    if not first_today:
        return 0
    from hub.models.nodues import NoDuesApplication
    from hub.outbox import enqueue_sms

    subjects = {documents[i].subject_id: documents[i] for i in first_today}
    mobiles = dict(
        session.execute(
            select(NoDuesApplication.public_id, NoDuesApplication.mobile).where(
                NoDuesApplication.public_id.in_(sorted(subjects))
            )
        ).all()
    )
    if not mobiles:
        return 0
    authority = authority_name(session, client_id)
    when = now.astimezone(IST).strftime("%d-%m-%Y %H:%M")
    queued = 0
    for subject_id, record in sorted(subjects.items()):
        mobile = mobiles.get(subject_id)
        if not mobile:
            continue
        text = (
            f"Your no-dues certificate {record.number} was verified by {authority} on {when} IST. "
            "Not expected? Call 1912. MPCZ"
        )
        enqueue_sms(session, mobile, text, SMS_TEMPLATE)
        queued += 1
    return queued


def authority_name(session: Session, client_id: str) -> str:
    """The partner's registered name, as the holder should read it (bounded, one line)."""
    name = session.execute(select(PartnerClient.name).where(PartnerClient.client_id == client_id)).scalar()
    cleaned = " ".join(str(name or client_id).split())
    return cleaned[:60]
