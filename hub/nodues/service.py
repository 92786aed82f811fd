"""No-dues applications: filing, the automatic checks, the officer's decision and the certificate.

The web request only files the application (state ``checks_pending``) and
writes an outbox message ``nodues.checks``. The worker runs the checks
against billing and KYC *outside* any database transaction, then records the
evidence and moves the workflow in one short transaction. If billing or KYC
cannot answer, the attempt is noted and the handler fails, so the outbox
retries it with backoff: an application is never decided on missing data.

What follows a transition (certificate, SMS, revocation, supersession) is a
workflow listener (:class:`NoDuesTransitions`), so the console, the worker
and escalation all get the same behaviour.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from pyramid.registry import Registry
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certs.document import Check, Connection, Holder, Issuer, Purpose, mask_mobile
from connectors.billing import MeterHealth, OutstandingDues, UnknownConsumers
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.samagra import SamagraPerson
from hub.certificates.issuing import DocumentRequest, issue_document, revoke_document
from hub.certificates.keys import DocumentKeys
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.document import IssuedDocument
from hub.models.meta import utcnow
from hub.models.nodues import ConsumerAccount, LinkedConnection, NoDuesApplication, NoDuesCheck
from hub.models.officer import Officer
from hub.models.outbox import OutboxMessage
from hub.models.workflow import WorkflowCase, WorkflowEvent
from hub.nodues.accounts import Billing, Kyc, Samagra
from hub.nodues.names import same_name
from hub.nodues.workflow import OPEN_STATES, SUBJECT_TYPE, WORKFLOW, parse_routing
from hub.offices import office_names
from hub.outbox import enqueue, enqueue_sms, unit_of_work
from hub.systems import Connectors
from hub.workflow import SYSTEM_ROLE, WorkflowError, WorkflowRegistry, find_case

log = logging.getLogger(__name__)

CHECKS_KIND = "nodues.checks"
KIND = "no_dues_certificate"
ELECTIONS = (
    "gram_panchayat",
    "janpad_panchayat",
    "zila_panchayat",
    "nagar_parishad",
    "municipal_council",
    "municipal_corporation",
    "cooperative_society",
    "other",
)
# How an applicant shows they are the person of the Samagra ID: e-KYC of the account carrying that ID,
# or an OTP to the mobile the Samagra registry holds for the person.
IDENTITY_PROOFS = ("ekyc", "samagra_otp")
DESIGNATIONS = {
    "dgm": ("Deputy General Manager", "उप महाप्रबंधक"),
    "gm": ("General Manager", "महाप्रबंधक"),
}


@dataclass(frozen=True)
class Filing:
    """A validated application, before it is written."""

    account: ConsumerAccount
    client_id: str
    # What the applicant typed; the certificate prints the registry's names.
    name_deva: str
    name_latin: str
    person: SamagraPerson
    # How the applicant proved to be ``person``: "ekyc" or "samagra_otp".
    identity_proof: str
    samagra_id: str
    mobile: str
    connections: tuple[str, ...]
    no_connection: bool
    purpose: Mapping[str, str]
    dues_as_of: date | None
    office_code: str


def file_application(session: Session, workflows: WorkflowRegistry, filing: Filing) -> NoDuesApplication:
    """Write the application, start its case and queue its checks; 409 if the person has one open.

    The open-application constraint is checked inside a SAVEPOINT so the loser
    of a race gets a clean 409 and its transaction writes nothing.
    """
    app = NoDuesApplication(
        public_id="ND-" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10)),
        client_id=filing.client_id,
        account_id=filing.account.id,
        name_deva=filing.person.name_hi,
        name_latin=filing.person.name_en,
        typed_name_deva=filing.name_deva,
        typed_name_latin=filing.name_latin,
        name_check=name_check(filing.name_deva, filing.name_latin, filing.person),
        identity_proof=filing.identity_proof,
        samagra_id=filing.samagra_id,
        mobile=filing.mobile,
        connections=list(filing.connections),
        no_connection=filing.no_connection,
        purpose=dict(filing.purpose),
        dues_as_of=filing.dues_as_of,
        office_code=filing.office_code,
        status="checks_pending",
        open_samagra_id=filing.samagra_id,
        check_attempts=0,
        rejection_reasons=[],
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(app)
            session.flush()
    except IntegrityError:
        raise Problem(
            "application_open",
            "this person already has an application being processed; wait for its decision",
        ) from None
    workflows.start(
        session,
        WORKFLOW,
        SUBJECT_TYPE,
        app.public_id,
        filing.office_code,
        f"client:{filing.client_id}",
        "applicant",
        data={"connections": list(filing.connections), "no_connection": filing.no_connection},
    )
    enqueue(session, CHECKS_KIND, {"application_id": app.public_id}, key=f"nodues:{app.public_id}")
    return app


def name_check(typed_deva: str, typed_latin: str, person: SamagraPerson) -> str:
    """``match`` if every name typed is the registry's in some spelling, else ``mismatch``."""
    typed = [n for n in (typed_deva, typed_latin) if n]
    ok = bool(typed) and all(same_name(n, person.name_hi, person.name_en) for n in typed)
    return "match" if ok else "mismatch"


def account_connections(session: Session, account_id: int) -> list[str]:
    """The consumer numbers linked to an account (each proved to be the account holder's)."""
    return list(
        session.execute(
            select(LinkedConnection.consumer_number)
            .where(LinkedConnection.account_id == account_id)
            .order_by(LinkedConnection.consumer_number)
        ).scalars()
    )


def has_open_application(session: Session, samagra_id: str) -> bool:
    return (
        session.execute(
            select(NoDuesApplication.id).where(NoDuesApplication.open_samagra_id == samagra_id)
        ).first()
        is not None
    )


# -- automatic checks -----------------------------------------------------------------------


@dataclass
class CheckResult:
    name: str
    consumer_number: str | None
    passed: bool
    evidence_ref: str
    details: dict[str, Any] = field(default_factory=dict)
    reason: dict[str, Any] | None = None


def _money(amount: Decimal) -> str:
    return f"₹{amount:,.2f}"


def identity_check(samagra: Samagra, samagra_id: str, identity_proof: str | None, stamp: str) -> CheckResult:
    """The Samagra registry still knows the person, and how the applicant proved to be them."""
    try:
        person: SamagraPerson = samagra.get_person(samagra_id)
    except NotFound:
        return CheckResult(
            "identity",
            None,
            False,
            f"samagra:{samagra_id}:unknown@{stamp}",
            {"samagra": "unknown"},
            {
                "code": "samagra_unknown",
                "message_en": f"the Samagra registry has no member {samagra_id}",
                "message_hi": f"समग्र पंजी में सदस्य आईडी {samagra_id} नहीं है",
            },
        )
    proved = identity_proof in IDENTITY_PROOFS
    return CheckResult(
        "identity",
        None,
        proved,
        f"samagra:{samagra_id}:family:{person.family_id}:{identity_proof or 'none'}@{stamp}",
        {"samagra": "member", "proof": identity_proof or "none"},
        None
        if proved
        else {
            "code": "identity_not_proved",
            "message_en": "the applicant has not proved to be the person of this Samagra ID",
            "message_hi": "आवेदक ने इस समग्र आईडी का व्यक्ति होना प्रमाणित नहीं किया है",
        },
    )


def person_connections(billing: Billing, samagra_id: str, linked: Sequence[str]) -> set[str]:
    """Every connection billing registers to the person and every one linked to the applying account."""
    return {c.consumer_number for c in billing.connections_by_samagra(samagra_id)} | set(linked)


def no_connection_check(billing: Billing, samagra_id: str, linked: Sequence[str], stamp: str) -> CheckResult:
    """No connection billing registers to the person, and none linked to the applying account."""
    found = person_connections(billing, samagra_id, linked)
    return CheckResult(
        "no_connection",
        None,
        not found,
        f"billing:connections_by_samagra+account:{len(found)}@{stamp}",
        {"connections_found": len(found)},
        None
        if not found
        else {
            "code": "connections_exist",
            "count": len(found),
            "message_en": f"{len(found)} connection(s) are registered to this Samagra ID in billing or "
            "linked to this account: apply for them",
            "message_hi": "इस समग्र आईडी पर बिलिंग में या इस खाते से कनेक्शन जुड़े हैं: उनके लिए आवेदन करें",
        },
    )


def _uncovered_dues(
    billing: Billing, samagra_id: str, covered: Sequence[str], as_of: date | None
) -> tuple[int, dict[str, OutstandingDues]]:
    """How many connections billing registers to the person, and the dues of those not covered."""
    registered = [c.consumer_number for c in billing.connections_by_samagra(samagra_id)]
    others = [n for n in registered if n not in covered]
    if not others:
        return len(registered), {}
    try:
        return len(registered), dict(billing.outstanding_dues_many(others, as_of))
    except UnknownConsumers as exc:
        # Closed between billing's two answers: nothing more to owe there.
        others = [n for n in others if n not in exc.consumer_numbers]
        return len(registered), dict(billing.outstanding_dues_many(others, as_of)) if others else {}


def registered_connections_checks(
    billing: Billing, samagra_id: str, covered: Sequence[str], as_of: date | None, stamp: str
) -> list[CheckResult]:
    """Dues on the person's other connections in billing: a certificate says the person owes nothing."""
    registered, others = _uncovered_dues(billing, samagra_id, covered, as_of)
    owing = {n: d for n, d in others.items() if not d.is_clear}
    results = [
        CheckResult(
            "registered_connections",
            None,
            not owing,
            f"billing:connections_by_samagra:{registered}@{stamp}",
            {"registered": registered, "outside_application": len(others), "owing": len(owing)},
        )
    ]
    for number, owed in owing.items():
        results.append(
            CheckResult(
                "dues",
                number,
                False,
                owed.evidence_id,
                {"amount": str(owed.amount), "as_of": owed.as_of.isoformat(), "covered": False},
                {
                    "code": "dues_outstanding",
                    "consumer_number": number,
                    "amount": str(owed.amount),
                    "as_of": owed.as_of.isoformat(),
                    "message_en": f"{_money(owed.amount)} outstanding on {number}, registered to you in "
                    f"billing, as of {owed.as_of}: pay it and apply again",
                    "message_hi": f"आपके नाम दर्ज उपभोक्ता क्रमांक {number} पर {_money(owed.amount)} बकाया "
                    "राशि है: भुगतान कर पुनः आवेदन करें",
                },
            )
        )
    return results


def gather_checks(
    billing: Billing,
    kyc: Kyc,
    connections: Sequence[str],
    samagra_id: str,
    no_connection: bool,
    as_of: date | None,
    now: datetime,
    *,
    samagra: Samagra,
    identity_proof: str | None,
    linked: Sequence[str] = (),
) -> list[CheckResult]:
    """Ask Samagra, billing and KYC; ConnectorUnavailable propagates (the caller retries later).

    ``linked``: the connections of the applying account, which a declaration of no connection must
    not leave out.
    """
    stamp = now.isoformat(timespec="seconds")
    results = [identity_check(samagra, samagra_id, identity_proof, stamp)]
    if no_connection:
        results.append(no_connection_check(billing, samagra_id, linked, stamp))
        return results
    results.extend(registered_connections_checks(billing, samagra_id, connections, as_of, stamp))
    known = list(connections)
    try:
        dues = dict(billing.outstanding_dues_many(known, as_of))
    except UnknownConsumers as exc:
        for number in exc.consumer_numbers:
            results.append(
                CheckResult(
                    "connection",
                    number,
                    False,
                    f"billing:unknown@{stamp}",
                    {},
                    {
                        "code": "unknown_consumer_number",
                        "consumer_number": number,
                        "message_en": f"billing no longer knows {number}: unlink it",
                        "message_hi": f"बिलिंग में उपभोक्ता क्रमांक {number} नहीं मिला",
                    },
                )
            )
        known = [n for n in known if n not in exc.consumer_numbers]
        dues = dict(billing.outstanding_dues_many(known, as_of)) if known else {}
    records = kyc.get_records(known) if known else {}
    for number in known:
        owed = dues[number]
        results.append(
            CheckResult(
                "dues",
                number,
                owed.is_clear,
                owed.evidence_id,
                {"amount": str(owed.amount), "as_of": owed.as_of.isoformat()},
                None
                if owed.is_clear
                else {
                    "code": "dues_outstanding",
                    "consumer_number": number,
                    "amount": str(owed.amount),
                    "as_of": owed.as_of.isoformat(),
                    "message_en": f"{_money(owed.amount)} outstanding on {number} as of {owed.as_of}: "
                    "pay it and apply again",
                    "message_hi": f"उपभोक्ता क्रमांक {number} पर {_money(owed.amount)} बकाया राशि है: "
                    "भुगतान कर पुनः आवेदन करें",
                },
            )
        )
        try:
            meter = billing.meter_status(number)
            healthy = meter.health is MeterHealth.HEALTHY
            meter_ref = f"billing:meter:{meter.meter_number}:{meter.health.value}@{stamp}"
            meter_details = {
                "meter_number": meter.meter_number,
                "health": meter.health.value,
                "meter_type": meter.meter_type.value,
            }
        except NotFound:
            healthy, meter_ref, meter_details = False, f"billing:meter:none@{stamp}", {"health": "no_meter"}
        results.append(
            CheckResult(
                "meter",
                number,
                healthy,
                meter_ref,
                meter_details,
                None
                if healthy
                else {
                    "code": "meter_faulty",
                    "consumer_number": number,
                    "message_en": f"the meter of {number} is not working: ask your distribution centre "
                    "to replace it, then apply again",
                    "message_hi": f"उपभोक्ता क्रमांक {number} का मीटर खराब है: वितरण केन्द्र से बदलवाकर पुनः आवेदन करें",
                },
            )
        )
        record = records.get(number)
        status = record.status.value if record is not None else "not_done"
        complete = record is not None and record.is_complete
        results.append(
            CheckResult(
                "ekyc",
                number,
                complete,
                f"kyc:{number}:{status}:"
                + (record.updated_at.isoformat(timespec="seconds") if record is not None else stamp),
                {"status": status},
                None
                if complete
                else {
                    "code": "ekyc_incomplete",
                    "consumer_number": number,
                    "kyc_status": status,
                    "message_en": f"e-KYC of {number} is not complete ({status}): complete it and apply again",
                    "message_hi": f"उपभोक्ता क्रमांक {number} का ई-केवाईसी पूर्ण नहीं है: पूर्ण कर पुनः आवेदन करें",
                },
            )
        )
    return results


class ChecksRunner:
    """The outbox handler of ``nodues.checks`` messages (runs in the worker)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        run_checks(self.registry, connectors, str(message.payload["application_id"]))


def run_checks(
    registry: Registry, connectors: Mapping[str, Any], public_id: str, now: datetime | None = None
) -> str:
    """Check one application; returns its state afterwards. Raises ConnectorUnavailable to be retried."""
    with unit_of_work(registry) as session:
        app = session.execute(
            select(NoDuesApplication).where(NoDuesApplication.public_id == public_id)
        ).scalar_one_or_none()
        if app is None or app.status != "checks_pending":
            return app.status if app is not None else "missing"
        connections, samagra_id, no_connection, as_of, proof = (
            list(app.connections),
            app.samagra_id,
            app.no_connection,
            app.dues_as_of,
            app.identity_proof,
        )
        linked = account_connections(session, app.account_id)
    now = now or utcnow()
    try:
        billing, kyc, samagra = connectors.get("billing"), connectors.get("kyc"), connectors.get("samagra")
        if billing is None or kyc is None or samagra is None:
            raise ConnectorUnavailable("billing, KYC and Samagra connectors are not configured", system="hub")
        results = gather_checks(
            billing,
            kyc,
            connections,
            samagra_id,
            no_connection,
            as_of,
            now,
            samagra=samagra,
            identity_proof=proof,
            linked=linked,
        )
    except ConnectorUnavailable as exc:
        with unit_of_work(registry) as session:
            session.execute(
                update(NoDuesApplication)
                .where(NoDuesApplication.public_id == public_id)
                .values(
                    check_attempts=NoDuesApplication.check_attempts + 1,
                    last_check_error=f"{exc.system or 'a system'} did not answer at "
                    f"{now.isoformat(timespec='seconds')}; retrying",
                )
            )
        raise
    workflows: WorkflowRegistry = process_service(registry, WorkflowRegistry)
    with unit_of_work(registry) as session:
        app = session.execute(
            select(NoDuesApplication).where(NoDuesApplication.public_id == public_id).with_for_update()
        ).scalar_one()
        if app.status != "checks_pending":
            return app.status  # another delivery of the same message got here first
        for result in results:
            session.add(
                NoDuesCheck(
                    application_id=app.id,
                    name=result.name,
                    consumer_number=result.consumer_number,
                    result="pass" if result.passed else "fail",
                    evidence_ref=result.evidence_ref[:200],
                    details=result.details,
                    checked_at=now,
                )
            )
        app.check_attempts += 1
        app.last_check_error = None
        app.checks_completed_at = now
        reasons = [r.reason for r in results if r.reason is not None]
        app.rejection_reasons = reasons
        case = find_case(session, WORKFLOW, SUBJECT_TYPE, public_id)
        assert case is not None
        if reasons:
            workflows.act(
                session,
                case,
                "checks_failed",
                "hub",
                [SYSTEM_ROLE],
                reason="; ".join(str(r["message_en"]) for r in reasons),
                data={"failed": [r["code"] for r in reasons]},
                now=now,
            )
        else:
            workflows.act(session, case, "checks_passed", "hub", [SYSTEM_ROLE], now=now)
        state = app.status
    return state


# -- transitions: routing, certificate, SMS -----------------------------------------------


class NoDuesTransitions:
    """Workflow listener: keeps the application row in step and does what each decision implies."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        settings = registry.settings
        self.routing = parse_routing(settings["hub.nodues.routing"])
        self.validity = timedelta(days=int(settings["hub.nodues.validity_days"]))
        self.public_url = str(settings["hub.public_url"])

    def __call__(self, session: Session, case: WorkflowCase, event: WorkflowEvent) -> None:
        app = session.execute(
            select(NoDuesApplication).where(NoDuesApplication.public_id == case.subject_id)
        ).scalar_one()
        app.status = case.state
        if case.state not in OPEN_STATES:
            app.open_samagra_id = None
        if event.action == "checks_passed":
            case.assigned_role = self.approver_for(session, app)
        elif event.action == "approve":
            app.decided_at = event.at
            self._issue(session, app, event)
        elif event.to_state == "rejected":
            app.decided_at = event.at
            self._sms_decided(session, app, event.reason or "")
        elif event.action == "revoke":
            self._revoke(session, app, event)
        session.flush()

    def approver_for(self, session: Session, app: NoDuesApplication) -> str:
        from hub.models.nodues import LinkedConnection

        offices = [app.office_code]
        if app.connections:
            link = session.execute(
                select(LinkedConnection).where(
                    LinkedConnection.account_id == app.account_id,
                    LinkedConnection.consumer_number == app.connections[0],
                )
            ).scalar_one_or_none()
            if link is not None:
                offices = [link.dc_code, link.division_code, link.circle_code]
        for office in offices:
            if office in self.routing:
                return self.routing[office]
        return str(self.registry.settings["hub.nodues.approver_role"])

    def _issue(self, session: Session, app: NoDuesApplication, event: WorkflowEvent) -> None:
        settings = self.registry.settings
        checks = list(
            session.execute(
                select(NoDuesCheck).where(NoDuesCheck.application_id == app.id).order_by(NoDuesCheck.id)
            ).scalars()
        )
        officer = _officer_for(session, event.actor)
        designation = DESIGNATIONS.get(event.role, (event.role.upper(), ""))
        dues_now = self._dues_at_issue(session, app)
        connections = []
        for number in app.connections:
            meter = next(c for c in checks if c.name == "meter" and c.consumer_number == number)
            connections.append(
                Connection(
                    consumer_number=number,
                    dues=dues_now[number].amount,
                    dues_as_of=event.at,
                    meter_status=str(meter.details.get("health", "")),
                )
            )
        # Only the same person's certificate, and only when the applicant proved to be that person.
        previous = (
            session.execute(
                select(IssuedDocument)
                .where(
                    IssuedDocument.kind == KIND,
                    IssuedDocument.holder_samagra_id == app.samagra_id,
                    IssuedDocument.status == "valid",
                )
                .order_by(IssuedDocument.id.desc())
            ).scalar()
            if app.identity_proof in IDENTITY_PROOFS
            else None
        )
        purpose = app.purpose
        request = DocumentRequest(
            kind=KIND,
            office_code=app.office_code,
            subject_type=SUBJECT_TYPE,
            subject_id=app.public_id,
            issuer=Issuer(
                discom_name_en=str(settings["hub.discom.name_en"]),
                discom_name_hi=str(settings["hub.discom.name_hi"]),
                office_name=office_names(self.registry).printed(app.office_code),
                officer_name=officer.name if officer is not None else event.actor,
                officer_designation_en=designation[0],
                officer_designation_hi=designation[1],
                office_code=app.office_code,
            ),
            holder=Holder(
                name_deva=app.name_deva,
                name_latin=app.name_latin,
                samagra_id=app.samagra_id,
                mobile_masked=mask_mobile(app.mobile),
            ),
            valid_for=self.validity,
            connections=connections,
            checks=[
                # The dues a certificate states are billing's answer at the moment of issue.
                Check(
                    name=f"dues:{c.consumer_number}",
                    result="pass",
                    evidence_ref=dues_now[c.consumer_number].evidence_id[:200],
                    checked_at=event.at,
                )
                if c.name == "dues" and c.consumer_number in dues_now
                else Check(
                    name=f"{c.name}:{c.consumer_number}" if c.consumer_number else c.name,
                    result=c.result,
                    evidence_ref=c.evidence_ref,
                    checked_at=c.checked_at,
                )
                for c in checks
            ],
            purpose=Purpose(
                description="Nomination for election / निर्वाचन हेतु नामांकन",
                election=str(purpose.get("election", "")),
                body=str(purpose.get("body", "")),
                ward=str(purpose.get("ward", "")),
            ),
            requested_by_client=app.client_id,
            supersedes=previous,
        )
        keys = process_service(self.registry, DocumentKeys)
        issued = issue_document(session, keys, request, self.public_url, now=event.at)
        app.certificate_id = issued.record.id
        number = issued.record.number
        code = issued.verification_code
        pdf = f"{self.public_url}/api/v1/certificates/{quote(number, safe='/')}/pdf?code={code}"
        enqueue_sms(
            session,
            app.mobile,
            f"Your no-dues certificate {number} is issued. Download: {pdf} Verify code {code}. MPCZ",
            "nodues_issued",
        )
        if previous is not None:
            self._supersede_application(session, previous, number)

    def _dues_at_issue(self, session: Session, app: NoDuesApplication) -> dict[str, OutstandingDues]:
        """Ask billing again as the officer approves: the certificate states today's answer.

        The approval does not happen and the case stays where it was if billing cannot answer
        (ConnectorUnavailable: whoever acts rolls back and says so) or its answer is no longer
        clear (WorkflowError).
        """
        billing = process_service(self.registry, Connectors).require("billing")
        try:
            if app.no_connection:
                found = person_connections(
                    billing, app.samagra_id, account_connections(session, app.account_id)
                )
                if found:
                    raise WorkflowError(
                        "connections_exist",
                        f"{len(found)} connection(s) are now registered to this person: not issued",
                    )
                return {}
            dues = dict(billing.outstanding_dues_many(list(app.connections), app.dues_as_of))
            _registered, others = _uncovered_dues(billing, app.samagra_id, app.connections, app.dues_as_of)
            dues.update(others)
        except UnknownConsumers as exc:
            raise WorkflowError(
                "dues_changed", "billing no longer knows " + ", ".join(exc.consumer_numbers)
            ) from None
        owing = [n for n, d in dues.items() if not d.is_clear]
        if owing:
            raise WorkflowError("dues_changed", "dues are now outstanding on " + ", ".join(owing))
        return {n: dues[n] for n in app.connections}

    def _supersede_application(self, session: Session, previous: IssuedDocument, number: str) -> None:
        if previous.subject_type != SUBJECT_TYPE:
            return
        case = find_case(session, WORKFLOW, SUBJECT_TYPE, previous.subject_id)
        if case is not None and case.state == "approved":
            workflows: WorkflowRegistry = process_service(self.registry, WorkflowRegistry)
            workflows.act(
                session,
                case,
                "supersede",
                "hub",
                [SYSTEM_ROLE],
                reason=f"superseded by certificate {number}",
                data={"superseded_by": number},
            )

    def _sms_decided(self, session: Session, app: NoDuesApplication, reason: str) -> None:
        text = f"Your no-dues application {app.public_id} was not approved: {reason}"[:300]
        enqueue_sms(session, app.mobile, text, "nodues_decided")

    def certificate_revoked(
        self, session: Session, record: IssuedDocument, revoked_by: str, reason: str
    ) -> None:
        """The certificate was revoked outside the console (REST): the case follows it."""
        case = find_case(session, WORKFLOW, SUBJECT_TYPE, record.subject_id)
        if case is not None and case.state == "approved":
            workflows: WorkflowRegistry = process_service(self.registry, WorkflowRegistry)
            workflows.act(session, case, "revoke", revoked_by, [SYSTEM_ROLE], reason=reason or "revoked")

    def _revoke(self, session: Session, app: NoDuesApplication, event: WorkflowEvent) -> None:
        if app.certificate_id is None:
            return
        record = session.get(IssuedDocument, app.certificate_id)
        if record is None:
            return
        # Revoked here (console) or already by REST revokeCertificate, whose listener led here.
        revoke_document(session, record, event.actor, event.reason or "")
        if record.status == "revoked":
            enqueue_sms(session, app.mobile, revoked_sms(record.number), "certificate_revoked")


def revoked_sms(number: str) -> str:
    """What the holder is told when the certificate is revoked (DLT template ``certificate_revoked``)."""
    return (
        f"आपका अदेय प्रमाण-पत्र {number} निरस्त कर दिया गया है। "
        f"Your no-dues certificate {number} has been revoked. Queries: 1912. MPCZ"
    )


def _officer_for(session: Session, actor: str) -> Officer | None:
    if not actor.startswith("officer:"):
        return None
    return session.execute(
        select(Officer).where(Officer.username == actor.removeprefix("officer:"))
    ).scalar_one_or_none()


# -- what the caller sees -----------------------------------------------------------------


def find_application(session: Session, client_id: str, public_id: str) -> NoDuesApplication:
    """The caller's own application; another client's answers exactly like a missing one."""
    app = session.execute(
        select(NoDuesApplication).where(
            NoDuesApplication.public_id == public_id, NoDuesApplication.client_id == client_id
        )
    ).scalar_one_or_none()
    if app is None:
        raise Problem("not_found", "no such application for this client")
    return app


def application_json(
    session: Session, workflows: WorkflowRegistry, app: NoDuesApplication, *, full: bool = True
) -> dict[str, Any]:
    definition = workflows.get(WORKFLOW)
    state = definition.states.get(app.status)
    body: dict[str, Any] = {
        "application_id": app.public_id,
        "status": app.status,
        "status_label": {"en": state.label_en, "hi": state.label_hi} if state else None,
        "applicant": {
            "name_deva": app.name_deva,
            "name_latin": app.name_latin,
            "samagra_id": app.samagra_id,
            "mobile_masked": mask_mobile(app.mobile),
            "typed_name_deva": app.typed_name_deva,
            "typed_name_latin": app.typed_name_latin,
            "name_check": app.name_check,
            "identity_proof": app.identity_proof,
        },
        "connections": list(app.connections),
        "no_connection": app.no_connection,
        "purpose": dict(app.purpose),
        "dues_as_of": app.dues_as_of.isoformat() if app.dues_as_of else None,
        "office_code": app.office_code,
        "created_at": app.created_at.isoformat(),
        "decided_at": app.decided_at.isoformat() if app.decided_at else None,
        "rejection_reasons": list(app.rejection_reasons or []),
        "certificate": None,
    }
    if app.certificate_id is not None:
        record = session.get(IssuedDocument, app.certificate_id)
        if record is not None:
            base = "/api/v1/certificates/" + quote(record.number, safe="/")
            body["certificate"] = {
                "number": record.number,
                "status": record.status_at(utcnow()),
                "valid_until": record.valid_until.isoformat(),
                "links": {"registry": base, "xml": base + "/xml", "pdf": base + "/pdf"},
            }
    if app.status == "checks_pending":
        body["checks_pending"] = {"attempts": app.check_attempts, "last_error": app.last_check_error}
    if not full:
        return body
    body["checks"] = [
        {
            "name": c.name,
            "consumer_number": c.consumer_number,
            "result": c.result,
            "evidence_ref": c.evidence_ref,
            "details": c.details,
            "checked_at": c.checked_at.isoformat(),
        }
        for c in session.execute(
            select(NoDuesCheck).where(NoDuesCheck.application_id == app.id).order_by(NoDuesCheck.id)
        ).scalars()
    ]
    case = find_case(session, WORKFLOW, SUBJECT_TYPE, app.public_id)
    body["history"] = [
        {
            "at": e.at.isoformat(),
            "action": e.action,
            "from": e.from_state,
            "to": e.to_state,
            "by_role": e.role,
            "reason": e.reason,
        }
        for e in (workflows.history(session, case) if case is not None else [])
    ]
    if case is not None and case.due_at is not None:
        body["decision_due_at"] = case.due_at.isoformat()
    return body
