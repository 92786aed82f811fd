"""Issuing, numbering and revoking the hub's signed documents: the document registry's writers.

``certs`` makes and checks the bytes; this module owns what the hub records of
them: numbers, the registry row, status. Every flow that issues a document
(no-dues certificates; sanction letters and demand notes with new connections)
calls :func:`issue_document`; a revocation is seen by the very next
verification (it reads the registry row in its own transaction).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pyramid.config import Configurator
from pyramid.registry import Registry
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certs.document import Check, Connection, Document, Holder, Issuer, Purpose
from hub.certificates.keys import DocumentKeys
from hub.lookup import registered
from hub.models.document import DocumentFiles, DocumentSeries, IssuedDocument
from hub.models.meta import IST, utcnow
from hub.offices import office_names

log = logging.getLogger(__name__)

_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed from paper

# Short series codes per document kind, as printed in numbers (MPCZ/ND/2026-27/000123).
KIND_SERIES_CODES: dict[str, str] = {
    "no_dues_certificate": "ND",
    "sanction_letter": "SL",
    "demand_note": "DN",
    "electricity_bill": "EB",
    "payment_receipt": "PR",
    "bill_correction_order": "BC",
    "complaint_case_file": "CF",
}


def computer_issued(registry: Registry, office_code: str, section_en: str, section_hi: str) -> Issuer:
    """The issuer of a document the hub makes on its own (a bill, a receipt, a case file): the
    office and the section in whose name it speaks, no officer's signature."""
    settings = registry.settings
    return Issuer(
        discom_name_en=str(settings["hub.discom.name_en"]),
        discom_name_hi=str(settings["hub.discom.name_hi"]),
        office_name=office_names(registry).printed(office_code),
        officer_name="Computer-generated / कंप्यूटर जनित",
        officer_designation_en=section_en,
        officer_designation_hi=section_hi,
        office_code=office_code,
    )


def financial_year(moment: datetime) -> str:
    """India's financial year (April to March) of ``moment`` in IST: ``2026-27``."""
    local = moment.astimezone(IST)
    start = local.year if local.month >= 4 else local.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def new_verification_code() -> str:
    """12 characters from a 32-letter alphabet (60 bits), grouped for reading: ``K7QF-2MXD-9TZA``."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


# A code as it is printed (and as most verifiers type it): normalise_code leaves it as it is.
_PRINTED_CODE = re.compile(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}")


def normalise_code(code: str) -> str:
    """``code`` as issued: case, spaces and dashes forgiven, grouped ``XXXX-XXXX-XXXX`` when 12 long."""
    if _PRINTED_CODE.fullmatch(code) is not None:
        return code  # one match instead of five string copies (a 1,000-item batch hashes 1,000)
    cleaned = code.strip().upper().replace("-", "").replace(" ", "")
    return f"{cleaned[:4]}-{cleaned[4:8]}-{cleaned[8:]}" if len(cleaned) == 12 else cleaned


def code_digest(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class DocumentRequest:
    """What a flow asks the registry to issue."""

    kind: str
    office_code: str
    subject_type: str
    subject_id: str
    issuer: Issuer
    holder: Holder
    valid_for: timedelta
    connections: Sequence[Connection] = ()
    checks: Sequence[Check] = ()
    purpose: Purpose | None = None
    details: dict[str, Any] = field(default_factory=dict)
    requested_by_client: str | None = None
    supersedes: IssuedDocument | None = None


def _claim_number(session: Session, series: str) -> int:
    dialect = session.get_bind().dialect.name
    stmt_insert: Any = (pg_insert if dialect == "postgresql" else sqlite_insert)(DocumentSeries)
    session.execute(stmt_insert.values(series=series, last_value=0).on_conflict_do_nothing())
    value = session.execute(
        update(DocumentSeries)
        .where(DocumentSeries.series == series)
        .values(last_value=DocumentSeries.last_value + 1)
        .returning(DocumentSeries.last_value)
    ).scalar_one()
    return int(value)


def public_summary(doc: Document) -> dict[str, Any]:
    """What a verifier is told: no more than the printout shows."""
    return {
        "kind": doc.kind,
        "holder_name": doc.holder.display_name,
        "issuer_office": doc.issuer.office_name,
        "connections": [
            {"consumer_number": c.consumer_number, "dues": str(c.dues), "meter_status": c.meter_status}
            for c in doc.connections
        ],
        "no_connection": not doc.connections,
        "purpose": None if doc.purpose is None else {k: v for k, v in vars(doc.purpose).items() if v},
    }


@dataclass(frozen=True)
class Issued:
    record: IssuedDocument
    verification_code: str


def issue_document(
    session: Session,
    keys: DocumentKeys,
    request: DocumentRequest,
    public_url: str,
    now: datetime | None = None,
) -> Issued:
    """Number, build, sign and store a document in the caller's transaction."""
    now = now or utcnow()
    series = f"{request.office_code}/{KIND_SERIES_CODES.get(request.kind, 'DOC')}/{financial_year(now)}"
    number = f"{series}/{_claim_number(session, series):06d}"
    code = new_verification_code()
    doc = Document(
        number=number,
        kind=request.kind,
        verification_code=code,
        issuer=request.issuer,
        holder=request.holder,
        issued_at=now,
        valid_until=now + request.valid_for,
        verification_url=f"{public_url}/verify?number={number}&code={code}",
        connections=tuple(request.connections),
        checks=tuple(request.checks),
        purpose=request.purpose,
        details=request.details,
    )
    issued = keys.issuer.issue(doc)
    record = IssuedDocument(
        number=number,
        kind=request.kind,
        series=series,
        verification_code_sha256=code_digest(code),
        subject_type=request.subject_type,
        subject_id=request.subject_id,
        holder_samagra_id=request.holder.samagra_id or None,
        public_summary=public_summary(doc),
        status="valid",
        issued_at=now,
        valid_until=doc.valid_until,
        xml_sha256=issued.xml_sha256,
        kid=issued.kid,
        requested_by_client=request.requested_by_client,
    )
    session.add(record)
    session.flush()
    session.execute(
        insert(DocumentFiles).values(
            document_id=record.id, xml=issued.xml, pdf=issued.pdf, qr_payload=issued.qr_payload
        )
    )
    if request.supersedes is not None and request.supersedes.status == "valid":
        request.supersedes.status = "superseded"
        request.supersedes.superseded_by_id = record.id
    _audit(session, "hub", "document.issued", record, {"kind": record.kind, "kid": record.kid})
    return Issued(record, code)


def _audit(session: Session, actor: str, action: str, record: IssuedDocument, data: dict[str, Any]) -> None:
    from hub.audit import record as audit_record

    audit_record(session, actor, action, "document", record.number, data)


def revoke_document(session: Session, record: IssuedDocument, revoked_by: str, reason: str) -> bool:
    """Revoke a valid document; False if it was not valid (already revoked or superseded)."""
    if record.status != "valid":
        return False
    record.status = "revoked"
    record.revoked_at = utcnow()
    record.revoked_by = revoked_by
    record.revocation_reason = reason
    _audit(session, revoked_by, "document.revoked", record, {"reason": reason})
    return True


RevocationListener = Callable[[Session, IssuedDocument, str, str], None]


class RevocationListeners(dict[str, RevocationListener]):
    """Who follows a revocation, by the subject type of the document (``config.add_revocation_listener``)."""


def add_revocation_listener(config: Configurator, subject_type: str, listener: RevocationListener) -> None:
    """``config.add_revocation_listener(subject_type, fn)``: told when a document about
    ``subject_type`` is revoked outside its own flow (REST revokeCertificate), so the
    flow's state follows the document."""
    registered(config.registry, RevocationListeners)[subject_type] = listener


def notify_revoked(
    registry: Any, session: Session, record: IssuedDocument, revoked_by: str, reason: str
) -> None:
    listener = registered(registry, RevocationListeners).get(record.subject_type)
    if listener is not None:
        listener(session, record, revoked_by, reason)


def find_document(session: Session, number: str) -> IssuedDocument | None:
    return session.execute(select(IssuedDocument).where(IssuedDocument.number == number)).scalar_one_or_none()


def document_files(session: Session, record: IssuedDocument) -> DocumentFiles:
    return session.execute(select(DocumentFiles).where(DocumentFiles.document_id == record.id)).scalar_one()
