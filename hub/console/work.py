"""The officer's work list across every flow, and the office dashboard (HTML, CSV)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import urlencode

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from hub.console.dashboard import AGE_BUCKETS, Dashboard, bar_chart, dashboard
from hub.console.labels import in_ist
from hub.console.queues import QueueFilter, QueuePage, QueueSource, sources, work_list
from hub.console.views import _require_officer, _time_left, render
from hub.models.meta import utcnow
from hub.models.officer import Officer
from hub.offices import office_names
from hub.openapi import text_schema

# What the search box takes: a consumer, complaint, application or transaction number, or a mobile.
SEARCH = re.compile(r"[A-Za-z0-9/_.-]{1,64}")
FLOW = re.compile(r"[a-z_]{1,40}")
STATUS = re.compile(r"[a-z_]{1,60}")
OFFICE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,39}")
PAGE = re.compile(r"[0-9]{1,6}")


def _param(request: Request, name: str, pattern: re.Pattern[str]) -> str:
    """A query parameter if it has the expected form; anything else is as if absent (a filter, not an order)."""
    value = str(request.GET.get(name, "")).strip()
    return value if pattern.fullmatch(value) else ""


def _filter(request: Request, officer: Officer) -> tuple[QueueFilter, str]:
    raw_search = str(request.GET.get("q", "")).strip()
    search = raw_search if SEARCH.fullmatch(raw_search) else ""
    office = _param(request, "office", OFFICE)
    wanted = QueueFilter(
        flow=_param(request, "flow", FLOW),
        status=_param(request, "status", STATUS),
        office=office if office in officer.offices else "",
        overdue=request.GET.get("overdue") == "1",
        search=search,
        page=int(_param(request, "page", PAGE) or 1),
    )
    # A search we did not run is said so, not silently shown as "nothing found".
    rejected = raw_search if raw_search and not search else ""
    return wanted, rejected


def work(request: Request) -> Response:
    officer = _require_officer(request)
    wanted, rejected = _filter(request, officer)
    now = utcnow()
    registered = sources(request.registry)
    by_flow: dict[str, QueueSource] = {s.flow: s for s in registered}
    page = (
        # A search we cannot run finds nothing (and says why), rather than listing everything.
        QueuePage([], 0, 1, 1)
        if rejected
        else work_list(request.dbsession, registered, officer.roles, officer.offices, wanted, now)
    )
    names = office_names(request.registry)
    rows = []
    for item in page.rows:
        source = by_flow[item.flow]
        left, overdue = _time_left(item.due_at, now)
        status_hi, status_en = source.status_label(request, item.kind or "", item.status or "")
        rows.append(
            {
                "flow_hi": source.label_hi,
                "flow_en": source.label_en,
                "reference": item.reference,
                "consumer_number": item.consumer_number or "",
                "mobile": _masked(item.mobile),
                "office": names.shown(item.office_code) if item.office_code else "—",
                "status_hi": status_hi,
                "status_en": status_en,
                "time_left": left,
                "due": in_ist(item.due_at),
                "overdue": overdue,
                "escalated": bool(item.escalation_level),
                "url": source.link(request, item.item_id),
            }
        )
    query = {
        k: v
        for k, v in {
            "flow": wanted.flow,
            "status": wanted.status,
            "office": wanted.office,
            "overdue": "1" if wanted.overdue else "",
            "q": wanted.search,
        }.items()
        if v
    }

    def page_url(number: int) -> str:
        return str(request.route_path("console.work")) + "?" + urlencode({**query, "page": number})

    return render(
        request,
        "work.html",
        officer=officer,
        rows=rows,
        wanted=wanted,
        rejected=rejected,
        flows=[(s.flow, s.label_hi, s.label_en) for s in registered],
        offices=[(code, names.shown(code)) for code in officer.offices],
        total=page.total,
        page=page.page,
        pages=page.pages,
        previous_url=page_url(page.page - 1) if page.page > 1 else "",
        next_url=page_url(page.page + 1) if page.page < page.pages else "",
        flash=request.session.pop_flash(),
    )


def _masked(mobile: str | None) -> str:
    # Enough to confirm with a caller who reads theirs out; not a list of numbers to copy.
    return f"{'•' * 6}{mobile[-4:]}" if mobile and len(mobile) >= 4 else ""


def _dashboard_scope(request: Request, officer: Officer) -> tuple[list[str], str]:
    office = _param(request, "office", OFFICE)
    if office and office in officer.offices:
        return [office], office
    return list(officer.offices), ""


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
        scope_names=[names.shown(code) for code in scope],
        pendency_rows=pendency_rows,
        labels=labels,
        pendency_chart=pendency_chart,
        standards_chart=standards_chart,
        as_of=in_ist(figures.as_of),
        csv_url=str(request.route_path("console.dashboard.csv")) + (f"?office={office}" if office else ""),
    )


def _standard_labels(request: Request) -> dict[str, tuple[str, str, str]]:
    """complaint type -> (Hindi, English, the standard in hours) from the complaints' standards file."""
    from hub.complaints.service import ComplaintService

    try:
        service: ComplaintService = request.find_service(ComplaintService)
    except LookupError:  # a hub without the complaints flow: codes are shown as they are
        return {}
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
    tags = ["console"]
    common: dict[str, Any] = {"public": True}
    html = {"200": {"description": "HTML page", "content": {"text/html": {}}}}
    redirect = {"302": {"description": "redirect to sign-in"}, **html}
    office_param = {"name": "office", "in": "query", "required": False, "schema": text_schema(40, OFFICE)}
    config.add_route("console.work", "/console/work")
    config.add_route("console.dashboard", "/console/dashboard")
    config.add_route("console.dashboard.csv", "/console/dashboard.csv")
    config.add_view(
        work,
        route_name="console.work",
        request_method="GET",
        operation_id="consoleWorkList",
        openapi={
            "summary": "Everything waiting on the officer across flows, what breaches first on top (HTML)",
            "tags": tags,
            "parameters": [
                {"name": "flow", "in": "query", "required": False, "schema": text_schema(40, FLOW)},
                {"name": "status", "in": "query", "required": False, "schema": text_schema(60, STATUS)},
                office_param,
                {
                    "name": "overdue",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["1"]},
                },
                {"name": "q", "in": "query", "required": False, "schema": text_schema(64, SEARCH)},
                {"name": "page", "in": "query", "required": False, "schema": text_schema(6, PAGE)},
            ],
            "responses": redirect,
        },
        **common,
    )
    config.add_view(
        dashboard_page,
        route_name="console.dashboard",
        request_method="GET",
        operation_id="consoleDashboard",
        openapi={
            "summary": "Complaints in the officer's offices: pendency, standards, breaches, compensation (HTML)",
            "tags": tags,
            "parameters": [office_param],
            "responses": redirect,
        },
        **common,
    )
    config.add_view(
        dashboard_csv,
        route_name="console.dashboard.csv",
        request_method="GET",
        operation_id="consoleDashboardCsv",
        openapi={
            "summary": "The dashboard's figures as CSV (UTF-8)",
            "tags": tags,
            "parameters": [office_param],
            "responses": {
                "200": {"description": "CSV", "content": {"text/csv": {}}},
                "302": {"description": "sign-in"},
            },
        },
        **common,
    )
