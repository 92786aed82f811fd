"""Bill corrections in the officers' console: the case page (the bill, the amounts, the evidence,
the delegation) and the form the distribution centre proposes a correction with. The queue and
the permit / refuse / return / recommend buttons are the console's own (hub.console.views)."""

from __future__ import annotations

from decimal import Decimal

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from certs.document import mask_mobile
from connectors.errors import ConnectorUnavailable
from forms.errors import FormError
from forms.identifiers import CONSUMER_NUMBER
from forms.reader import Reader
from hub.console import CaseView, Evidence, Field
from hub.console.labels import in_ist
from hub.console.views import ERROR_TEXT, _csrf_ok, _require_officer, _require_readable_form, render
from hub.corrections.service import ROLE_NAMES, CorrectionService, Proposal
from hub.corrections.views import AMOUNT, BILL_PERIOD, COMPLAINT_NO, READING, REASON_MAX
from hub.errors import Problem
from hub.models.correction import BillCorrection
from hub.models.officer import Officer
from hub.models.workflow import WorkflowCase

FIELDS = (
    "consumer_number",
    "bill_period",
    "reading_billed",
    "reading_correct",
    "amount_billed",
    "amount_correct",
    "complaint_no",
    "reason",
)


class CorrectionCaseProvider:
    def __init__(self, service: CorrectionService) -> None:
        self.service = service

    def _correction(self, session: Session, case: WorkflowCase) -> BillCorrection | None:
        return session.execute(
            select(BillCorrection).where(BillCorrection.correction_no == case.subject_id)
        ).scalar_one_or_none()

    def title(self, session: Session, case: WorkflowCase) -> str:
        correction = self._correction(session, case)
        if correction is None:
            return f"बिल संशोधन / Bill correction {case.subject_id}"
        return (
            f"बिल संशोधन / Bill correction {case.subject_id} — ₹ {correction.amount:,.2f} "
            f"({correction.bill_period})"
        )

    def case_view(self, session: Session, case: WorkflowCase) -> CaseView:
        correction = self._correction(session, case)
        if correction is None:
            return CaseView(title=self.title(session, case))
        deciding = self.service.delegation.deciding_role(correction.amount)
        deciding_en, deciding_hi = ROLE_NAMES.get(deciding or "", ("-", "-"))
        summary = [
            Field("संशोधन क्रमांक", "Correction number", correction.correction_no),
            Field("उपभोक्ता क्रमांक", "Consumer number", correction.consumer_number),
            Field("मोबाइल नंबर", "Mobile", mask_mobile(correction.mobile)),
            Field("बिल माह", "Bill period", correction.bill_period),
            Field("बिल की रीडिंग", "Reading billed", str(correction.reading_billed or "-")),
            Field("सही रीडिंग", "Correct reading", str(correction.reading_correct or "-")),
            Field("बिल राशि", "Amount billed", f"₹ {correction.amount_billed:,.2f}"),
            Field("सही राशि", "Correct amount", f"₹ {correction.amount_correct:,.2f}"),
            Field("जमा (क्रेडिट)", "Credit", f"₹ {correction.amount:,.2f}"),
            Field("कारण", "Reason", correction.reason),
            Field("प्रस्तावित", "Proposed", f"{in_ist(correction.created_at)} ({correction.proposed_by})"),
            Field("स्वीकृति अधिकार", "Who may permit", f"{deciding_hi} / {deciding_en}"),
        ]
        if correction.complaint_no:
            summary.append(Field("शिकायत नंबर", "Complaint number", correction.complaint_no))
        if correction.recommendation:
            summary.append(Field("उप महाप्रबंधक की अनुशंसा", "DGM's recommendation", correction.recommendation))
        if correction.posting_receipt:
            summary.append(Field("बिलिंग रसीद", "Billing receipt", correction.posting_receipt))
        files = self.service.evidence_of(session, correction)
        evidence = [
            Evidence(
                "साक्ष्य",
                "Evidence",
                (("प्रकार", "Type"), ("आकार", "Size"), ("SHA-256", "SHA-256")),
                [(f.media_type, f"{f.size:,} B", f.sha256) for f in files],
            )
        ]
        notes = [
            "स्वीकृति अधिकार से अधिक राशि ऊपर के स्तर को जाती है / An amount beyond an officer's delegation "
            "goes to the level above"
        ]
        return CaseView(title=self.title(session, case), summary=summary, evidence=evidence, notes=notes)


# -- proposing a correction at the distribution centre ----------------------------------------


def _service(request: Request) -> CorrectionService:
    service: CorrectionService = request.find_service(CorrectionService)
    return service


def _form_page(
    request: Request, officer: Officer, form: dict[str, str], errors: list[str], status: int = 200
) -> Response:
    return render(
        request,
        "correction_new.html",
        status=status,
        officer=officer,
        form=form,
        errors=errors,
        max_kib=_service(request).evidence_max_bytes // 1024,
        flash=request.session.pop_flash(),
    )


def new_correction_page(request: Request) -> Response:
    officer = _require_officer(request)
    return _form_page(request, officer, dict.fromkeys(FIELDS, ""), [])


def propose_at_office(request: Request) -> Response:
    officer = _require_officer(request)
    _require_readable_form(request)
    form = {name: str(request.POST.get(name, ""))[:2000] for name in FIELDS}
    if not _csrf_ok(request):
        return _form_page(request, officer, form, [" / ".join(ERROR_TEXT["csrf"])], status=403)
    service = _service(request)
    reader = Reader({k: v for k, v in form.items() if v.strip()})
    number = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    period = reader.text("bill_period", max_length=7, pattern=BILL_PERIOD)
    reading_billed = reader.text("reading_billed", required=False, max_length=9, pattern=READING)
    reading_correct = reader.text("reading_correct", required=False, max_length=9, pattern=READING)
    billed = reader.text("amount_billed", max_length=13, pattern=AMOUNT)
    correct = reader.text("amount_correct", max_length=13, pattern=AMOUNT)
    complaint_no = reader.text("complaint_no", required=False, max_length=20, pattern=COMPLAINT_NO)
    reason = reader.text("reason", max_length=REASON_MAX)
    try:
        reader.done()
    except FormError as exc:
        return _form_page(request, officer, form, [f"{p.field}: {p.message}" for p in exc.problems], 409)
    assert number and period and billed and correct and reason
    files = [
        item.file.read(service.evidence_max_bytes + 1)
        for item in request.POST.getall("evidence")
        if hasattr(item, "file")
    ]
    proposal = Proposal(
        consumer_number=number,
        bill_period=period,
        amount_billed=Decimal(billed),
        amount_correct=Decimal(correct),
        reason=reason,
        reading_billed=int(reading_billed) if reading_billed else None,
        reading_correct=int(reading_correct) if reading_correct else None,
        complaint_no=complaint_no or None,
        evidence=files,
    )
    try:
        correction = service.propose(request.dbsession, proposal, officer)
    except Problem as exc:
        status = 403 if exc.code in ("other_office", "not_permitted") else 409
        return _form_page(request, officer, form, [exc.detail or exc.code], status)
    except ConnectorUnavailable:
        request.tm.doom()
        return _form_page(request, officer, form, [" / ".join(ERROR_TEXT["unavailable"])], 503)
    request.session.flash(
        f"बिल संशोधन {correction.correction_no} प्रस्तावित / Bill correction {correction.correction_no} proposed"
    )
    return HTTPFound(location=request.route_path("console.corrections.new"))


def includeme(config: Configurator) -> None:
    page = {"text/html": {"schema": {"type": "string"}}}
    responses = {
        "200": {"description": "HTML page", "content": page},
        "302": {"description": "redirect (to the form, or to sign-in)"},
        "403": {"description": "form expired, or a consumer outside the officer's office", "content": page},
        "409": {"description": "the form again, with the reason", "content": page},
        "503": {"description": "billing is not answering; nothing proposed", "content": page},
    }
    config.add_route("console.corrections.new", "/console/corrections/new")
    config.add_view(
        new_correction_page,
        route_name="console.corrections.new",
        request_method="GET",
        public=True,
        operation_id="consoleNewBillCorrection",
        openapi={
            "summary": "Form to propose a bill correction at a distribution centre (HTML)",
            "tags": ["console"],
            "responses": responses,
        },
    )
    config.add_view(
        propose_at_office,
        route_name="console.corrections.new",
        request_method="POST",
        public=True,
        operation_id="consoleProposeBillCorrection",
        openapi={
            "summary": "Propose a bill correction (multipart form: consumer_number, bill_period, "
            "reading_billed, reading_correct, amount_billed, amount_correct, complaint_no, reason, "
            "evidence files (PDF/JPEG/PNG), csrf_token)",
            "tags": ["console"],
            "responses": responses,
        },
    )
