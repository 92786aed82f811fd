"""The officer's work list across every flow (HTML)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from hub.console.labels import in_ist
from hub.console.queues import QueueFilter, QueuePage, QueueSource, sources, work_list
from hub.console.views import _require_officer, _time_left, render
from hub.models.meta import utcnow
from hub.models.officer import Officer
from hub.offices import OFFICE, office_names
from hub.openapi import text_schema

# What the search box takes: a consumer, complaint, application or transaction number, or a mobile.
SEARCH = re.compile(r"[A-Za-z0-9/_.-]{1,64}")
FLOW = re.compile(r"[a-z_]{1,40}")
STATUS = re.compile(r"[a-z_]{1,60}")
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


def includeme(config: Configurator) -> None:
    tags = ["console"]
    common: dict[str, Any] = {"public": True}
    html = {"200": {"description": "HTML page", "content": {"text/html": {}}}}
    redirect = {"302": {"description": "redirect to sign-in"}, **html}
    office_param = {"name": "office", "in": "query", "required": False, "schema": text_schema(40, OFFICE)}
    config.add_route("console.work", "/console/work")
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
