"""Bill corrections: the office's proposal, each level's step, and the credit in billing.

A correction is proposed at the distribution centre (or its zone) by the office
assistant, assistant manager or manager, with the bill period, readings, amounts,
reason and evidence. If the manager's delegation covers the amount the case stays
with the manager; otherwise it goes to the division's DGM at once, who examines
it and permits or refuses it (within the DGM's delegation), returns it with
questions, or recommends it to the circle's GM. :meth:`CorrectionService.on_transition`
keeps the correction row in step, refuses an officer acting beyond their delegation,
below the case's level or outside the office holding it, and writes the
consumer's SMS, all in the acting transaction.

When a correction is permitted an outbox message credits the difference in billing
with the reference ``BC/<correction_no>``: billing answers a repeat with the original
receipt, so retries and a crash between posting and recording credit it once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from pyramid.registry import Registry
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.billing import Consumer
from connectors.errors import NotFound
from hub.audit import record as audit_record
from hub.corrections.workflow import (
    DGM,
    GM,
    LEVELS,
    MANAGER,
    OFFICE_ROLES,
    SUBJECT_TYPE,
    WORKFLOW,
    Delegation,
)
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.complaint import Complaint
from hub.models.correction import BillCorrection, BillCorrectionEvidence
from hub.models.meta import IST, utcnow
from hub.models.officer import Officer
from hub.models.workflow import WorkflowCase, WorkflowEvent
from hub.outbox import enqueue, enqueue_sms, unit_of_work
from hub.systems import Connectors
from hub.workflow import WorkflowError, WorkflowRegistry, find_case

CREDIT_KIND = "corrections.credit"
SMS_PROPOSED = "correction_proposed"
SMS_UPDATE = "correction_update"
SMS_DECIDED = "correction_decided"
SMS_CREDITED = "correction_credited"
SIGNATURE = "-MPCZED"
ROLE_NAMES = {
    "dc_office_assistant": ("Office Assistant", "कार्यालय सहायक"),
    "dc_assistant_manager": ("Assistant Manager", "सहायक प्रबंधक"),
    MANAGER: ("Manager", "प्रबंधक"),
    DGM: ("Deputy General Manager", "उप महाप्रबंधक"),
    GM: ("General Manager", "महाप्रबंधक"),
}
# Evidence is what the office scanned or photographed: PDF, JPEG or PNG, known by its first bytes.
MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
EVIDENCE_FILES_MAX = 5
CENTS = Decimal("0.01")
# An order is a record, not a permit that lapses; ten years is the discom's retention of billing records.
ORDER_VALID_FOR = timedelta(days=3653)


@dataclass(frozen=True)
class Proposal:
    """A correction as the office enters it, validated for shape, before anything is written."""

    consumer_number: str
    bill_period: str  # YYYY-MM
    amount_billed: Decimal
    amount_correct: Decimal
    reason: str
    reading_billed: int | None = None
    reading_correct: int | None = None
    complaint_no: str | None = None
    evidence: Sequence[bytes] = field(default_factory=tuple)


def evidence_type(content: bytes) -> str | None:
    """The media type the file's first bytes say, if it is one the office may attach."""
    return next((media for magic, media in MAGIC if content.startswith(magic)), None)


def correction_number(correction_id: int, at: datetime) -> str:
    """``BC``, ``YYMMDD`` of the proposal (IST) and a 7-digit serial."""
    return f"BC{at.astimezone(IST):%y%m%d}{correction_id:07d}"


def _rupees(amount: Decimal) -> str:
    return f"{amount:.2f}"


class CorrectionService:
    def __init__(self, registry: Registry, delegation: Delegation, evidence_max_bytes: int) -> None:
        self.registry = registry
        self.delegation = delegation
        self.evidence_max_bytes = evidence_max_bytes

    @property
    def workflows(self) -> WorkflowRegistry:
        return process_service(self.registry, WorkflowRegistry)

    # -- proposing -------------------------------------------------------------------------------

    def consumer(self, consumer_number: str) -> Consumer:
        billing = process_service(self.registry, Connectors).require("billing")
        try:
            consumer: Consumer = billing.get_consumer(consumer_number)
        except NotFound:
            raise Problem("unknown_consumer_number", f"billing has no consumer {consumer_number}") from None
        return consumer

    def check_evidence(self, files: Sequence[bytes]) -> list[str]:
        """Each file's media type; a problem naming the first file that is not allowed."""
        if len(files) > EVIDENCE_FILES_MAX:
            raise Problem("evidence_invalid", f"at most {EVIDENCE_FILES_MAX} evidence files")
        types = []
        for number, content in enumerate(files, 1):
            if not content:
                raise Problem("evidence_invalid", f"evidence file {number} is empty")
            if len(content) > self.evidence_max_bytes:
                raise Problem(
                    "evidence_too_large",
                    f"evidence file {number} is larger than {self.evidence_max_bytes // 1024} KiB",
                )
            media = evidence_type(content)
            if media is None:
                raise Problem("evidence_invalid", f"evidence file {number} is not a PDF, JPEG or PNG")
            types.append(media)
        return types

    def propose(self, session: Session, proposal: Proposal, officer: Officer) -> BillCorrection:
        """Record the office's proposal and start its case (with the manager, or the DGM if the
        amount is beyond the manager's delegation). ``officer`` is already signed in."""
        if not set(officer.roles) & set(OFFICE_ROLES):
            raise Problem("not_permitted", "only the office assistant, assistant manager or manager proposes")
        amount = (proposal.amount_billed - proposal.amount_correct).quantize(CENTS)
        if amount <= 0:
            raise Problem(
                "correction_not_a_credit",
                "the correct amount must be less than the amount billed (a higher bill is a supplementary bill)",
            )
        media = self.check_evidence(proposal.evidence)
        consumer = self.consumer(proposal.consumer_number)
        # The distribution centre proposes for its own consumers (its cases are its console's).
        if consumer.offices.dc not in officer.offices:
            raise Problem("other_office", f"consumer {consumer.consumer_number} is not served by your office")
        if proposal.complaint_no is not None:
            complaint = session.execute(
                select(Complaint).where(Complaint.complaint_no == proposal.complaint_no)
            ).scalar_one_or_none()
            if complaint is None or complaint.consumer_number != consumer.consumer_number:
                raise Problem("unknown_complaint", f"consumer has no complaint {proposal.complaint_no}")
        now = utcnow()
        correction = BillCorrection(
            correction_no="new:" + secrets.token_hex(8),  # unique until the serial is known
            consumer_number=consumer.consumer_number,
            mobile=consumer.mobile,
            consumer_name_en=consumer.name_en,
            consumer_name_hi=consumer.name_hi,
            complaint_no=proposal.complaint_no,
            bill_period=proposal.bill_period,
            reading_billed=proposal.reading_billed,
            reading_correct=proposal.reading_correct,
            amount_billed=proposal.amount_billed,
            amount_correct=proposal.amount_correct,
            amount=amount,
            reason=proposal.reason,
            dc_code=consumer.offices.dc,
            division_code=consumer.offices.division,
            circle_code=consumer.offices.circle,
            proposed_by=f"officer:{officer.username}",
            state="proposed",
            with_role=MANAGER,
            created_at=now,
        )
        session.add(correction)
        session.flush()
        correction.correction_no = correction_number(correction.id, now)
        for content, media_type in zip(proposal.evidence, media, strict=True):
            session.add(
                BillCorrectionEvidence(
                    correction_id=correction.id,
                    media_type=media_type,
                    sha256=hashlib.sha256(content).hexdigest(),
                    size=len(content),
                    content=content,
                    uploaded_at=now,
                )
            )
        actor = f"officer:{officer.username}"
        office_role = next(r for r in OFFICE_ROLES if r in officer.roles)
        case = self.workflows.start(
            session,
            WORKFLOW,
            SUBJECT_TYPE,
            correction.correction_no,
            correction.dc_code,
            actor,
            office_role,
            now=now,
            data={"amount": _rupees(amount), "complaint_no": proposal.complaint_no},
        )
        self._sms(
            session,
            correction,
            SMS_PROPOSED,
            f"बिल संशोधन {correction.correction_no} ({proposal.bill_period}) प्रस्तावित। Bill correction "
            f"{correction.correction_no} of Rs {_rupees(amount)} proposed for {proposal.bill_period}. {SIGNATURE}",
        )
        if self.delegation.deciding_role(amount) != MANAGER:
            # Beyond the manager's delegation: straight to the division's DGM.
            self.workflows.act(session, case, "submit", actor, [office_role])
        return correction

    # -- reading -------------------------------------------------------------------------------

    def by_number(self, session: Session, correction_no: str) -> BillCorrection:
        correction = session.execute(
            select(BillCorrection).where(BillCorrection.correction_no == correction_no)
        ).scalar_one_or_none()
        if correction is None:
            raise Problem("not_found", f"no bill correction {correction_no}")
        return correction

    def of_consumer(self, session: Session, consumer_number: str, limit: int = 50) -> list[BillCorrection]:
        return list(
            session.execute(
                select(BillCorrection)
                .where(BillCorrection.consumer_number == consumer_number)
                .order_by(BillCorrection.id.desc())
                .limit(limit)
            ).scalars()
        )

    def case_of(self, session: Session, correction: BillCorrection) -> WorkflowCase:
        case = find_case(session, WORKFLOW, SUBJECT_TYPE, correction.correction_no)
        assert case is not None
        return case

    def evidence_of(self, session: Session, correction: BillCorrection) -> list[BillCorrectionEvidence]:
        return list(
            session.execute(
                select(BillCorrectionEvidence)
                .where(BillCorrectionEvidence.correction_id == correction.id)
                .order_by(BillCorrectionEvidence.id)
            ).scalars()
        )

    def describe(self, session: Session, correction: BillCorrection) -> dict[str, Any]:
        """What the consumer's portal shows: the proposal, where it is, and every step."""
        case = self.case_of(session, correction)
        definition = self.workflows.for_case(case)
        state = definition.state(case.state)
        holder = ROLE_NAMES.get(correction.with_role or "")
        return {
            "correction_no": correction.correction_no,
            "consumer_number": correction.consumer_number,
            "complaint_no": correction.complaint_no,
            "bill_period": correction.bill_period,
            "reading_billed": correction.reading_billed,
            "reading_correct": correction.reading_correct,
            "amount_billed": _rupees(correction.amount_billed),
            "amount_correct": _rupees(correction.amount_correct),
            "credit": _rupees(correction.amount),
            "reason": correction.reason,
            "status": case.state,
            "status_label": {"en": state.label_en, "hi": state.label_hi},
            "with_role": None if state.terminal else correction.with_role,
            "with_label": None if state.terminal or holder is None else {"en": holder[0], "hi": holder[1]},
            "due_at": case.due_at.isoformat() if case.due_at else None,
            "proposed_at": correction.created_at.isoformat(),
            "decided_at": correction.decided_at.isoformat() if correction.decided_at else None,
            "credited": correction.posting_receipt is not None,
            "posting_receipt": correction.posting_receipt,
            "order_number": correction.order_number,
            "evidence_files": len(self.evidence_of(session, correction)),
            "history": [
                {
                    "at": e.at.isoformat(),
                    "action": e.action,
                    "status": e.to_state,
                    "role": e.role,
                    "remarks": e.reason,
                }
                for e in self.workflows.history(session, case)
            ],
        }

    # -- what follows each step ----------------------------------------------------------------

    def office_of(self, correction: BillCorrection, role: str | None) -> str:
        """The office holding the case at ``role``'s level: the console shows it to that office only."""
        if role == DGM:
            return correction.division_code
        if role == GM:
            return correction.circle_code
        return correction.dc_code

    def _officer(self, session: Session, actor: str) -> Officer | None:
        kind, _, username = actor.partition(":")
        if kind != "officer":
            return None
        return session.execute(select(Officer).where(Officer.username == username)).scalar_one_or_none()

    def _check_officer(self, session: Session, correction: BillCorrection, event: WorkflowEvent) -> None:
        """Refuse (rolling the step back) an officer below the case's level, outside the office
        holding it, or permitting beyond their delegation."""
        officer = self._officer(session, event.actor)
        if officer is None:
            return  # the system's escalation
        holding = correction.with_role or MANAGER
        office = self.office_of(correction, holding)
        if office not in officer.offices:
            raise WorkflowError("other_office", f"the correction is with office {office}, not yours")
        ranks = [LEVELS.index(r) for r in officer.roles if r in LEVELS]
        needed = LEVELS.index(holding) if holding in LEVELS else 0
        if event.action in ("permit", "refuse", "recommend") and (not ranks or max(ranks) < needed):
            name = ROLE_NAMES.get(holding, (holding, holding))
            raise WorkflowError("action_not_allowed", f"the correction is with the {name[0]} now")
        may = [r for r in officer.roles if r in LEVELS and self.delegation.may_permit(r, correction.amount)]
        if event.action in ("permit", "refuse") and not may:
            deciding = self.delegation.deciding_role(correction.amount) or GM
            name = ROLE_NAMES[deciding]
            raise WorkflowError(
                "beyond_delegation",
                f"Rs {_rupees(correction.amount)} is beyond your delegation; the {name[0]} decides "
                f"/ राशि आपके प्रत्यायोजन से अधिक है; निर्णय {name[1]} करेंगे",
            )
        if event.action == "recommend" and may:
            raise WorkflowError(
                "within_delegation",
                f"Rs {_rupees(correction.amount)} is within your delegation: permit or refuse it "
                "/ राशि आपके प्रत्यायोजन में है: स्वीकृत या अस्वीकृत करें",
            )

    def on_transition(self, session: Session, case: WorkflowCase, event: WorkflowEvent) -> None:
        if event.action == "start":
            return
        correction = self.by_number(session, case.subject_id)
        self._check_officer(session, correction, event)
        if event.action == "submit" and self.delegation.deciding_role(correction.amount) == MANAGER:
            raise WorkflowError(
                "within_delegation", "the amount is within the manager's delegation: the manager decides"
            )
        correction.state = case.state
        correction.with_role = case.assigned_role
        # The case sits with the office of the level holding it (the console's queue and case page).
        case.office_code = self.office_of(correction, case.assigned_role)
        if event.action == "recommend":
            correction.recommendation = event.reason
        state = self.workflows.for_case(case).state(case.state)
        no = correction.correction_no
        if event.action in ("permit", "refuse"):
            correction.decided_by = event.actor
            correction.decided_at = event.at
            order = ""
            if event.action == "permit":
                order = self._issue_order(session, correction, event)
                enqueue(
                    session,
                    CREDIT_KIND,
                    {
                        "correction_no": no,
                        "consumer_number": correction.consumer_number,
                        "amount": _rupees(correction.amount),
                        "bill_period": correction.bill_period,
                    },
                    key=f"bill-correction-credit:{correction.id}",
                )
            self._sms(
                session,
                correction,
                SMS_DECIDED,
                f"बिल संशोधन {no}: {state.label_hi}। Bill correction {no}: {state.label_en}"
                f"{' - Rs ' + _rupees(correction.amount) + ' to be credited' if event.action == 'permit' else ''}. "
                f"{order}{SIGNATURE}",
            )
            return
        holder_en, holder_hi = ROLE_NAMES.get(case.assigned_role or "", ("", ""))
        self._sms(
            session,
            correction,
            SMS_UPDATE,
            f"बिल संशोधन {no}: {state.label_hi}, {holder_hi} के पास। Bill correction {no}: "
            f"{state.label_en}, now with the {holder_en}. {SIGNATURE}",
        )

    def _issue_order(self, session: Session, correction: BillCorrection, event: WorkflowEvent) -> str:
        """The signed correction order (XML-DSig, and the PAdES PDF in Hindi and English with the QR
        check), issued in the permitting transaction: no order without the permission, nor the reverse."""
        from certs.document import BILL_CORRECTION_ORDER, Connection, Holder, Issuer, mask_mobile
        from hub.certificates.issuing import DocumentRequest, issue_document
        from hub.certificates.keys import DocumentKeys
        from hub.offices import office_names

        settings = self.registry.settings
        officer_en, officer_hi = ROLE_NAMES.get(event.role, (event.role, event.role))
        issued = issue_document(
            session,
            process_service(self.registry, DocumentKeys),
            DocumentRequest(
                kind=BILL_CORRECTION_ORDER.code,
                office_code=correction.dc_code,
                subject_type=SUBJECT_TYPE,
                subject_id=correction.correction_no,
                issuer=Issuer(
                    discom_name_en=str(settings["hub.discom.name_en"]),
                    discom_name_hi=str(settings["hub.discom.name_hi"]),
                    office_name=office_names(self.registry).printed(self.office_of(correction, event.role)),  # type: ignore[arg-type]
                    officer_name=event.actor.partition(":")[2] or event.actor,
                    officer_designation_en=officer_en,
                    officer_designation_hi=officer_hi,
                    office_code=self.office_of(correction, event.role),
                ),
                holder=Holder(
                    name_deva=correction.consumer_name_hi,
                    name_latin=correction.consumer_name_en,
                    mobile_masked=mask_mobile(correction.mobile),
                ),
                valid_for=ORDER_VALID_FOR,
                connections=(
                    Connection(correction.consumer_number, correction.amount_correct, event.at, "-"),
                ),
                details={
                    "correction_no": correction.correction_no,
                    "bill_period": correction.bill_period,
                    "reading_billed": str(correction.reading_billed or "-"),
                    "reading_correct": str(correction.reading_correct or "-"),
                    "amount_billed": correction.amount_billed,
                    "amount_correct": correction.amount_correct,
                    "credit": correction.amount,
                    "reason": correction.reason[:300],
                    "permitted_by": f"{officer_hi} / {officer_en}",
                },
            ),
            str(settings["hub.public_url"]),
            event.at,
        )
        correction.order_number = number = issued.record.number
        code = issued.verification_code
        base = str(settings["hub.public_url"])
        # The code is the consumer's key to the order's files and its check; it is kept only hashed.
        return f"Order: {base}/api/v1/certificates/{quote(number, safe='/')}/pdf?code={code} "

    def _sms(self, session: Session, correction: BillCorrection, template: str, text: str) -> None:
        enqueue_sms(
            session, correction.mobile, text, template, key=f"bill-correction:{correction.correction_no}"
        )

    # -- the worker ----------------------------------------------------------------------------

    def credit(self, payload: Mapping[str, Any], billing: Any) -> None:
        """Outbox handler body: the credit in billing by the correction's reference, then the record
        and the SMS, once (billing answers a repeated reference with the original receipt)."""
        receipt = billing.post_credit(
            payload["consumer_number"],
            Decimal(payload["amount"]),
            f"BC/{payload['correction_no']}",
            f"Bill correction {payload['correction_no']} ({payload['bill_period']})",
        )
        with unit_of_work(self.registry) as session:
            correction = session.execute(
                select(BillCorrection)
                .where(BillCorrection.correction_no == payload["correction_no"])
                .with_for_update()
            ).scalar_one()
            if correction.posting_receipt is not None:
                return  # an earlier delivery recorded it (and told the consumer)
            correction.posting_receipt = receipt.receipt_number
            audit_record(
                session,
                "worker",
                "bill_correction.credited",
                SUBJECT_TYPE,
                correction.correction_no,
                {
                    "amount": payload["amount"],
                    "receipt": receipt.receipt_number,
                    "duplicate": receipt.duplicate,
                },
            )
            self._sms(
                session,
                correction,
                SMS_CREDITED,
                f"बिल संशोधन {correction.correction_no}: ₹{payload['amount']} बिल में जमा। Bill correction "
                f"Rs {payload['amount']} credited to consumer {correction.consumer_number}. {SIGNATURE}",
            )
