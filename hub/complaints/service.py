"""Complaints: registration from every channel, what follows each step, and the compensation.

A complaint is registered at once (its number goes back to the caller and by
SMS to the consumer) and routed to the distribution centre billing names for
the consumer. Its workflow (one per type, :mod:`hub.complaints.workflow`)
moves it; :meth:`ComplaintService.on_transition` keeps the complaint row in
step, keeps the case at its level, refuses an officer below the case's
level, and writes the consumer's SMS in the same transaction.

When a complaint is resolved after its standard, the compensation the
standards file gives is written as an outbox message; the worker posts it to
billing as a credit whose reference is the complaint number, so billing
answers a repeat with the original receipt and nothing is credited twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from pyramid.registry import Registry
from sqlalchemy import Table, bindparam, literal, literal_column, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from certs.document import COMPLAINT_CASE_FILE, Holder, mask_mobile
from connectors.billing import Consumer
from connectors.errors import NotFound
from hub.audit import record as audit_record
from hub.certificates.issuing import DocumentRequest, computer_issued, document_files, issue_document
from hub.certificates.keys import DocumentKeys
from hub.complaints.workflow import (
    CONSUMER_ROLE,
    OPEN_STATES,
    SUBJECT_TYPE,
    WORKFLOW_PREFIX,
    ComplaintType,
    Standards,
)
from hub.console.labels import action_label
from hub.db import insert_if_new, mark_written
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.complaint import Complaint
from hub.models.document import IssuedDocument
from hub.models.meta import IST, utcnow
from hub.models.officer import Officer
from hub.models.outbox import OutboxMessage
from hub.models.workflow import WorkflowCase, WorkflowEvent
from hub.outbox import Outgoing, enqueue, enqueue_from, enqueue_many, enqueue_sms, json_object, unit_of_work
from hub.systems import Connectors
from hub.workflow import Escalation, WorkflowError, WorkflowRegistry, find_case

log = logging.getLogger(__name__)

COMPENSATION_KIND = "complaints.compensation"
CHANNELS = ("callcentre", "portal", "office", "whatsapp")
ROLE_NAMES = {
    "dc_office_assistant": ("Office Assistant", "कार्यालय सहायक"),
    "dc_assistant_manager": ("Assistant Manager", "सहायक प्रबंधक"),
    "dc_manager": ("Manager", "प्रबंधक"),
    "dgm": ("Deputy General Manager", "उप महाप्रबंधक"),
    "gm": ("General Manager", "महाप्रबंधक"),
}
SMS_REGISTERED = "complaint_registered"
SMS_UPDATE = "complaint_update"
SMS_RESOLVED = "complaint_resolved"
SMS_COMPENSATION = "complaint_compensation"
SIGNATURE = "-MPCZED"
CASE_FILE_SUBJECT = "complaint_case_file"
# The document schema holds 200 details; the facts take at most 15 of them.
CASE_FILE_STEPS = 180
# A case file states the record as of its issue; the forum may take months to hear the case.
CASE_FILE_VALID_FOR = timedelta(days=365 * 3)


_COMPLAINTS = cast(Table, Complaint.__table__)
_NUMBER = (
    update(_COMPLAINTS)
    .where(_COMPLAINTS.c.id == bindparam("complaint_id"))
    .values(complaint_no=bindparam("number"))
)


# Columns a new complaint leaves empty.
_UNSET_AT_REGISTRATION = (
    "resolved_at",
    "action_taken",
    "rating",
    "rating_remarks",
    "compensation_amount",
    "compensation_receipt",
)


_CASES = cast(Table, WorkflowCase.__table__)
# The sweep's cases by id, written into the statement (as hub.workflow's sweep does).
_SWEPT = _CASES.c.id.in_(bindparam("case_ids", expanding=True, literal_execute=True))
# A complaint's case stays at its last level however often that level's time runs out.
_CASE_LEVEL = update(_CASES).where(_SWEPT).values(escalation_level=bindparam("level"))


@dataclass(frozen=True)
class Intake:
    """A complaint as a channel gives it, validated, before anything is written."""

    channel: str
    filed_by: str  # the audit actor: client:<id> or officer:<username>
    consumer_number: str
    complaint_type: str
    description: str
    client_id: str | None = None
    ticket_id: str | None = None  # the call centre's ticket id, or the portal's request id
    mobile: str | None = None  # the caller's mobile, if not billing's

    def digest(self) -> str:
        body = [self.channel, self.consumer_number, self.complaint_type, self.description, self.mobile]
        return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Registered:
    complaint: Complaint
    created: bool
    case: WorkflowCase | None = None  # the case started now (None: a repeat of a ticket)


def complaint_number(complaint_id: int, at: datetime) -> str:
    """``YYMMDD`` of registration (IST) and the serial, 7 digits: all digits, read out over a phone."""
    return f"{at.astimezone(IST):%y%m%d}{complaint_id:07d}"


def _ist(at: datetime) -> str:
    return at.astimezone(IST).strftime("%d-%m-%Y %H:%M")


class ComplaintService:
    def __init__(self, registry: Registry, standards: Standards, reopen_days: int) -> None:
        self.registry = registry
        self.standards = standards
        self.reopen_period = timedelta(days=reopen_days)

    @property
    def workflows(self) -> WorkflowRegistry:
        return process_service(self.registry, WorkflowRegistry)

    def kind(self, code: str) -> ComplaintType:
        return self.standards.types[code]

    # -- registration ----------------------------------------------------------------------------

    def consumer(self, consumer_number: str) -> Consumer:
        """Billing's record of the consumer: the office the complaint goes to, the mobile told."""
        billing = process_service(self.registry, Connectors).require("billing")
        try:
            consumer: Consumer = billing.get_consumer(consumer_number)
        except NotFound:
            raise Problem("unknown_consumer_number", f"billing has no consumer {consumer_number}") from None
        return consumer

    def _by_ticket(self, session: Session, client_id: str, ticket_id: str) -> Complaint | None:
        return session.execute(
            select(Complaint).where(Complaint.client_id == client_id, Complaint.ticket_id == ticket_id)
        ).scalar_one_or_none()

    def _replay(self, existing: Complaint, intake: Intake) -> Registered:
        if existing.request_digest != intake.digest():
            raise Problem(
                "complaint_conflict",
                f"ticket {intake.ticket_id} was registered as complaint {existing.complaint_no} "
                "with different details",
                extra={"complaint_no": existing.complaint_no},
            )
        return Registered(existing, False)

    def register(self, session: Session, intake: Intake) -> Registered:
        """Register a complaint (or find the one registered under the same ticket id).

        Billing is asked first: when it cannot answer, nothing is written and the caller is told.
        The row goes in with ``INSERT ... ON CONFLICT (client_id, ticket_id) DO NOTHING``, so a
        repeat of a ticket (even one racing this request) finds the first registration.
        """
        kind = self.kind(intake.complaint_type)
        consumer = self.consumer(intake.consumer_number)
        now = utcnow()
        values: dict[str, Any] = {
            # A placeholder, unique, until the serial is known (same transaction).
            "complaint_no": "new:" + secrets.token_hex(8),
            "channel": intake.channel,
            "client_id": intake.client_id,
            "ticket_id": intake.ticket_id,
            "request_digest": intake.digest(),
            "filed_by": intake.filed_by,
            "consumer_number": consumer.consumer_number,
            "mobile": intake.mobile or consumer.mobile,
            "complaint_type": kind.code,
            "description": intake.description,
            "office_code": consumer.offices.dc,
            "state": "open",
            "level": 0,
            "sop_due_at": now + timedelta(hours=kind.standard_hours),
            "registered_at": now,
            "reopen_count": 0,
        }
        complaint_id = session.execute(
            insert_if_new(session.get_bind().dialect.name, _COMPLAINTS, ("client_id", "ticket_id")), values
        ).scalar()
        if complaint_id is None:
            # The same ticket registered before (or by a concurrent request, committed first).
            assert intake.client_id is not None and intake.ticket_id is not None
            existing = self._by_ticket(session, intake.client_id, intake.ticket_id)
            assert existing is not None
            return self._replay(existing, intake)
        values["complaint_no"] = complaint_number(complaint_id, now)
        session.execute(_NUMBER, {"complaint_id": complaint_id, "number": values["complaint_no"]})
        mark_written(session)
        # The row as written, in the session like one loaded from it (no SELECT to read it back).
        complaint = Complaint(
            id=complaint_id,
            **values,
            **dict.fromkeys(_UNSET_AT_REGISTRATION),
        )
        make_transient_to_detached(complaint)
        session.add(complaint)
        # The SMS first: the case's start appends to the audit chain, whose lock is held until
        # the commit, so the less written after it the less other registrations wait.
        self._sms(
            session,
            complaint,
            SMS_REGISTERED,
            f"शिकायत क्रमांक {complaint.complaint_no} दर्ज। Complaint {complaint.complaint_no} "
            f"registered: {kind.label_en}. To be resolved by {_ist(complaint.sop_due_at)}. {SIGNATURE}",
        )
        case = self.workflows.start(
            session,
            kind.workflow,
            SUBJECT_TYPE,
            complaint.complaint_no,
            complaint.office_code,
            intake.filed_by,
            intake.channel,
            statutory_days=kind.standard_hours / 24,
            now=now,
            data={"channel": intake.channel, "ticket_id": intake.ticket_id, "type": kind.code},
        )
        return Registered(complaint, True, case)

    # -- reading -------------------------------------------------------------------------------

    def by_number(self, session: Session, complaint_no: str, lock: bool = False) -> Complaint:
        query = select(Complaint).where(Complaint.complaint_no == complaint_no)
        if lock:
            query = query.with_for_update()
        complaint = session.execute(query).scalar_one_or_none()
        if complaint is None:
            raise Problem("not_found", f"no complaint {complaint_no}")
        return complaint

    def of_consumer(self, session: Session, consumer_number: str, limit: int = 50) -> list[Complaint]:
        """A consumer's complaints, newest first."""
        return list(
            session.execute(
                select(Complaint)
                .where(Complaint.consumer_number == consumer_number)
                .order_by(Complaint.id.desc())
                .limit(limit)
            ).scalars()
        )

    def case_of(self, session: Session, complaint: Complaint, lock: bool = False) -> WorkflowCase:
        case = find_case(
            session, self.kind(complaint.complaint_type).workflow, SUBJECT_TYPE, complaint.complaint_no
        )
        assert case is not None
        if lock:
            session.refresh(case, with_for_update=True)
        return case

    def describe(
        self, session: Session, complaint: Complaint, case: WorkflowCase | None = None
    ) -> dict[str, Any]:
        """The complaint as its consumer and the call centre see it (``case``: its case, if in hand)."""
        kind = self.kind(complaint.complaint_type)
        case = case or self.case_of(session, complaint)
        state = self.workflows.for_case(case).state(case.state)
        holder = ROLE_NAMES.get(case.assigned_role or "", (case.assigned_role, case.assigned_role))
        reopen_until = (
            (complaint.resolved_at + self.reopen_period).isoformat()
            if complaint.resolved_at is not None and complaint.state == "resolved"
            else None
        )
        return {
            "complaint_no": complaint.complaint_no,
            "ticket_id": complaint.ticket_id,
            "channel": complaint.channel,
            "consumer_number": complaint.consumer_number,
            "complaint_type": kind.code,
            "type_label": {"en": kind.label_en, "hi": kind.label_hi},
            "status": case.state,
            "status_label": {"en": state.label_en, "hi": state.label_hi},
            "office_code": complaint.office_code,
            "level": complaint.level,
            "with_role": None if state.terminal else case.assigned_role,
            "with_label": None if state.terminal or holder[0] is None else {"en": holder[0], "hi": holder[1]},
            "registered_at": complaint.registered_at.isoformat(),
            "standard_hours": kind.standard_hours,
            "resolve_by": complaint.sop_due_at.isoformat(),
            "resolved_at": complaint.resolved_at.isoformat() if complaint.resolved_at else None,
            "action_taken": complaint.action_taken,
            "reopen_until": reopen_until,
            "reopen_count": complaint.reopen_count,
            "rating": complaint.rating,
            "compensation": None
            if complaint.compensation_amount is None
            else str(complaint.compensation_amount),
            "compensation_credited": complaint.compensation_receipt is not None,
            "history": [
                {"at": e.at.isoformat(), "action": e.action, "status": e.to_state, "role": e.role}
                for e in self.workflows.history(session, case)
            ],
        }

    # -- the consumer's actions ----------------------------------------------------------------

    def _consumers(self, session: Session, complaint_no: str, consumer_number: str) -> Complaint:
        """The complaint, locked, if it is this consumer's; anyone else's looks missing."""
        complaint = self.by_number(session, complaint_no, lock=True)
        if complaint.consumer_number != consumer_number:
            raise Problem("not_found", f"no complaint {complaint_no}")
        return complaint

    def reopen(
        self, session: Session, complaint_no: str, consumer_number: str, reason: str, actor: str
    ) -> Complaint:
        complaint = self._consumers(session, complaint_no, consumer_number)
        case = self.case_of(session, complaint, lock=True)
        if case.state != "resolved" or complaint.resolved_at is None:
            raise Problem("complaint_state_conflict", f"the complaint is {case.state}, not resolved")
        if complaint.rating is not None:
            raise Problem("complaint_state_conflict", "a rated complaint cannot be reopened")
        if utcnow() > complaint.resolved_at + self.reopen_period:
            raise Problem(
                "reopen_period_over",
                f"a complaint can be reopened within {self.reopen_period.days} days of its resolution",
            )
        try:
            self.workflows.act(session, case, "reopen", actor, [CONSUMER_ROLE], reason=reason)
        except WorkflowError as exc:
            raise Problem("complaint_state_conflict", str(exc)) from None
        return complaint

    def rate(
        self,
        session: Session,
        complaint_no: str,
        consumer_number: str,
        rating: int,
        remarks: str | None,
        actor: str,
    ) -> Complaint:
        complaint = self._consumers(session, complaint_no, consumer_number)
        if complaint.state != "resolved":
            raise Problem("complaint_state_conflict", f"the complaint is {complaint.state}, not resolved")
        if complaint.rating is not None:
            raise Problem("complaint_state_conflict", "the complaint is already rated")
        complaint.rating = rating
        complaint.rating_remarks = remarks
        audit_record(
            session,
            actor,
            "complaint.rated",
            SUBJECT_TYPE,
            complaint.complaint_no,
            {"rating": rating, "remarks": remarks},
        )
        return complaint

    # -- what follows each step ----------------------------------------------------------------

    def on_transition(self, session: Session, case: WorkflowCase, event: WorkflowEvent) -> None:
        if event.action == "start":
            return
        complaint = self.by_number(session, case.subject_id)
        kind = self.kind(complaint.complaint_type)
        levels = kind.levels
        acting = self._acting_level(session, event, levels) if event.role in levels else None
        # An officer acts at the case's level or above it, never below.
        if acting is not None and acting < complaint.level:
            holder = ROLE_NAMES.get(levels[complaint.level], (levels[complaint.level],) * 2)
            raise WorkflowError("action_not_allowed", f"the complaint is with the {holder[0]} now")
        if event.action == "escalate" and acting is not None:
            # Up to the level above the officer who sends it (above the case's level, at least).
            if acting + 1 >= len(levels):
                raise WorkflowError("action_not_allowed", "the complaint is at the last level already")
            complaint.level = acting + 1
        elif event.action == "reopen":
            complaint.level = 0
            complaint.reopen_count += 1
            complaint.resolved_at = None
            complaint.action_taken = None
            # A reopened complaint has the standard's time again, from now.
            complaint.sop_due_at = event.at + timedelta(hours=kind.standard_hours)
            case.statutory_due_at = complaint.sop_due_at
        if case.state in OPEN_STATES:
            # Entering a state puts the case at its first level; a complaint stays where it got to.
            case.escalation_level = complaint.level
            case.assigned_role = levels[complaint.level]
        complaint.state = case.state
        if event.action == "resolve":
            self._resolved(session, complaint, kind, event)
            return
        state = self.workflows.for_case(case).state(case.state)
        holder_en, holder_hi = ROLE_NAMES.get(case.assigned_role or "", ("", ""))
        if event.action == "escalate":
            text = (
                f"शिकायत {complaint.complaint_no}: {holder_hi} को भेजी गई। Complaint "
                f"{complaint.complaint_no} is now with the {holder_en}. {SIGNATURE}"
            )
        else:
            text = (
                f"शिकायत {complaint.complaint_no}: {state.label_hi}। Complaint {complaint.complaint_no}: "
                f"{state.label_en}. {SIGNATURE}"
            )
        self._sms(session, complaint, SMS_UPDATE, text)

    def on_statutory_breaches(
        self, session: Session, breached: Sequence[tuple[WorkflowCase, WorkflowEvent]]
    ) -> None:
        """One pass of the standards watch, together: each complaint past its standard goes to the
        level its case reached (never past the last), and its consumer is told who has it now."""
        numbers = [case.subject_id for case, _ in breached]
        complaints = {
            c.complaint_no: c
            for c in session.scalars(select(Complaint).where(Complaint.complaint_no.in_(numbers)))
        }
        told: list[Outgoing] = []
        for case, _ in breached:
            complaint = complaints[case.subject_id]
            levels = self.kind(complaint.complaint_type).levels
            complaint.level = min(case.escalation_level, len(levels) - 1)
            if case.state in OPEN_STATES:
                case.escalation_level = complaint.level
                case.assigned_role = levels[complaint.level]
            holder_en, holder_hi = ROLE_NAMES.get(case.assigned_role or "", ("", ""))
            text = (
                f"शिकायत {complaint.complaint_no}: समय-सीमा पार, {holder_hi} को भेजी गई। Complaint "
                f"{complaint.complaint_no} is past its time limit and is now with the {holder_en}. {SIGNATURE}"
            )
            told.append(
                Outgoing.sms(complaint.mobile, text, SMS_UPDATE, f"complaint:{complaint.complaint_no}")
            )
        enqueue_many(session, told)

    def on_escalation(self, session: Session, escalations: Sequence[Escalation]) -> None:
        """The sweep's escalations of one complaint type, set-based: the complaints' levels follow
        their cases, and each consumer whose complaint reached a new holder gets an SMS.

        A lapse at the last level is recorded by the engine; the case stays at that level, and
        its consumer, told already, gets nothing new.
        """
        kind = self.kind(escalations[0].workflow.removeprefix(WORKFLOW_PREFIX))
        levels = kind.levels
        by_level: dict[int, list[Escalation]] = {}
        for escalation in escalations:
            by_level.setdefault(min(escalation.level, len(levels) - 1), []).append(escalation)
        for level, group in by_level.items():
            holder_en, holder_hi = ROLE_NAMES.get(levels[level], ("", ""))
            beyond = [e.case_id for e in group if e.level > level]
            if beyond:
                session.execute(_CASE_LEVEL, {"case_ids": beyond, "level": level})
            moving = (
                _COMPLAINTS.c.complaint_no.in_(
                    bindparam("numbers", [e.subject_id for e in group], expanding=True, literal_execute=True)
                ),
                _COMPLAINTS.c.level != level,
            )
            number = _COMPLAINTS.c.complaint_no
            text = (
                literal("शिकायत ")
                + number
                + literal(f": {holder_hi} को भेजी गई। Complaint ")
                + number
                + literal(f" is now with the {holder_en}. {SIGNATURE}")
            )
            enqueue_from(
                session,
                "sms",
                select(
                    json_object(
                        session,
                        mobile=_COMPLAINTS.c.mobile,
                        text=text,
                        template=literal_column(f"'{SMS_UPDATE}'"),
                    ).label("payload"),
                    (literal("complaint:") + number).label("key"),
                ).where(*moving),
            )
            session.execute(update(_COMPLAINTS).where(*moving).values(level=level))

    @staticmethod
    def _acting_level(session: Session, event: WorkflowEvent, levels: tuple[str, ...]) -> int:
        """The highest level among the acting officer's roles (the engine names only one of them)."""
        roles = {event.role}
        kind, _, username = event.actor.partition(":")
        if kind == "officer":
            officer = session.execute(
                select(Officer).where(Officer.username == username)
            ).scalar_one_or_none()
            if officer is not None:
                roles.update(officer.roles)
        return max(levels.index(r) for r in roles if r in levels)

    def _resolved(
        self, session: Session, complaint: Complaint, kind: ComplaintType, event: WorkflowEvent
    ) -> None:
        complaint.resolved_at = event.at
        complaint.action_taken = event.reason
        action = (event.reason or "")[:80]
        self._sms(
            session,
            complaint,
            SMS_RESOLVED,
            f"शिकायत {complaint.complaint_no} का निराकरण। Complaint {complaint.complaint_no} resolved: "
            f"{action}. Rate it or reopen within {self.reopen_period.days} days. {SIGNATURE}",
        )
        if kind.compensation is None or complaint.compensation_amount is not None:
            return  # compensation is paid once per complaint
        late = event.at - complaint.sop_due_at
        amount = kind.compensation.for_delay(late)
        if amount <= 0:
            return
        complaint.compensation_amount = amount
        audit_record(
            session,
            "system",
            "complaint.compensation_due",
            SUBJECT_TYPE,
            complaint.complaint_no,
            {"amount": str(amount), "late_minutes": int(late.total_seconds() // 60)},
        )
        enqueue(
            session,
            COMPENSATION_KIND,
            {
                "complaint_no": complaint.complaint_no,
                "consumer_number": complaint.consumer_number,
                "amount": str(amount),
                "late_hours": round(late / timedelta(hours=1), 1),
            },
            key=f"complaint-compensation:{complaint.id}",
        )

    def _sms(self, session: Session, complaint: Complaint, template: str, text: str) -> None:
        enqueue_sms(session, complaint.mobile, text, template, key=f"complaint:{complaint.complaint_no}")

    # -- worker and periodic jobs --------------------------------------------------------------

    def watch_standards(self, now: datetime | None = None) -> int:
        """Periodic job: each open complaint past its standard is escalated, and its consumer told, once."""
        with unit_of_work(self.registry) as session:
            return sum(
                len(self.workflows.escalate_statutory_breaches(session, kind.workflow, now))
                for kind in self.standards.types.values()
            )

    def credit_compensation(self, payload: Mapping[str, Any], billing: Any) -> None:
        """Outbox handler body: the credit in billing, by the complaint's reference, then the SMS, once."""
        receipt = billing.post_credit(
            payload["consumer_number"],
            Decimal(payload["amount"]),
            f"COMP/{payload['complaint_no']}",
            f"Compensation: complaint {payload['complaint_no']} resolved after its standard of performance",
        )
        with unit_of_work(self.registry) as session:
            complaint = self.by_number(session, payload["complaint_no"], lock=True)
            if complaint.compensation_receipt is not None:
                return  # an earlier delivery recorded it (and told the consumer)
            complaint.compensation_receipt = receipt.receipt_number
            audit_record(
                session,
                "worker",
                "complaint.compensation_credited",
                SUBJECT_TYPE,
                complaint.complaint_no,
                {
                    "amount": payload["amount"],
                    "receipt": receipt.receipt_number,
                    "duplicate": receipt.duplicate,
                },
            )
            self._sms(
                session,
                complaint,
                SMS_COMPENSATION,
                f"शिकायत {complaint.complaint_no}: क्षतिपूर्ति ₹{payload['amount']} बिल में जमा। Compensation "
                f"Rs {payload['amount']} credited to consumer {complaint.consumer_number}. {SIGNATURE}",
            )

    # -- the case file for the forum -------------------------------------------------------------

    def case_file_pdf(self, session: Session, complaint: Complaint, requested_by: str) -> bytes:
        """The complaint's whole record as a signed Hindi/English PDF, for the Consumer Grievance
        Redressal Forum: the facts, every step (who, when, why) and every SMS sent.

        Issued once per state of the record: asked again with nothing new, the same document;
        after another step, a new one (the earlier stays verifiable as what was true then).
        """

        case = self.case_of(session, complaint)
        timeline = self._timeline(session, case, complaint)
        if len(timeline) > CASE_FILE_STEPS:
            # The document schema holds 200 details; a complaint this long goes to the forum from
            # the console's history, which has every step.
            raise Problem(
                "case_file_too_long",
                f"the complaint has {len(timeline)} steps; a case file holds {CASE_FILE_STEPS}",
            )
        kind = self.kind(complaint.complaint_type)
        status = self.workflows.for_case(case).state(case.state)
        details: dict[str, str | Decimal] = {
            "complaint_no": complaint.complaint_no,
            "complaint_type": f"{kind.label_en} / {kind.label_hi}",
            "consumer_number": complaint.consumer_number,
            "description": complaint.description,
            "office": complaint.office_code,
            "registered_at": f"{_ist(complaint.registered_at)} IST ({complaint.channel})",
            "resolve_by": f"{_ist(complaint.sop_due_at)} IST ({kind.standard_hours} h)",
            "status": f"{status.label_en} / {status.label_hi}",
            "reopen_count": str(complaint.reopen_count),
        }
        if complaint.resolved_at is not None:
            details["resolved_at"] = f"{_ist(complaint.resolved_at)} IST"
        if complaint.action_taken:
            details["action_taken"] = complaint.action_taken
        if complaint.rating is not None:
            details["rating"] = str(complaint.rating) + (
                f": {complaint.rating_remarks}" if complaint.rating_remarks else ""
            )
        if complaint.compensation_amount is not None:
            details["compensation"] = complaint.compensation_amount
            details["compensation_receipt"] = complaint.compensation_receipt or "pending / लंबित"
        details.update({f"timeline.{i:03d}": line for i, line in enumerate(timeline, start=1)})
        record = json.dumps({k: str(v) for k, v in details.items()}, sort_keys=True, ensure_ascii=False)
        subject = f"{complaint.complaint_no}:{hashlib.sha256(record.encode()).hexdigest()[:32]}"
        kept = session.execute(
            select(IssuedDocument)
            .where(IssuedDocument.subject_type == CASE_FILE_SUBJECT, IssuedDocument.subject_id == subject)
            .order_by(IssuedDocument.id)
            .limit(1)
        ).scalar_one_or_none()
        if kept is not None:
            return bytes(document_files(session, kept).pdf)
        consumer = self.consumer(complaint.consumer_number)
        issued = issue_document(
            session,
            process_service(self.registry, DocumentKeys),
            DocumentRequest(
                kind=COMPLAINT_CASE_FILE.code,
                office_code=complaint.office_code,
                subject_type=CASE_FILE_SUBJECT,
                subject_id=subject,
                issuer=computer_issued(
                    self.registry, complaint.office_code, "Complaint cell", "शिकायत प्रकोष्ठ"
                ),
                holder=Holder(
                    name_deva=consumer.name_hi,
                    name_latin=consumer.name_en,
                    mobile_masked=mask_mobile(complaint.mobile),
                ),
                valid_for=CASE_FILE_VALID_FOR,
                details=details,
                requested_by_client=requested_by[:64],
            ),
            str(self.registry.settings["hub.public_url"]),
        )
        audit_record(
            session,
            requested_by,
            "complaint.case_file_issued",
            SUBJECT_TYPE,
            complaint.complaint_no,
            {"document": issued.record.number, "steps": len(timeline)},
        )
        return bytes(document_files(session, issued.record).pdf)

    def _timeline(self, session: Session, case: WorkflowCase, complaint: Complaint) -> list[str]:
        """Every step and every SMS, oldest first, one line each as the forum reads them."""
        definition = self.workflows.for_case(case)
        entries: list[tuple[datetime, int, str]] = []
        for event in self.workflows.history(session, case):
            action_hi, action_en = action_label(definition, event.from_state, event.action)
            what = "Registered / पंजीकृत" if event.action == "start" else f"{action_en} / {action_hi}"
            role_en, role_hi = ROLE_NAMES.get(event.role, (event.role, ""))
            by = f"{event.actor} ({role_en}{' / ' + role_hi if role_hi else ''})"
            to = definition.state(event.to_state)
            line = f"{_ist(event.at)} IST · {what} · {by} · → {to.label_en} / {to.label_hi}"
            if event.reason:
                line += f" · {event.reason}"
            entries.append((event.at, 0, line))
        for sms in session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.key == f"complaint:{complaint.complaint_no}", OutboxMessage.kind == "sms")
            .order_by(OutboxMessage.id)
        ).scalars():
            delivered = (
                f"handed to the SMS gateway {_ist(sms.delivered_at)} IST / भेजा गया"
                if sms.delivered_at is not None
                else f"{sms.status} / लंबित"
            )
            line = (
                f"{_ist(sms.created_at)} IST · SMS to {mask_mobile(str(sms.payload.get('mobile', '')))} · "
                f"{delivered} · {sms.payload.get('text', '')}"
            )
            entries.append((sms.created_at, 1, line))
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        return [line for _, _, line in entries]
