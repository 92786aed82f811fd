"""Complaints in the officers' console: the case page (the consumer, the standard, the level, what was
done) and the form an office registers a complaint with when the call centre cannot be reached."""

from __future__ import annotations

import csv
import io
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from certs.document import mask_mobile
from connectors.errors import ConnectorUnavailable
from forms.errors import FormError
from forms.identifiers import CONSUMER_NUMBER, MOBILE
from forms.reader import Reader
from hub.complaints.dashboard import AGE_BUCKETS, Dashboard, bar_chart, dashboard
from hub.complaints.service import ROLE_NAMES, ComplaintService, Intake
from hub.complaints.views import COMPLAINT_NO, DESCRIPTION_MAX
from hub.console import CaseView, Field, Link
from hub.console.labels import in_ist
from hub.console.views import (
    ERROR_TEXT,
    _case_page,
    _csrf_ok,
    _require_officer,
    _require_readable_form,
    render,
)
from hub.console.work import OFFICE, _param
from hub.errors import Problem
from hub.models.complaint import Complaint
from hub.models.meta import utcnow
from hub.models.officer import Officer
from hub.models.workflow import WorkflowCase
from hub.offices import DISCOM, jurisdiction, office_names, offices_below
from hub.openapi import text_schema
from hub.view_helpers import download

CHANNELS = {
    "callcentre": "1912 कॉल सेंटर / 1912 call centre",
    "portal": "पोर्टल / ऐप — portal / app",
    "office": "कार्यालय / office",
    "whatsapp": "व्हाट्सऐप / WhatsApp",
}


class ComplaintCaseProvider:
    def __init__(self, service: ComplaintService) -> None:
        self.service = service

    def _complaint(self, session: Session, case: WorkflowCase) -> Complaint | None:
        return session.execute(
            select(Complaint).where(Complaint.complaint_no == case.subject_id)
        ).scalar_one_or_none()

    def title(self, session: Session, case: WorkflowCase) -> str:
        complaint = self._complaint(session, case)
        if complaint is None:
            return f"शिकायत / Complaint {case.subject_id}"
        kind = self.service.kind(complaint.complaint_type)
        return f"शिकायत / Complaint {case.subject_id} — {kind.label_hi} / {kind.label_en}"

    def case_view(self, session: Session, case: WorkflowCase) -> CaseView:
        complaint = self._complaint(session, case)
        if complaint is None:
            return CaseView(title=self.title(session, case))
        kind = self.service.kind(complaint.complaint_type)
        level_role = kind.levels[complaint.level]
        level_en, level_hi = ROLE_NAMES.get(level_role, (level_role, level_role))
        summary = [
            Field("शिकायत नंबर", "Complaint number", complaint.complaint_no),
            Field("प्रकार", "Type", f"{kind.label_hi} / {kind.label_en}"),
            Field("उपभोक्ता क्रमांक", "Consumer number", complaint.consumer_number),
            Field("मोबाइल नंबर", "Mobile", mask_mobile(complaint.mobile)),
            Field("विवरण", "Description", complaint.description),
            Field("माध्यम", "Received through", CHANNELS.get(complaint.channel, complaint.channel)),
            Field("पंजीकरण", "Registered", in_ist(complaint.registered_at)),
            Field(
                "मानक समय-सीमा",
                "Standard of performance",
                f"{kind.standard_hours:g} h — {in_ist(complaint.sop_due_at)}",
            ),
            Field("स्तर", "Level", f"{complaint.level}: {level_hi} / {level_en}"),
        ]
        if complaint.action_taken:
            summary.append(Field("की गई कार्यवाही", "Action taken", complaint.action_taken))
        if complaint.reopen_count:
            summary.append(Field("पुनः खोली गई", "Reopened", str(complaint.reopen_count)))
        if complaint.rating is not None:
            summary.append(Field("उपभोक्ता की रेटिंग", "Consumer's rating", f"{complaint.rating} / 5"))
        if complaint.compensation_amount is not None:
            credited = complaint.compensation_receipt or "लंबित / pending"
            summary.append(
                Field("क्षतिपूर्ति", "Compensation", f"₹ {complaint.compensation_amount:,.2f} ({credited})")
            )
        notes = []
        if kind.compensation is not None:
            notes.append(
                f"मानक पार होने पर क्षतिपूर्ति बिल में / Missing the standard credits ₹{kind.compensation.rupees} "
                f"per {kind.compensation.per_hours} h late (at most ₹{kind.compensation.maximum})"
            )
        case_file = Link(
            "फोरम हेतु प्रकरण पत्रावली (PDF)",
            "Case file for the grievance forum (PDF)",
            "console.complaints.case_file",
            {"complaint_no": complaint.complaint_no},
        )
        return CaseView(title=self.title(session, case), summary=summary, notes=notes, links=[case_file])


# -- entering a complaint at an office -------------------------------------------------------


def _service(request: Request) -> ComplaintService:
    service: ComplaintService = request.find_service(ComplaintService)
    return service


def _form_page(
    request: Request, officer: Officer, form: dict[str, str], errors: list[str], status: int = 200
) -> Response:
    types = sorted(_service(request).standards.types.items())
    return render(
        request,
        "complaint_new.html",
        status=status,
        officer=officer,
        types=types,
        form=form,
        errors=errors,
        flash=request.session.pop_flash(),
    )


def new_complaint_page(request: Request) -> Response:
    officer = _require_officer(request)
    blank = {"consumer_number": "", "complaint_type": "", "caller_mobile": "", "description": ""}
    return _form_page(request, officer, blank, [])


def register_at_office(request: Request) -> Response:
    """An office registers a complaint for a consumer it serves (the DC, the zone, division or
    circle above it, or the discom's head office); the complaint goes to the consumer's
    distribution centre as any other."""
    officer = _require_officer(request)
    _require_readable_form(request)
    form = {
        name: str(request.POST.get(name, ""))[:2000]
        for name in ("consumer_number", "complaint_type", "caller_mobile", "description")
    }
    if not _csrf_ok(request):
        return _form_page(request, officer, form, [" / ".join(ERROR_TEXT["csrf"])], status=403)
    service = _service(request)
    reader = Reader({k: v for k, v in form.items() if v.strip()})
    number = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    kind = reader.choice("complaint_type", tuple(service.standards.types))
    mobile = reader.text("caller_mobile", required=False, max_length=10, pattern=MOBILE)
    description = reader.text("description", max_length=DESCRIPTION_MAX)
    try:
        reader.done()
    except FormError as exc:
        return _form_page(request, officer, form, [f"{p.field}: {p.message}" for p in exc.problems], 409)
    assert number is not None and kind is not None and description is not None
    try:
        consumer = service.consumer(number)
    except Problem as exc:
        return _form_page(request, officer, form, [exc.detail or exc.code], 409)
    except ConnectorUnavailable:
        return _form_page(request, officer, form, [" / ".join(ERROR_TEXT["unavailable"])], 503)
    # The consumer's own offices as billing knows them, up to the discom's head office.
    offices = consumer.offices
    served = {offices.dc, offices.zone, offices.division, offices.circle, DISCOM}
    if not served.intersection(officer.offices):
        return _form_page(
            request,
            officer,
            form,
            [f"उपभोक्ता {number} आपके कार्यालय का नहीं / Consumer {number} is not served by your office"],
            403,
        )
    registered = service.register(
        request.dbsession,
        Intake(
            channel="office",
            filed_by=f"officer:{officer.username}",
            consumer_number=number,
            complaint_type=kind,
            description=description,
            mobile=mobile or None,
        ),
    )
    request.session.flash(
        f"शिकायत नंबर {registered.complaint.complaint_no} दर्ज / Complaint {registered.complaint.complaint_no} registered"
    )
    return HTTPFound(location=request.route_path("console.complaints.new"))


def case_file(request: Request) -> Response:
    """The signed case file of a complaint of one of the officer's offices, for the forum."""
    officer = _require_officer(request)
    service = _service(request)
    number = str(request.matchdict["complaint_no"])
    complaint = (
        request.dbsession.execute(
            select(Complaint).where(Complaint.complaint_no == number)
        ).scalar_one_or_none()
        if COMPLAINT_NO.fullmatch(number)
        else None
    )
    if complaint is None or complaint.office_code not in jurisdiction(request.dbsession, officer):
        # Another office's complaint looks exactly like a missing one.
        request.session.flash("प्रकरण नहीं मिला / Case not found")
        return HTTPFound(location=request.route_path("console.queue"))
    try:
        body = service.case_file_pdf(request.dbsession, complaint, f"officer:{officer.username}")
    except ConnectorUnavailable:
        case = service.case_of(request.dbsession, complaint)
        return _case_page(request, officer, case, ERROR_TEXT["unavailable"], status=503)
    except Problem as exc:
        case = service.case_of(request.dbsession, complaint)
        reason = exc.detail or exc.code
        return _case_page(
            request, officer, case, (f"पत्रावली नहीं बनी: {reason}", f"No case file: {reason}"), 409
        )
    return download(body, "application/pdf", f"case-file-{number}", "pdf")


# -- the office dashboard ----------------------------------------------------------------------


def _dashboard_scope(request: Request, officer: Officer) -> tuple[list[str], str]:
    """The offices the dashboard counts: one of the officer's offices (``?office=``) or all of them,
    each with every office below it."""
    office = _param(request, "office", OFFICE)
    if office and office in officer.offices:
        return offices_below(request.dbsession, [office]), office
    return jurisdiction(request.dbsession, officer), ""


def dashboard_page(request: Request) -> Response:
    officer = _require_officer(request)
    scope, office = _dashboard_scope(request, officer)
    figures = dashboard(request.dbsession, scope, utcnow())
    names = office_names(request.registry)
    pendency_rows = [
        (
            hi,
            en,
            [figures.pendency[i].get(level, 0) for level in figures.levels],
            sum(figures.pendency[i].values()),
        )
        for i, (_, hi, en) in enumerate(AGE_BUCKETS)
    ]
    pendency_chart = bar_chart(
        "chart-pendency",
        "लंबित शिकायतें आयु अनुसार / Open complaints by age",
        [(en, float(total), str(total)) for _, en, _, total in pendency_rows],
    )
    labels = _standard_labels(request)
    standards_chart = bar_chart(
        "chart-standards",
        "समय-सीमा में निस्तारण (%) / Resolved within the standard (%)",
        [
            (
                labels.get(s.complaint_type, (s.complaint_type, s.complaint_type, ""))[1],
                float(s.percent_in_time or 0),
                "—" if s.percent_in_time is None else f"{s.percent_in_time}%",
            )
            for s in figures.standards
        ],
        unit_max=100.0,
    )
    return render(
        request,
        "dashboard.html",
        officer=officer,
        figures=figures,
        office=office,
        offices=[(code, names.shown(code)) for code in officer.offices],
        # The offices chosen; the figures also count every office below them.
        scope_names=[names.shown(code) for code in ([office] if office else officer.offices)],
        pendency_rows=pendency_rows,
        labels=labels,
        pendency_chart=pendency_chart,
        standards_chart=standards_chart,
        as_of=in_ist(figures.as_of),
        csv_url=str(request.route_path("console.dashboard.csv")) + (f"?office={office}" if office else ""),
    )


def _standard_labels(request: Request) -> dict[str, tuple[str, str, str]]:
    """complaint type -> (Hindi, English, the standard in hours) from the complaints' standards file."""
    service = _service(request)
    return {
        code: (kind.label_hi, kind.label_en, f"{kind.standard_hours:g}")
        for code, kind in service.standards.types.items()
    }


def dashboard_csv(request: Request) -> Response:
    officer = _require_officer(request)
    scope, office = _dashboard_scope(request, officer)
    figures = dashboard(request.dbsession, scope, utcnow())
    body = io.StringIO()
    _write_csv(csv.writer(body), figures)
    response = Response(body.getvalue().encode("utf-8-sig"), content_type="text/csv", charset="utf-8")
    # The BOM lets a spreadsheet on an office PC read the Hindi right.
    response.headers["Content-Disposition"] = f'attachment; filename="complaints-{office or "all"}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _write_csv(out: Any, figures: Dashboard) -> None:
    out.writerow(["offices", " ".join(figures.offices), "as_of_ist", in_ist(figures.as_of)])
    out.writerow([])
    out.writerow(["section", "age_hi", "age_en", *[f"level_{level}" for level in figures.levels], "total"])
    for i, (_, hi, en) in enumerate(AGE_BUCKETS):
        by_level = figures.pendency[i]
        out.writerow(
            [
                "pendency",
                hi,
                en,
                *[by_level.get(level, 0) for level in figures.levels],
                sum(by_level.values()),
            ]
        )
    out.writerow([])
    out.writerow(
        [
            "section",
            "complaint_type",
            "total",
            "open",
            "resolved_in_time",
            "resolved_late",
            "open_breached",
            "percent_in_time",
            "compensation_count",
            "compensation_rupees",
        ]
    )
    for s in figures.standards:
        out.writerow(
            [
                "standard",
                s.complaint_type,
                s.total,
                s.open,
                s.resolved_in_time,
                s.resolved_late,
                s.open_breached,
                "" if s.percent_in_time is None else s.percent_in_time,
                s.compensation_count,
                f"{s.compensation_rupees:.2f}",
            ]
        )


def includeme(config: Configurator) -> None:
    page = {"text/html": {"schema": {"type": "string"}}}
    responses = {
        "200": {"description": "HTML page", "content": page},
        "302": {"description": "redirect (to the form, or to sign-in)"},
        "403": {"description": "form expired, or a consumer outside the officer's offices", "content": page},
        "409": {"description": "the form again, with the reason", "content": page},
        "503": {"description": "billing is not answering; nothing registered", "content": page},
    }
    config.add_route("console.complaints.case_file", "/console/complaints/{complaint_no}/case-file.pdf")
    config.add_view(
        case_file,
        route_name="console.complaints.case_file",
        request_method="GET",
        public=True,
        operation_id="consoleComplaintCaseFile",
        openapi={
            "summary": "The signed case file of a complaint for the grievance forum (PDF)",
            "tags": ["console"],
            "parameters": [
                {
                    "name": "complaint_no",
                    "in": "path",
                    "required": True,
                    "schema": text_schema(20, COMPLAINT_NO),
                }
            ],
            "responses": {
                "200": {
                    "description": "the case file",
                    "content": {"application/pdf": {"schema": {"type": "string"}}},
                },
                "302": {
                    "description": "sign-in; or back to the case, with the reason, when billing is not answering"
                },
            },
        },
    )
    config.add_route("console.complaints.new", "/console/complaints/new")
    config.add_view(
        new_complaint_page,
        route_name="console.complaints.new",
        request_method="GET",
        public=True,
        operation_id="consoleNewComplaint",
        openapi={
            "summary": "Form to register a complaint at an office (HTML)",
            "tags": ["console"],
            "responses": responses,
        },
    )
    config.add_view(
        register_at_office,
        route_name="console.complaints.new",
        request_method="POST",
        public=True,
        operation_id="consoleRegisterComplaint",
        openapi={
            "summary": "Register a complaint at an office (form: consumer_number, complaint_type, "
            "caller_mobile, description, csrf_token)",
            "tags": ["console"],
            "responses": responses,
        },
    )
    # The office dashboard: complaint figures of the officer's offices.
    office_param = {"name": "office", "in": "query", "required": False, "schema": text_schema(40, OFFICE)}
    redirect = {
        "302": {"description": "redirect to sign-in"},
        "200": {"description": "HTML page", "content": page},
    }
    config.add_route("console.dashboard", "/console/dashboard")
    config.add_route("console.dashboard.csv", "/console/dashboard.csv")
    config.add_view(
        dashboard_page,
        route_name="console.dashboard",
        request_method="GET",
        operation_id="consoleDashboard",
        openapi={
            "summary": "Complaints in the officer's offices: pendency, standards, breaches, compensation (HTML)",
            "tags": ["console"],
            "parameters": [office_param],
            "responses": redirect,
        },
        public=True,
    )
    config.add_view(
        dashboard_csv,
        route_name="console.dashboard.csv",
        request_method="GET",
        operation_id="consoleDashboardCsv",
        openapi={
            "summary": "The dashboard's figures as CSV (UTF-8)",
            "tags": ["console"],
            "parameters": [office_param],
            "responses": {
                "200": {"description": "CSV", "content": {"text/csv": {}}},
                "302": {"description": "sign-in"},
            },
        },
        public=True,
    )
