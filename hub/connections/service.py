"""New electricity connections filed through the state single window: intake, workflow, status back.

Every function runs in the caller's unit of work (``request.dbsession``, or a
worker's session) and raises :class:`hub.errors.Problem` with a stable code
for anything refused; the channels (REST views, SOAP handlers, the officer
console) only translate. Side effects that must follow the commit (status
updates to the single window, the compensation credit) are outbox rows.

Status back: a workflow listener turns every change of state into a
``singlewindow.status`` outbox message keyed by the application, so the
worker delivers them in order, each with its own delivery id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from pyramid.registry import Registry
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certs.document import Holder, Issuer
from connectors.billing import NewConsumer
from connectors.errors import ConnectorRejected
from connectors.payment import PaymentCallbackInvalid, PaymentStatus
from connectors.singlewindow import StatusUpdate
from forms.newconnection import ConnectionApplicationForm, DocumentRef
from forms.newconnection.workflow import APPLICANT, NEXT_STEPS, SYSTEM, WORKFLOW_NAME
from hub.audit import record as audit_record
from hub.certificates.issuing import DocumentRequest, financial_year, issue_document
from hub.certificates.keys import DocumentKeys
from hub.connections.config import BILLING_CATEGORIES, ConnectionSettings, origin
from hub.db import Database
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.connection import (
    ConnectionApplication,
    ConnectionDocument,
    ConnectionIncident,
    ConnectionPayment,
)
from hub.models.meta import IST, utcnow
from hub.models.officer import Officer
from hub.models.workflow import WorkflowBreach, WorkflowCase, WorkflowEvent
from hub.offices import office_names
from hub.outbox import enqueue, unit_of_work
from hub.systems import Connectors
from hub.workflow import STATUTORY_ACTION, STATUTORY_BREACH, WorkflowError, WorkflowRegistry, find_case

log = logging.getLogger(__name__)

SUBJECT_TYPE = "connection_application"
STATUS_KIND = "singlewindow.status"
COMPENSATION_KIND = "connections.compensation"


def status_key(application: ConnectionApplication) -> str:
    """The outbox key: one application's updates are delivered strictly in order."""
    return f"connection-application:{application.id}"


def payment_reference(application: ConnectionApplication) -> str:
    """The demand note's reference at the gateway: known before the note is numbered."""
    return f"{application.application_no}/DN"


def payload_digest(sw_application_id: str, form: ConnectionApplicationForm) -> str:
    canonical = json.dumps(
        {"sw_application_id": sw_application_id, "form_version": form.form_version, "form": form.cleaned},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Submitted:
    acknowledgement: dict[str, Any]
    created: bool


@dataclass(frozen=True)
class FetchedDocument:
    ref: DocumentRef
    content: bytes


class ConnectionService:
    """What the channels call. One per app, found by its type (``request.find_service``)."""

    def __init__(self, registry: Registry, settings: ConnectionSettings) -> None:
        self.registry = registry
        self.settings = settings
        app_settings = registry.settings
        self.discom_code = str(app_settings["hub.discom.code"])
        self.discom_en = str(app_settings["hub.discom.name_en"])
        self.discom_hi = str(app_settings["hub.discom.name_hi"])
        self.public_url = str(app_settings["hub.public_url"])

    @property
    def workflows(self) -> WorkflowRegistry:
        workflows: WorkflowRegistry = process_service(self.registry, WorkflowRegistry)
        return workflows

    @property
    def engine(self) -> Engine:
        engine = process_service(self.registry, Database).engine
        return engine

    def connector(self, system: str) -> Any:
        return process_service(self.registry, Connectors).require(system)

    # -- incidents ---------------------------------------------------------------------

    def record_incident(
        self, operation: str, code: str, caller: str, reference: str | None, detail: str
    ) -> None:
        """Write a refused input on its own connection: the request's transaction is rolled back.

        Called once that transaction has ended (:func:`hub.connections.views.recorded`): on SQLite a
        second connection writing while the request holds the write lock would wait on it."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(ConnectionIncident).values(
                        at=utcnow(),
                        operation=operation[:60],
                        code=code[:60],
                        caller=caller[:100],
                        reference=(reference or None) and reference[:100],
                        detail=detail[:2000],
                    )
                )
        except Exception:
            log.exception(
                "could not record a connection incident", extra={"code": code, "operation": operation}
            )
        log.info(
            "connection input refused",
            extra={"operation": operation, "code": code, "caller": caller, "reference": reference},
        )

    # -- intake ------------------------------------------------------------------------

    def submit(
        self,
        session: Session,
        sw_application_id: str,
        form: ConnectionApplicationForm,
        caller: str,
        channel: str,
        now: datetime | None = None,
    ) -> Submitted:
        """File an application, or return the acknowledgement of the identical earlier filing."""
        now = now or utcnow()
        digest = payload_digest(sw_application_id, form)
        existing = self._by_sw_id(session, sw_application_id)
        if existing is not None:
            return self._replay(existing, digest, caller)
        office = self.settings.offices.get(form.district)
        if office is None:
            raise Problem("unprocessable", f"no distribution centre is configured for {form.district}")
        documents = self.collect_documents(form.documents)
        days = self.settings.timeline_days[form.area_class]
        application = ConnectionApplication(
            application_no="pending-" + digest[:24],
            sw_application_id=sw_application_id,
            payload_sha256=digest,
            form_version=form.form_version,
            form_data=_without_content(form.cleaned),
            acknowledgement={},
            submitted_by=caller,
            channel=channel,
            enterprise_name=form.enterprise_name,
            mobile=form.mobile,
            district=form.district,
            area_class=form.area_class,
            office_code=office,
            category=form.category,
            connected_load_kw=form.connected_load_kw,
            contract_demand_kva=form.contract_demand_kva,
            supply_voltage=form.supply_voltage,
            status="received",
            status_seq=0,
            statutory_days=days,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(application)
                session.flush()
        except IntegrityError:
            # The same id filed concurrently: whoever committed first decides.
            raced = self._by_sw_id(session, sw_application_id)
            if raced is None:
                raise
            return self._replay(raced, digest, caller)
        application.application_no = f"{self.discom_code}/NC/{financial_year(now)}/{application.id:07d}"
        self._store_documents(session, application, documents, now)
        case = self.workflows.start(
            session,
            WORKFLOW_NAME,
            SUBJECT_TYPE,
            application.application_no,
            office,
            f"client:{caller}",
            APPLICANT,
            statutory_days=days,
            now=now,
            data={"channel": channel, "sw_application_id": sw_application_id},
        )
        application.acknowledgement = self._acknowledgement(application, case)
        return Submitted(application.acknowledgement, True)

    def _replay(self, existing: ConnectionApplication, digest: str, caller: str) -> Submitted:
        if existing.payload_sha256 != digest or existing.submitted_by != caller:
            raise Problem(
                "application_conflict",
                "this single-window application id was filed with different contents",
                extra={"application_no": existing.application_no} if existing.submitted_by == caller else {},
            )
        return Submitted(existing.acknowledgement, False)

    def _acknowledgement(self, application: ConnectionApplication, case: WorkflowCase) -> dict[str, Any]:
        assert case.statutory_due_at is not None
        state = self.workflows.for_case(case).state(case.state)
        return {
            "application_no": application.application_no,
            "sw_application_id": application.sw_application_id,
            "form_version": application.form_version,
            "status": case.state,
            "status_label": {"en": state.label_en, "hi": state.label_hi},
            "received_at": application.created_at.isoformat(),
            "area_class": application.area_class,
            "statutory_days": application.statutory_days,
            "statutory_due_at": case.statutory_due_at.isoformat(),
            "statutory_due_date": case.statutory_due_at.astimezone(IST).date().isoformat(),
            "office_code": application.office_code,
            "next_steps": [{"step": step, "en": en, "hi": hi} for step, en, hi in NEXT_STEPS],
        }

    # -- documents -----------------------------------------------------------------------

    def collect_documents(self, refs: Sequence[DocumentRef]) -> list[FetchedDocument]:
        """Check every URL against the allow-list before fetching anything, then fetch and verify hashes."""
        for index, ref in enumerate(refs):
            if ref.url is not None and origin(ref.url) not in self.settings.document_origins:
                raise Problem(
                    "document_url_not_allowed",
                    f"documents/{index}: the hub does not fetch from this host",
                    extra={"field": f"documents/{index}/url"},
                )
        fetched: list[FetchedDocument] = []
        for index, ref in enumerate(refs):
            content = ref.content if ref.content is not None else self._fetch(index, ref)
            if len(content) > self.settings.max_document_bytes:
                raise Problem(
                    "document_too_large",
                    f"documents/{index}: at most {self.settings.max_document_bytes} bytes",
                    extra={"field": f"documents/{index}"},
                )
            if hashlib.sha256(content).hexdigest() != ref.sha256:
                raise Problem(
                    "document_hash_mismatch",
                    f"documents/{index}: the content does not match its sha256",
                    extra={"field": f"documents/{index}/sha256"},
                )
            fetched.append(FetchedDocument(ref, content))
        return fetched

    def _fetch(self, index: int, ref: DocumentRef) -> bytes:
        """The document at ``ref.url``, whole within ``fetch_timeout`` seconds all told.

        httpx's timeouts bound each connect and each read, not the fetch: a host sending a
        byte a second never trips them. The download runs on a thread of its own and the
        request waits for it at most the budget; past it the thread stops at its next
        chunk (or at httpx's own timeout, the same budget), whichever comes first.
        """
        assert ref.url is not None
        budget = self.settings.fetch_timeout
        deadline = time.monotonic() + budget
        outcome: list[bytes | Exception] = []
        done = threading.Event()

        def download() -> None:
            try:
                outcome.append(self._download(index, ref.url or "", deadline))
            except Exception as exc:  # the waiting request raises it
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=download, name="document-fetch", daemon=True).start()
        if not done.wait(budget) or not outcome:
            raise Problem(
                "document_fetch_failed",
                f"documents/{index}: the host did not send it within {budget:g} seconds",
            )
        result = outcome[0]
        if isinstance(result, Exception):
            raise result
        return result

    def _download(self, index: int, url: str, deadline: float) -> bytes:
        cap = self.settings.max_document_bytes
        try:
            # No redirects: a redirect could lead off the allow-list.
            with (
                httpx.Client(timeout=self.settings.fetch_timeout, follow_redirects=False) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise Problem(
                        "document_fetch_failed",
                        f"documents/{index}: the host answered {response.status_code}",
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > cap:
                        raise Problem("document_too_large", f"documents/{index}: at most {cap} bytes")
                    if time.monotonic() > deadline:
                        raise Problem("document_fetch_failed", f"documents/{index}: the host was too slow")
                return bytes(body)
        except httpx.HTTPError:
            raise Problem("document_fetch_failed", f"documents/{index}: the host did not answer") from None

    def _store_documents(
        self,
        session: Session,
        application: ConnectionApplication,
        documents: Iterable[FetchedDocument],
        now: datetime,
    ) -> None:
        for doc in documents:
            session.add(
                ConnectionDocument(
                    application_id=application.id,
                    doc_type=doc.ref.doc_type,
                    file_name=doc.ref.file_name,
                    media_type=doc.ref.media_type,
                    sha256=doc.ref.sha256,
                    size=len(doc.content),
                    source_url=doc.ref.url,
                    content=doc.content,
                    received_at=now,
                )
            )

    # -- finding -----------------------------------------------------------------------

    def _by_sw_id(self, session: Session, sw_application_id: str) -> ConnectionApplication | None:
        return session.execute(
            select(ConnectionApplication).where(ConnectionApplication.sw_application_id == sw_application_id)
        ).scalar_one_or_none()

    def find(
        self, session: Session, sw_application_id: str, caller: str, lock: bool = False
    ) -> ConnectionApplication:
        """The caller's application; another client's answers exactly like a missing one."""
        query = select(ConnectionApplication).where(
            ConnectionApplication.sw_application_id == sw_application_id
        )
        if lock:
            query = query.with_for_update()
        found = session.execute(query).scalar_one_or_none()
        if found is None or found.submitted_by != caller:
            raise Problem("not_found", "no such application")
        return found

    def by_number(self, session: Session, application_no: str, lock: bool = False) -> ConnectionApplication:
        query = select(ConnectionApplication).where(ConnectionApplication.application_no == application_no)
        if lock:
            query = query.with_for_update()
        found = session.execute(query).scalar_one_or_none()
        if found is None:
            raise Problem("not_found", "no such application")
        return found

    def case_of(self, session: Session, application: ConnectionApplication) -> WorkflowCase:
        case = find_case(session, WORKFLOW_NAME, SUBJECT_TYPE, application.application_no)
        assert case is not None, "every application has a workflow case"
        return case

    def describe(self, session: Session, application: ConnectionApplication) -> dict[str, Any]:
        """Status and full history, for the single window's pull (getConnectionApplication)."""
        case = self.case_of(session, application)
        definition = self.workflows.for_case(case)
        state = definition.state(case.state)
        history = [
            {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "action": e.action,
                "from_status": e.from_state,
                "status": e.to_state,
                "by_role": e.role,
                "reason": e.reason,
            }
            for e in self.workflows.history(session, case)
        ]
        return {
            "application_no": application.application_no,
            "sw_application_id": application.sw_application_id,
            "form_version": application.form_version,
            "status": case.state,
            "status_label": {"en": state.label_en, "hi": state.label_hi},
            "status_sequence": application.status_seq,
            "office_code": application.office_code,
            "category": application.category,
            "received_at": application.created_at.isoformat(),
            "statutory_days": application.statutory_days,
            "statutory_due_at": case.statutory_due_at.isoformat() if case.statutory_due_at else None,
            "clock_paused": case.clock_paused_at is not None,
            "query": application.query_text if case.state.startswith("query_") else None,
            "demand_note": None
            if application.demand_note_number is None
            else {
                "number": application.demand_note_number,
                "amount": str(application.demand_amount),
                "payment_url": application.payment_url,
                "paid_at": application.paid_at.isoformat() if application.paid_at else None,
                "pdf_url": self.document_url(application.demand_note_number),
            },
            "sanction_letter_number": application.sanction_letter_number,
            "sanction_letter_url": self.document_url(application.sanction_letter_number)
            if application.sanction_letter_number
            else None,
            "consumer_number": application.consumer_number,
            "released_at": application.released_at.isoformat() if application.released_at else None,
            "delay_days": application.delay_days,
            "compensation": None
            if application.compensation_amount is None
            else str(application.compensation_amount),
            "history": history,
        }

    # -- the applicant's actions (through the single window) ---------------------------------

    def respond_to_query(
        self,
        session: Session,
        sw_application_id: str,
        caller: str,
        answer: str,
        documents: Sequence[DocumentRef] = (),
    ) -> dict[str, Any]:
        application = self.find(session, sw_application_id, caller, lock=True)
        case = self.case_of(session, application)
        self._require(case, "answer", [APPLICANT])
        fetched = self.collect_documents(documents)
        now = utcnow()
        self._store_documents(session, application, fetched, now)
        self._act(
            session, case, "answer", f"client:{caller}", [APPLICANT], None, {"answer": answer[:2000]}, now
        )
        return self.describe(session, application)

    def withdraw(self, session: Session, sw_application_id: str, caller: str, reason: str) -> dict[str, Any]:
        application = self.find(session, sw_application_id, caller, lock=True)
        case = self.case_of(session, application)
        self._act(session, case, "withdraw", f"client:{caller}", [APPLICANT], reason, {}, utcnow())
        return self.describe(session, application)

    # -- payment ---------------------------------------------------------------------------

    def record_payment(
        self, session: Session, body: bytes, headers: Mapping[str, str], channel: str
    ) -> dict[str, Any]:
        """A gateway callback (verbatim body + signature headers): verified, checked, recorded once."""
        gateway = self.connector("payment")
        try:
            paid = gateway.verify_callback(body, headers)
        except PaymentCallbackInvalid as exc:
            raise Problem(exc.code if exc.code.startswith("payment_") else "payment_bad_signature") from None
        application = session.execute(
            select(ConnectionApplication)
            .where(ConnectionApplication.payment_order_id == paid.order_id)
            .with_for_update()
        ).scalar_one_or_none()
        if application is None or payment_reference(application) != paid.reference:
            raise Problem("payment_reference_unknown", extra={"reference": paid.reference})
        replay = session.execute(
            select(ConnectionPayment).where(ConnectionPayment.gateway_txn_id == paid.gateway_txn_id)
        ).scalar_one_or_none()
        if replay is not None:
            raise Problem(
                "payment_replayed",
                extra={"application_no": application.application_no, "state": application.status},
            )
        outcome = {
            "application_no": application.application_no,
            "sw_application_id": application.sw_application_id,
            "gateway_txn_id": paid.gateway_txn_id,
        }
        if paid.status is not PaymentStatus.SUCCESS:
            audit_record(
                session,
                f"gateway:{channel}",
                "connection.payment_failed",
                SUBJECT_TYPE,
                application.application_no,
                {"gateway_txn_id": paid.gateway_txn_id},
            )
            return {**outcome, "outcome": "payment_failed", "status": application.status}
        if application.status != "awaiting_payment":
            raise Problem("payment_not_expected", extra={"state": application.status})
        if paid.amount != application.demand_amount:
            raise Problem(
                "payment_amount_mismatch",
                f"paid {paid.amount}, demanded {application.demand_amount}",
            )
        now = utcnow()
        try:
            with session.begin_nested():
                session.add(
                    ConnectionPayment(
                        application_id=application.id,
                        gateway_txn_id=paid.gateway_txn_id,
                        order_id=paid.order_id,
                        amount=paid.amount,
                        paid_at=paid.paid_at,
                        recorded_at=now,
                        channel=channel,
                    )
                )
                session.flush()
        except IntegrityError:
            raise Problem("payment_replayed", extra={"application_no": application.application_no}) from None
        application.paid_at = paid.paid_at
        case = self.case_of(session, application)
        self._act(
            session,
            case,
            "payment_received",
            f"gateway:{paid.gateway_txn_id}",
            [SYSTEM],
            None,
            {"amount": str(paid.amount), "gateway_txn_id": paid.gateway_txn_id},
            now,
        )
        return {**outcome, "outcome": "recorded", "status": application.status}

    # -- officers ------------------------------------------------------------------------------

    def officer_act(
        self,
        session: Session,
        application_no: str,
        action: str,
        actor: str,
        roles: Iterable[str],
        reason: str | None = None,
        *,
        actor_name: str | None = None,
        now: datetime | None = None,
    ) -> WorkflowEvent:
        """An officer's action (the console does the same through WorkflowRegistry.act)."""
        now = now or utcnow()
        roles = list(roles)
        with Session(self.engine) as peek:
            # On its own session, before ``session`` reads (WorkflowRegistry.prepare says why).
            application = self.by_number(peek, application_no)
            self.workflows.prepare(peek, self.case_of(peek, application), action)
        application = self.by_number(session, application_no, lock=True)
        case = self.case_of(session, application)
        self._require(case, action, roles)
        return self._act(session, case, action, actor, roles, reason, {}, now)

    def prepare_action(self, session: Session, case: WorkflowCase, action: str) -> None:
        """The workflow's preparer (WorkflowRegistry.before_act)."""
        self.prepare(self.by_number(session, case.subject_id), action)

    def prepare(self, application: ConnectionApplication, action: str) -> None:
        """Ask the outside systems first, before this transaction writes anything.

        Both calls are idempotent (the order by its reference, the consumer by the
        application number), so the listener repeats them as plain reads and gets
        the same answers. Calling them before the hub's first write keeps SQLite
        (one writer) usable; PostgreSQL does not mind either way.
        """
        if action == "issue_demand_note":
            self._payment_order(application)
        elif action == "release":
            self._billing_consumer(application)

    def on_transition(self, session: Session, case: WorkflowCase, event: WorkflowEvent) -> None:
        """Workflow listener: what an action entails (documents, billing), then the status update.

        It runs inside ``WorkflowRegistry.act``, in the same transaction, whoever
        acted (the console, the single window, the payment callback): if billing or
        the gateway fails, the action fails with it and nothing changes.
        """
        if case.subject_type != SUBJECT_TYPE:
            return
        application = self.by_number(session, case.subject_id)
        if event.action == "raise_query":
            application.query_text = (event.reason or "").strip()[:2000]
        elif event.action == "issue_demand_note":
            self._issue_demand_note(session, application, event.role, _officer_name(event.actor), event.at)
        elif event.action == "sanction":
            self._issue_sanction(session, application, event.role, _officer_name(event.actor), event.at)
        elif event.action == "release":
            self._release(session, application, case, event.at)
        self.push_status(session, case, event)

    def _require(self, case: WorkflowCase, action: str, roles: Iterable[str]) -> str:
        allowed = {a.name: a for a in self.workflows.allowed_actions(case, roles)}
        if action not in allowed:
            raise Problem(
                "application_state_conflict",
                f"{action!r} is not possible while the application is {case.state}",
                extra={"state": case.state},
            )
        return sorted(allowed[action].roles & set(roles))[0]

    def _act(
        self,
        session: Session,
        case: WorkflowCase,
        action: str,
        actor: str,
        roles: Iterable[str],
        reason: str | None,
        data: dict[str, Any],
        now: datetime,
    ) -> WorkflowEvent:
        try:
            return self.workflows.act(session, case, action, actor, roles, reason=reason, data=data, now=now)
        except WorkflowError as exc:
            if exc.code == "reason_required":
                raise Problem(
                    "validation_failed", "a reason is required", extra={"field": "reason"}
                ) from None
            raise Problem(
                "application_state_conflict",
                f"{action!r} is not possible while the application is {case.state}",
                extra={"state": case.state},
            ) from None

    def _issuer(
        self, session: Session, application: ConnectionApplication, role: str, officer: str
    ) -> Issuer:
        en, hi = self.settings.officer_designations.get(role, (role, ""))
        # A document is signed in the officer's name, not the console login id.
        account = session.scalar(select(Officer).where(Officer.username == officer))
        return Issuer(
            discom_name_en=self.discom_en,
            discom_name_hi=self.discom_hi,
            office_name=office_names(self.registry).printed(application.office_code),
            officer_name=account.name if account is not None else officer,
            officer_designation_en=en,
            officer_designation_hi=hi,
            office_code=application.office_code,
        )

    def _holder(self, application: ConnectionApplication) -> Holder:
        name_hi = str(application.form_data.get("enterprise", {}).get("name_hi") or "")
        return Holder(name_deva=name_hi, name_latin=application.enterprise_name)

    def _fees(self, application: ConnectionApplication) -> tuple[list[Any], str, Decimal]:
        lines, quantity = self.settings.fees.charges(
            application.category, application.connected_load_kw, application.contract_demand_kva
        )
        return lines, quantity, sum((line.amount for line in lines), Decimal("0.00"))

    def _payment_order(self, application: ConnectionApplication) -> Any:
        total = self._fees(application)[2]
        try:
            return self.connector("payment").create_order(
                total,
                payment_reference(application),
                f"Demand note, application {application.application_no}",
            )
        except ValueError as exc:
            raise Problem("unprocessable", f"the gateway cannot take this demand: {exc}") from None

    def _billing_consumer(self, application: ConnectionApplication) -> Any:
        form = application.form_data
        name_hi = str(form.get("enterprise", {}).get("name_hi") or "") or application.enterprise_name
        try:
            return self.connector("billing").create_consumer(
                NewConsumer(
                    application_reference=application.application_no,
                    name_en=application.enterprise_name,
                    name_hi=name_hi,
                    samagra_id=None,
                    mobile=application.mobile,
                    dc_code=application.office_code,
                    category=BILLING_CATEGORIES[application.category],
                )
            )
        except ConnectorRejected as exc:
            raise Problem("unprocessable", f"billing refused the new consumer ({exc.code})") from None

    def _issue_demand_note(
        self, session: Session, application: ConnectionApplication, role: str, officer: str, now: datetime
    ) -> None:
        lines, quantity, total = self._fees(application)
        # The order first: the demand note tells the applicant where to pay.
        order = self._payment_order(application)
        details: dict[str, str | Decimal] = {
            "application_no": application.application_no,
            "sw_application_id": application.sw_application_id,
            "category": application.category,
            "charged_on": quantity,
        }
        details.update({f"fee.{line.name}": line.amount for line in lines})
        details["total"] = total
        details["payment_url"] = order.payment_url
        issued = issue_document(
            session,
            self._keys,
            DocumentRequest(
                kind="demand_note",
                office_code=application.office_code,
                subject_type=SUBJECT_TYPE,
                subject_id=application.application_no,
                issuer=self._issuer(session, application, role, officer),
                holder=self._holder(application),
                valid_for=timedelta(days=30),
                details=details,
                requested_by_client=application.submitted_by,
            ),
            self.public_url,
            now,
        )
        number = issued.record.number
        application.demand_note_number = number
        application.demand_amount = total
        application.demand_lines = {line.name: str(line.amount) for line in lines}
        application.payment_order_id = order.order_id
        application.payment_url = order.payment_url

    def _issue_sanction(
        self, session: Session, application: ConnectionApplication, role: str, officer: str, now: datetime
    ) -> None:
        details: dict[str, str | Decimal] = {
            "application_no": application.application_no,
            "sw_application_id": application.sw_application_id,
            "category": application.category,
            "connected_load_kw": application.connected_load_kw,
            "supply_voltage": application.supply_voltage,
            "demand_note": application.demand_note_number or "",
            "premises": str(application.form_data.get("premises", {}).get("address_line", "")),
            "district": application.district,
        }
        if application.contract_demand_kva is not None:
            details["contract_demand_kva"] = application.contract_demand_kva
        issued = issue_document(
            session,
            self._keys,
            DocumentRequest(
                kind="sanction_letter",
                office_code=application.office_code,
                subject_type=SUBJECT_TYPE,
                subject_id=application.application_no,
                issuer=self._issuer(session, application, role, officer),
                holder=self._holder(application),
                valid_for=timedelta(days=180),
                details=details,
                requested_by_client=application.submitted_by,
            ),
            self.public_url,
            now,
        )
        application.sanction_letter_number = issued.record.number

    def _release(
        self, session: Session, application: ConnectionApplication, case: WorkflowCase, now: datetime
    ) -> None:
        consumer = self._billing_consumer(application)
        application.consumer_number = consumer.consumer_number
        application.released_at = now
        assert case.statutory_due_at is not None
        days, amount = self.settings.compensation.for_delay(case.statutory_due_at, now)
        application.delay_days = days
        if days and not self._statutory_breach_recorded(session, case):
            # Released late before the periodic watch noticed: the breach is recorded here, once.
            session.add(
                WorkflowBreach(
                    case_id=case.id,
                    state="statutory_due_date",
                    role=None,
                    due_at=case.statutory_due_at,
                    detected_at=now,
                    escalated_to=None,
                )
            )
        if amount > 0:
            application.compensation_amount = amount
            # Credited after the commit, by the worker, idempotently by its reference.
            enqueue(
                session,
                COMPENSATION_KIND,
                {
                    "application_no": application.application_no,
                    "consumer_number": consumer.consumer_number,
                    "amount": str(amount),
                    "delay_days": days,
                },
                key=f"connection-compensation:{application.id}",
            )

    def _statutory_breach_recorded(self, session: Session, case: WorkflowCase) -> bool:
        return (
            session.execute(
                select(WorkflowBreach.id).where(
                    WorkflowBreach.case_id == case.id, WorkflowBreach.state == STATUTORY_BREACH
                )
            ).first()
            is not None
        )

    @property
    def _keys(self) -> DocumentKeys:
        keys = process_service(self.registry, DocumentKeys)
        return keys

    # -- status back to the single window -----------------------------------------------------

    def push_status(self, session: Session, case: WorkflowCase, event: WorkflowEvent) -> None:
        """Every change of state becomes an ordered outbox message."""
        if event.action not in ("start", STATUTORY_ACTION) and event.from_state == event.to_state:
            return  # an escalation moves the case between officers, not the application's status
        application = self.by_number(session, case.subject_id)
        application.status = case.state
        application.status_seq += 1
        application.updated_at = event.at
        state = self.workflows.for_case(case).state(case.state)
        remarks = f"{state.label_hi} / {state.label_en}"
        if event.action == STATUTORY_ACTION:
            remarks = _statutory_remarks(case, event, self.settings.officer_designations) + " · " + remarks
        elif event.reason:
            remarks += f": {event.reason}"
        update = StatusUpdate(
            delivery_id="assigned-by-the-outbox",
            application_id=application.sw_application_id,
            application_no=application.application_no,
            status=case.state,
            sequence=application.status_seq,
            occurred_at=event.at,
            remarks=remarks[:1000],
            details=self._status_details(application, case, event),
        )
        enqueue(session, STATUS_KIND, update.as_json(), key=status_key(application))

    def document_url(self, number: str | None) -> str | None:
        """Where the single window downloads a document of its application with its own token."""
        if number is None:
            return None
        return f"{self.public_url}/api/v1/certificates/{quote(number, safe='/')}/pdf"

    def _status_details(
        self, application: ConnectionApplication, case: WorkflowCase, event: WorkflowEvent
    ) -> dict[str, str | int | bool | None]:
        details: dict[str, str | int | bool | None] = {"action": event.action}
        if case.statutory_due_at is not None:
            details["statutory_due_at"] = case.statutory_due_at.isoformat()
        if case.state.startswith("query_"):
            details["query"] = application.query_text
        elif case.state == "awaiting_payment":
            details.update(
                demand_note_number=application.demand_note_number,
                demand_note_url=self.document_url(application.demand_note_number),
                amount=str(application.demand_amount),
                payment_url=application.payment_url,
            )
        elif case.state == "meter_installation" and application.sanction_letter_number:
            details["sanction_letter_number"] = application.sanction_letter_number
            details["sanction_letter_url"] = self.document_url(application.sanction_letter_number)
        elif case.state == "closed":
            details.update(
                consumer_number=application.consumer_number,
                delay_days=application.delay_days or 0,
                compensation=str(application.compensation_amount)
                if application.compensation_amount
                else None,
            )
        if event.reason and case.state in ("rejected", "withdrawn"):
            details["reason"] = event.reason
        if event.action == STATUTORY_ACTION:
            details.update(
                statutory_breached=True,
                reason="statutory_date_passed",
                escalated_to=event.data.get("escalated_to"),
            )
        return details

    # -- periodic and worker jobs -------------------------------------------------------------------

    def escalate_overdue(self, now: datetime | None = None) -> int:
        """The periodic job: record a breach for every overdue case and hand it up a level."""
        with unit_of_work(self.registry) as session:
            return len(self.workflows.escalate_overdue(session, now))

    def watch_statutory_dates(self, now: datetime | None = None) -> int:
        """The periodic job: escalate each open case past its statutory date and tell the single window, once."""
        with unit_of_work(self.registry) as session:
            return len(self.workflows.escalate_statutory_breaches(session, WORKFLOW_NAME, now))

    def credit_compensation(self, payload: Mapping[str, Any], billing: Any) -> None:
        """Outbox handler body: post the statutory compensation as a credit, once (by reference)."""
        receipt = billing.post_credit(
            payload["consumer_number"],
            Decimal(payload["amount"]),
            f"COMP/{payload['application_no']}",
            f"Compensation for {payload['delay_days']} day(s) of delay in a new connection",
        )
        with Session(self.engine) as session, session.begin():
            application = self.by_number(session, payload["application_no"], lock=True)
            application.compensation_receipt = receipt.receipt_number
            audit_record(
                session,
                "worker",
                "connection.compensation_credited",
                SUBJECT_TYPE,
                application.application_no,
                {
                    "amount": payload["amount"],
                    "receipt": receipt.receipt_number,
                    "duplicate": receipt.duplicate,
                },
            )


def _statutory_remarks(
    case: WorkflowCase, event: WorkflowEvent, designations: Mapping[str, tuple[str, str]]
) -> str:
    assert case.statutory_due_at is not None
    due = case.statutory_due_at.astimezone(IST).strftime("%d-%m-%Y %H:%M IST")
    text = f"वैधानिक समय-सीमा ({due}) पार / Statutory date ({due}) passed"
    target = event.data.get("escalated_to")
    if target:
        en, hi = designations.get(str(target), (str(target), str(target)))
        text += f"; {hi} को अग्रेषित / escalated to the {en}"
    return text


def _officer_name(actor: str) -> str:
    return actor.split(":", 1)[-1] or actor


def _without_content(cleaned: Mapping[str, Any]) -> dict[str, Any]:
    """The form as stored with the application: document bytes live in connection_documents."""
    out = dict(cleaned)
    out["documents"] = [
        {k: v for k, v in d.items() if k != "content_base64"} for d in cleaned.get("documents", [])
    ]
    return out
