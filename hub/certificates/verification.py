"""Verifying certificates: one question or a thousand, one rule, one path in every environment.

A verification reads the registry rows of the numbers asked about with one
indexed query, judges each question by :func:`judge_verification`, logs every
answer with one INSERT (hub.certificates.log), all in the asking request's own
transaction, and answers. A revocation committed before the question is seen;
an answer given is in the log. Answers are plain values
(:class:`VerificationResult`): REST writes them as JSON, SOAP as XML.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import String, Table, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from certs.errors import MalformedDocumentError, QrPayloadError, VerificationError
from forms.errors import FormError
from hub.certificates.issuing import code_digest
from hub.certificates.keys import DocumentKeys
from hub.certificates.log import record_verifications
from hub.certificates.questions import CertificateQuestion, RejectedQuestion
from hub.models.document import IssuedDocument, status_at
from hub.models.meta import utcnow

MAX_BATCH = 1000


class RegistryEntry(NamedTuple):
    """What verification needs to know of one registry row (a snapshot; never written back)."""

    id: int
    number: str
    status: str
    issued_at: datetime
    valid_until: datetime
    verification_code_sha256: str
    holder_samagra_id: str | None
    public_summary: dict[str, Any]
    xml_sha256: str
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    superseded_by_id: int | None = None

    def status_at(self, now: datetime) -> str:
        return status_at(self.status, self.valid_until, now)

    @classmethod
    def of(cls, record: IssuedDocument) -> RegistryEntry:
        return cls._make(getattr(record, name) for name in cls._fields)


# Core columns of the registry table: the rows become entries as they are, with no ORM loading.
_REGISTRY = cast(Table, IssuedDocument.__table__)
_SELECT_ENTRY = select(*(_REGISTRY.c[name] for name in RegistryEntry._fields))
_SELECT_ONE = _SELECT_ENTRY.where(_REGISTRY.c.number == bindparam("number"))
_SELECT_ENTRIES_PG = _SELECT_ENTRY.where(
    _REGISTRY.c.number == any_(bindparam("numbers", type_=postgresql.ARRAY(String)))
)


def find_entries(session: Session, numbers: Iterable[str]) -> dict[str, RegistryEntry]:
    """The registry rows of ``numbers`` (one indexed query), keyed by number; absent: no such number."""
    wanted = sorted({n for n in numbers if n})
    if not wanted:
        return {}
    # Core on the session's connection (its transaction): no ORM machinery for plain rows.
    connection = session.connection()
    if len(wanted) == 1:
        rows = connection.execute(_SELECT_ONE, {"number": wanted[0]})
    elif connection.dialect.name == "postgresql":
        # One array parameter, not an IN list of up to a thousand: psycopg rewrites the
        # placeholders of a statement that long on every call, which cost more than the query.
        rows = connection.execute(_SELECT_ENTRIES_PG, {"numbers": wanted})
    else:
        rows = connection.execute(_SELECT_ENTRY.where(_REGISTRY.c.number.in_(wanted)))
    # All rows in one fetch: iterating a result fetches them one by one.
    return {row.number: RegistryEntry._make(row) for row in rows.all()}


class VerificationResult(NamedTuple):
    """``status``: valid / revoked / expired / superseded / unknown / tampered."""

    status: str
    number: str
    record: RegistryEntry | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The answer's fields, as REST gives them and SOAP writes them (election.xsd's order)."""
        out: dict[str, Any] = {"number": self.number, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        record = self.record
        if record is not None and self.status not in ("unknown", "tampered"):
            out.update(record.public_summary)
            out["issued_at"] = record.issued_at.isoformat()
            out["valid_until"] = record.valid_until.isoformat()
            if record.status == "revoked":
                out["revoked_at"] = None if record.revoked_at is None else record.revoked_at.isoformat()
                out["revocation_reason"] = record.revocation_reason
            if record.superseded_by_id is not None:
                out["superseded"] = True
        return out


def _matches_holder(record: RegistryEntry, holder_name: str | None, samagra_id: str | None) -> bool:
    if samagra_id:
        return bool(record.holder_samagra_id) and hmac.compare_digest(
            record.holder_samagra_id or "", samagra_id.strip()
        )
    if holder_name:
        given = comparable_name(holder_name).encode()
        printed = str(record.public_summary.get("holder_name", ""))
        # Whole names only: a part of a name ("a", a surname) would let a verifier fish for holders.
        return given != b"" and any(hmac.compare_digest(given, name) for name in _holder_names(printed))
    return False


# The printed holder name: "देवनागरी (Latin)" when both spellings were given, else the one.
_BOTH_SPELLINGS = re.compile(r"(.+) \(([^()]+)\)")


def _holder_names(printed: str) -> list[bytes]:
    """Each spelling a verifier may give in full: the printed name, its Devanagari and its Latin form."""
    names = [comparable_name(printed)]
    both = _BOTH_SPELLINGS.fullmatch(printed)
    if both is not None:
        names += [comparable_name(both.group(1)), comparable_name(both.group(2))]
    return [n.encode() for n in names if n]


def comparable_name(name: str) -> str:
    """A name as two people typing it may agree on it: one Unicode form (NFKC), no zero-width
    joiners (they change how a conjunct is drawn, not which letters it has), case folded,
    single spaces."""
    composed = unicodedata.normalize("NFKC", name)
    visible = "".join(ch for ch in composed if unicodedata.category(ch) != "Cf")
    return " ".join(visible.casefold().split())


def judge_verification(
    record: RegistryEntry | None,
    number: str,
    *,
    code: str | None = None,
    holder_name: str | None = None,
    samagra_id: str | None = None,
    now: datetime,
) -> VerificationResult:
    """What a verifier is told about ``record`` (None: no such number), given the secret they know.

    The one rule behind single and batch verification. A wrong secret and an
    unknown number answer alike ("unknown"), so verification cannot be used to
    discover which numbers exist.
    """
    ok = False
    if record is not None:
        if code:
            ok = hmac.compare_digest(record.verification_code_sha256, code_digest(code))
        else:
            ok = _matches_holder(record, holder_name, samagra_id)
    return VerificationResult(
        record.status_at(now) if ok and record else "unknown", number, record if ok else None
    )


def verify_numbers(
    session: Session,
    questions: Sequence[CertificateQuestion],
    *,
    verifier: str,
    client_id: str | None = None,
    method: str | None = None,
    now: datetime | None = None,
) -> list[VerificationResult]:
    """Answer ``questions`` in order: one registry query for all, each judged, all logged in ``session``.

    ``client_id`` names the partner (an authority) who asked, so that the holder is told.
    """
    now = now or utcnow()
    numbers = [q.number.strip() for q in questions]
    entries = find_entries(session, numbers)
    results = [
        judge_verification(
            entries.get(number),
            q.number,
            code=q.code,
            holder_name=q.holder_name,
            samagra_id=q.samagra_id,
            now=now,
        )
        for q, number in zip(questions, numbers, strict=True)
    ]
    by_method: dict[str, list[VerificationResult]] = {}
    for question, result in zip(questions, results, strict=True):
        by_method.setdefault(method or question.method, []).append(result)
    for how, answered in by_method.items():
        record_verifications(session, answered, how, verifier, now, client_id)
    return results


def verify_by_number(
    session: Session,
    question: CertificateQuestion,
    *,
    verifier: str,
    client_id: str | None = None,
    method: str | None = None,
    now: datetime | None = None,
) -> VerificationResult:
    """One question: :func:`verify_numbers` with one item."""
    return verify_numbers(
        session, [question], verifier=verifier, client_id=client_id, method=method, now=now
    )[0]


class BatchItem(NamedTuple):
    """One answer of a batch: a result, or why the item could not be asked."""

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


def verify_many(
    session: Session,
    questions: Sequence[CertificateQuestion | RejectedQuestion],
    *,
    client_id: str,
    now: datetime | None = None,
) -> list[BatchItem]:
    """A partner's batch, answered in order: one registry query, one log INSERT."""
    if len(questions) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} questions in one batch")
    asked = [q for q in questions if isinstance(q, CertificateQuestion)]
    answered = verify_numbers(session, asked, verifier=f"client:{client_id}", client_id=client_id, now=now)
    results = iter(answered)
    return [
        BatchItem(index, question.ref, error=question.error)
        if isinstance(question, RejectedQuestion)
        else BatchItem(index, question.ref, next(results))
        for index, question in enumerate(questions)
    ]


def _log_one(session: Session, result: VerificationResult, method: str, verifier: str) -> None:
    record_verifications(session, [result], method, verifier, utcnow())


def verify_uploaded_xml(
    session: Session, keys: DocumentKeys, data: bytes, verifier: str
) -> VerificationResult:
    """An uploaded document: its signature first, then its status in the registry.

    Input that is not one of our documents at all (hostile or malformed XML,
    another document type) raises MalformedDocumentError for the caller to
    answer as a bad request; a document whose signature fails is "tampered".
    """
    try:
        verified = keys.issuer.verify_xml(data)
    except MalformedDocumentError:
        raise
    except VerificationError as exc:
        result = VerificationResult("tampered", "", None, exc.code)
        _log_one(session, result, "xml", verifier)
        return result
    number = verified.document.number
    record = find_entries(session, [number]).get(number)
    if record is None:
        # Signed by us but not in the registry: never issued by this hub.
        result = VerificationResult("unknown", number)
    elif record.xml_sha256 != verified.xml_sha256:
        # A valid signature over different bytes than we issued (e.g. a
        # re-serialised copy) is still our document; what we stored decides.
        result = VerificationResult(
            record.status_at(utcnow()), number, record, "bytes differ from the issued copy"
        )
    else:
        result = VerificationResult(record.status_at(utcnow()), number, record)
    _log_one(session, result, "xml", verifier)
    return result


def verify_qr(session: Session, keys: DocumentKeys, payload: str, verifier: str) -> VerificationResult:
    try:
        claims = keys.issuer.verify_qr(payload.strip())
    except QrPayloadError as exc:
        result = VerificationResult("tampered", "", None, exc.code)
        _log_one(session, result, "qr", verifier)
        return result
    record = find_entries(session, [claims.number]).get(claims.number)
    if record is None or record.xml_sha256 != claims.xml_sha256:
        result = VerificationResult("unknown", claims.number)
    else:
        result = VerificationResult(record.status_at(utcnow()), claims.number, record)
    _log_one(session, result, "qr", verifier)
    return result
