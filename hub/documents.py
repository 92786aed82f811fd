"""Issuing, storing, revoking and verifying the hub's signed documents.

``certs`` makes and checks the bytes; this module owns what the hub knows
about them: numbers, the registry, status, who verified what. Every flow that
issues a document (no-dues certificates now; sanction letters and demand
notes with new connections; DigiLocker later) calls :func:`issue_document`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

from lxml import etree
from pyramid.config import Configurator
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certs.document import Check, Connection, Document, Holder, Issuer, Purpose, mask_mobile
from certs.errors import KeyRingError, MalformedDocumentError, QrPayloadError, VerificationError
from certs.issuer import DocumentIssuer
from certs.keys import KeyRing, key_directory_lock
from certs.wssecurity import message_signer
from certs.xmldsig import canonical_signature, evidence_signer, sign_element
from hub.db import lock_feed
from hub.models.document import DocumentFiles, DocumentSeries, IssuedDocument, RegistryChange
from hub.models.meta import utcnow
from hub.registry import (
    CertificateRegistry,
    RegistryEntry,
    SessionSource,
    StoredSummary,
    make_registry,
)
from hub.soap.service import CanonicalSigner
from hub.verifications import VerificationJournal

log = logging.getLogger(__name__)

IST = timezone(timedelta(hours=5, minutes=30))
_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed from paper

# Short series codes per document kind, as printed in numbers (MPCZ/ND/2026-27/000123).
KIND_SERIES_CODES: dict[str, str] = {
    "no_dues_certificate": "ND",
    "sanction_letter": "SL",
    "demand_note": "DN",
    "electricity_bill": "EB",
    "payment_receipt": "PR",
}

__all__ = [
    "CertificateQuestion",
    "Check",
    "Connection",
    "DocumentKeys",
    "DocumentRequest",
    "Holder",
    "Issuer",
    "Purpose",
    "VerificationResult",
    "financial_year",
    "issue_document",
    "mask_mobile",
    "revoke_document",
    "verify_by_number",
    "verify_numbers",
]


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


class DocumentKeys:
    """The key ring and issuer of this process, reloaded when an operator rotates.

    ``hub-admin keys rotate`` changes the key directory's CURRENT file; every
    process notices within ``check_seconds`` and signs with the new identity,
    while documents signed by older identities keep verifying.
    """

    def __init__(self, settings: dict[str, Any], check_seconds: float = 10.0) -> None:
        self._settings = settings
        self._check = check_seconds
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._stamp: tuple[int, int] | None = None
        self._warned_rsa_evidence = False
        keyring, created = load_keyring(settings)
        if created and not settings.get("hub.keys_pkcs12"):
            log.warning(
                "generated DEVELOPMENT signing keys from a development CA; never use them in production",
                extra={"keys_dir": settings["hub.keys_dir"]},
            )
        self._install(keyring)

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            st = (Path(self._settings["hub.keys_dir"]) / "CURRENT").stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _install(self, keyring: KeyRing) -> None:
        self._issuer = DocumentIssuer(
            keyring,
            timestamp_url=self._settings.get("hub.documents.timestamp_url") or None,
            pades_location=self._settings["hub.discom.name_en"],
        )
        message_signer(keyring)  # built now, not on the first signed SOAP answer
        evidence = keyring.current.evidence
        if evidence is not None:
            evidence_signer(evidence)
        elif not self._warned_rsa_evidence:
            self._warned_rsa_evidence = True
            log.warning(
                "no evidence key: SOAP answers and bulk reports are signed with the RSA document key "
                "(slower than the ECDSA evidence key); configure hub.keys_evidence_pkcs12",
                extra={"kid": keyring.current.kid},
            )
        self._stamp = self._current_stamp()
        self._checked_at = time.monotonic()

    @property
    def issuer(self) -> DocumentIssuer:
        now = time.monotonic()
        if now - self._checked_at >= self._check:
            with self._lock:
                self._checked_at = now
                if self._current_stamp() != self._stamp:
                    self._install(load_keyring(self._settings)[0])
                    log.info(
                        "document signing keys reloaded", extra={"kid": self._issuer.keyring.current.kid}
                    )
        return self._issuer

    @property
    def keyring(self) -> KeyRing:
        return self.issuer.keyring

    def sign_message(self, envelope: etree._Element) -> etree._Element:
        """WS-Security signature over a SOAP answer's Body and Timestamp (certs.wssecurity), in place.

        With the current identity's evidence key, or, without one, its document key.
        """
        return message_signer(self.keyring).sign(envelope)

    def sign_element(self, element: etree._Element) -> etree._Element:
        """XML-DSig over a payload kept as a standalone document (the bulk report).

        Signed with the current identity's ECDSA evidence key (certs.xmldsig.EvidenceSigner, in
        place), or, without one, its RSA document key (a signed copy). Use the returned element.
        """
        return sign_element(element, self.keyring)


def _evidence_p12(settings: dict[str, Any]) -> bytes | None:
    path = str(settings.get("hub.keys_evidence_pkcs12") or "").strip()
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyRingError(f"hub.keys_evidence_pkcs12: no such file {path}") from None


def load_keyring(settings: dict[str, Any]) -> tuple[KeyRing, bool]:
    """Production: install the configured PKCS#12 (and evidence PKCS#12) once, then load the key directory.

    An evidence PKCS#12 configured after the directory was installed is added to the current
    identity. Development (no PKCS#12 configured): a development CA is generated on first start,
    and it issues the evidence key too.
    """
    directory = Path(settings["hub.keys_dir"])
    with key_directory_lock(directory):
        return _load_keyring_locked(settings, directory)


def _load_keyring_locked(settings: dict[str, Any], directory: Path) -> tuple[KeyRing, bool]:
    p12 = settings.get("hub.keys_pkcs12") or ""
    if not p12:
        return KeyRing.ensure_development(directory)
    passphrase = str(settings.get("hub.keys_pkcs12_passphrase") or "").encode()
    evidence = _evidence_p12(settings)
    if not (directory / "CURRENT").exists():
        data = Path(p12).read_bytes()
        installed = KeyRing.install_pkcs12(directory, data, passphrase, evidence_p12=evidence)
        return installed, True
    keyring = KeyRing.load(directory, passphrase)
    if evidence is not None and keyring.current.evidence is None:
        keyring = KeyRing.add_evidence_pkcs12(directory, evidence, passphrase)
    return keyring, False


def rotate_document_keys(settings: dict[str, Any]) -> str:
    """``hub-admin keys rotate``: development makes a new identity (document + evidence keys) from the
    dev CA; production installs the PKCS#12 now named by ``hub.keys_pkcs12`` (a new one from the CA)
    with the evidence PKCS#12 named by ``hub.keys_evidence_pkcs12``."""
    directory = Path(settings["hub.keys_dir"])
    p12 = settings.get("hub.keys_pkcs12") or ""
    with key_directory_lock(directory):
        if p12:
            passphrase = str(settings.get("hub.keys_pkcs12_passphrase") or "").encode()
            evidence = _evidence_p12(settings)
            return KeyRing.install_pkcs12(
                directory, Path(p12).read_bytes(), passphrase, evidence_p12=evidence
            ).current.kid
        KeyRing.ensure_development(directory)
        return KeyRing.rotate(directory).current.kid


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
    changed = [record.id]
    if request.supersedes is not None and request.supersedes.status == "valid":
        request.supersedes.status = "superseded"
        request.supersedes.superseded_by_id = record.id
        changed.append(request.supersedes.id)
    record_registry_changes(session, changed)
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
    record_registry_changes(session, [record.id])
    _audit(session, revoked_by, "document.revoked", record, {"reason": reason})
    return True


# pg_advisory_xact_lock key of the registry's change feed ("regfeed" in ASCII).
_REGISTRY_FEED_LOCK = 0x72656766656564


def record_registry_changes(session: Session, document_ids: Sequence[int]) -> None:
    """Append to the change feed that registry replicas follow (in the changing transaction)."""
    lock_feed(session, _REGISTRY_FEED_LOCK)
    session.execute(insert(RegistryChange), [{"document_id": i, "at": utcnow()} for i in document_ids])


RevocationListener = Callable[[Session, IssuedDocument, str, str], None]
REVOCATION_LISTENERS = "documents.revocation_listeners"


def add_revocation_listener(config: Configurator, subject_type: str, listener: RevocationListener) -> None:
    """``config.add_revocation_listener(subject_type, fn)``: told when a document about
    ``subject_type`` is revoked outside its own flow (REST revokeCertificate), so the
    flow's state follows the document."""
    config.registry.setdefault(REVOCATION_LISTENERS, {})[subject_type] = listener


def notify_revoked(
    registry: Any, session: Session, record: IssuedDocument, revoked_by: str, reason: str
) -> None:
    listener = registry.get(REVOCATION_LISTENERS, {}).get(record.subject_type)
    if listener is not None:
        listener(session, record, revoked_by, reason)


def find_document(session: Session, number: str) -> IssuedDocument | None:
    return session.execute(select(IssuedDocument).where(IssuedDocument.number == number)).scalar_one_or_none()


def document_files(session: Session, record: IssuedDocument) -> DocumentFiles:
    return session.execute(select(DocumentFiles).where(DocumentFiles.document_id == record.id)).scalar_one()


class VerificationResult(NamedTuple):
    """``status``: valid / revoked / expired / superseded / unknown / tampered.

    A NamedTuple, as the other per-item values of a batch (RegistryEntry, CertificateQuestion,
    the journal's Verification): a frozen dataclass's ``__init__`` cost ~1 µs an item more.
    """

    status: str
    number: str
    record: RegistryEntry | None = None
    reason: str | None = None

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"number": self.number, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        record = self.record
        if record is not None and self.status not in ("unknown", "tampered"):
            summary = record.public_summary
            out.update(summary.as_dict() if isinstance(summary, StoredSummary) else summary)
            out["issued_at"] = record.issued_at
            out["valid_until"] = record.valid_until
            if record.status == "revoked":
                out["revoked_at"] = record.revoked_at
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


class CertificateQuestion(NamedTuple):
    """A number plus the secret the asker knows: the code, or the holder's name or Samagra ID.

    ``ref`` is the asker's own reference for the item, echoed in batch answers.
    """

    number: str
    code: str | None = None
    holder_name: str | None = None
    samagra_id: str | None = None
    ref: str | None = None

    @property
    def method(self) -> str:
        return "code" if self.code else "holder"


def verify_numbers(
    registry: Mapping[str, Any],
    session: SessionSource,
    questions: Sequence[CertificateQuestion],
    *,
    verifier: str,
    client_id: str | None = None,
    method: str | None = None,
    now: datetime | None = None,
    inline: bool = False,
) -> list[VerificationResult]:
    """Answer ``questions`` in order: one registry lookup for all, each judged, all logged.

    ``session`` may be ``lambda: request.dbsession``: a request whose numbers
    the registry replica answers then never opens a database transaction.
    ``registry`` is the Pyramid registry: its ``certificate_registry`` looks
    the numbers up (hub.registry: a host-local replica or the database) and
    its ``verification_journal`` logs the answers (hub.verifications; in
    ``session`` itself if ``inline``), naming ``client_id`` when an authority
    asked so that the holder is told.
    """
    now = now or utcnow()
    lookup: CertificateRegistry = registry["certificate_registry"]
    numbers = [q.number.strip() for q in questions]
    entries = lookup.lookup(session, numbers)
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
    journal: VerificationJournal = registry["verification_journal"]
    by_method: dict[str, list[VerificationResult]] = {}
    for question, result in zip(questions, results, strict=True):
        by_method.setdefault(method or question.method, []).append(result)
    for how, answered in by_method.items():
        journal.record(session, answered, how, verifier, client_id, now, inline=inline)
    return results


def verify_by_number(
    registry: Mapping[str, Any],
    session: SessionSource,
    question: CertificateQuestion,
    *,
    verifier: str,
    client_id: str | None = None,
    method: str | None = None,
    now: datetime | None = None,
) -> VerificationResult:
    """One question: :func:`verify_numbers` with one item."""
    answers = verify_numbers(
        registry, session, [question], verifier=verifier, client_id=client_id, method=method, now=now
    )
    return answers[0]


def _log(
    registry: Mapping[str, Any], session: Session, result: VerificationResult, method: str, verifier: str
) -> None:
    journal: VerificationJournal = registry["verification_journal"]
    journal.record(session, [result], method, verifier)


def verify_uploaded_xml(
    registry: Mapping[str, Any], session: Session, keys: DocumentKeys, data: bytes, verifier: str
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
        _log(registry, session, result, "xml", verifier)
        return result
    number = verified.document.number
    lookup: CertificateRegistry = registry["certificate_registry"]
    record = lookup.lookup_one(session, number)
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
    _log(registry, session, result, "xml", verifier)
    return result


def verify_qr(
    registry: Mapping[str, Any], session: Session, keys: DocumentKeys, payload: str, verifier: str
) -> VerificationResult:
    try:
        claims = keys.issuer.verify_qr(payload.strip())
    except QrPayloadError as exc:
        result = VerificationResult("tampered", "", None, exc.code)
        _log(registry, session, result, "qr", verifier)
        return result
    lookup: CertificateRegistry = registry["certificate_registry"]
    record = lookup.lookup_one(session, claims.number)
    if record is None or record.xml_sha256 != claims.xml_sha256:
        result = VerificationResult("unknown", claims.number)
    else:
        result = VerificationResult(record.status_at(utcnow()), claims.number, record)
    _log(registry, session, result, "qr", verifier)
    return result


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    keys = DocumentKeys(settings)
    config.registry["document_keys"] = keys
    lookup = make_registry(settings, config.registry["db_engine"])
    config.registry["certificate_registry"] = lookup
    if lookup.replica is not None:
        config.add_status_report("registry_replica", lookup.replica.status)
    config.include("hub.verifications")
    config.add_directive("add_revocation_listener", add_revocation_listener)

    # Published beside the token keys in /.well-known/jwks.json (hub.auth.oauth).
    def document_jwks() -> dict[str, Any]:
        return keys.keyring.public_jwks()

    config.registry["document_jwks"] = document_jwks
    signer: Callable[[etree._Element], etree._Element] = keys.sign_element
    config.registry["soap_signer"] = signer
    message: Callable[[etree._Element], etree._Element] = keys.sign_message
    config.registry["soap_message_signer"] = message

    # A report rendered as canonical bytes (hub.soap.payload) is signed by the evidence key as
    # it is, standing in for soap_signer (the same keys). keys.keyring is read per call: a
    # rotated key signs from the next report on.
    def canonical_signer(canonical: bytes) -> bytes | None:
        return canonical_signature(canonical, keys.keyring)

    config.registry["soap_canonical_signer"] = CanonicalSigner(signer, canonical_signer)
