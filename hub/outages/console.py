"""Outages in the officers' console: the current and planned outages of the officer's offices, and the
forms to record one, update its expected restoration, record the restoration or cancel a shutdown.

Times are typed as the office reads them (IST, ``datetime-local``) and stored in UTC. An officer sees
and acts on the nodes of the distribution centres in their jurisdiction (their offices and every office
below them, :func:`hub.offices.jurisdiction`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from hub.console.labels import in_ist
from hub.console.views import ERROR_TEXT, _csrf_ok, _require_officer, _require_readable_form, render
from hub.errors import Problem
from hub.models.meta import IST
from hub.models.network import NetworkNode
from hub.models.officer import Officer
from hub.models.outage import Outage
from hub.offices import jurisdiction
from hub.outages.service import ACTIVE, PLANNED, UNPLANNED, NewOutage, OutageService
from hub.outages.views import _NODE, REASON_MAX

KINDS = {PLANNED: "नियोजित शटडाउन / Planned shutdown", UNPLANNED: "अनियोजित / Unplanned"}
STATES = {
    "scheduled": "घोषित / Announced",
    "open": "बंद / Out",
    "restored": "बहाल / Restored",
    "cancelled": "रद्द / Cancelled",
}
FIELDS = ("node_code", "kind", "starts_at", "expected_restoration_at", "reason_hi", "reason_en")


def _service(request: Request) -> OutageService:
    service: OutageService = request.find_service(OutageService)
    return service


def _ist_input(raw: str, name: str) -> datetime:
    """A ``datetime-local`` value as the office typed it (IST)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"{name}: तारीख-समय नहीं / not a date and time") from None
    if value.tzinfo is not None:
        raise ValueError(f"{name}: तारीख-समय नहीं / not a date and time")
    return value.replace(tzinfo=IST)


def _outages_of(request: Request, officer: Officer) -> list[dict[str, Any]]:
    rows = request.dbsession.execute(
        select(Outage, NetworkNode)
        .join(NetworkNode, NetworkNode.code == Outage.node_code)
        .where(Outage.state.in_(ACTIVE), Outage.office_code.in_(jurisdiction(request.dbsession, officer)))
        .order_by(Outage.starts_at, Outage.id)
        .limit(500)
    ).all()
    return [
        {
            "id": o.id,
            "node_code": o.node_code,
            "node_name_hi": n.name_hi,
            "node_name_en": n.name_en,
            "kind": o.kind,
            "state": o.state,
            "starts_ist": in_ist(o.starts_at),
            "expected_ist": in_ist(o.expected_restoration_at),
        }
        for o, n in rows
    ]


def _page(
    request: Request, officer: Officer, form: dict[str, str], errors: list[str], status: int = 200
) -> Response:
    return render(
        request,
        "outages.html",
        status=status,
        officer=officer,
        outages=_outages_of(request, officer),
        kinds=KINDS,
        states=STATES,
        form=form,
        errors=errors,
        notice_hours=_service(request).settings.notice_hours,
        flash=request.session.pop_flash(),
    )


def _problem_text(exc: Problem) -> list[str]:
    if exc.errors:
        return [f"{e.field}: {e.message}" for e in exc.errors]
    return [exc.detail or exc.code]


def outages_page(request: Request) -> Response:
    officer = _require_officer(request)
    return _page(request, officer, dict.fromkeys(FIELDS, ""), [])


def record_outage(request: Request) -> Response:
    officer = _require_officer(request)
    _require_readable_form(request)
    form = {name: str(request.POST.get(name, ""))[:400] for name in FIELDS}
    if not _csrf_ok(request):
        return _page(request, officer, form, [" / ".join(ERROR_TEXT["csrf"])], status=403)
    errors: list[str] = []
    node_code = form["node_code"].strip()
    if not _NODE.fullmatch(node_code):
        errors.append("node_code: कोड का प्रारूप गलत / wrong format")
    if form["kind"] not in KINDS:
        errors.append("kind: प्रकार चुनें / choose a kind")
    reasons = {name: form[name].strip() for name in ("reason_hi", "reason_en")}
    for name, value in reasons.items():
        if not value or len(value) > REASON_MAX:
            errors.append(f"{name}: 1-{REASON_MAX} अक्षर / characters")
    starts = expected = None
    try:
        starts = _ist_input(form["starts_at"], "starts_at")
        if form["expected_restoration_at"].strip():
            expected = _ist_input(form["expected_restoration_at"], "expected_restoration_at")
    except ValueError as exc:
        errors.append(str(exc))
    node = request.dbsession.get(NetworkNode, node_code) if not errors else None
    if not errors and node is not None and node.office_code not in jurisdiction(request.dbsession, officer):
        errors.append(f"{node_code}: आपके कार्यालय का नहीं / not in your offices")
    if errors:
        return _page(request, officer, form, errors, status=409)
    assert starts is not None
    try:
        outage, fan_out = _service(request).open(
            request.dbsession,
            NewOutage(
                node_code,
                form["kind"],
                starts,
                expected,
                reasons["reason_en"],
                reasons["reason_hi"],
                "officer",
                f"officer:{officer.username}",
            ),
        )
    except Problem as exc:
        return _page(request, officer, form, _problem_text(exc), status=409)
    told = sum(fan_out.sent.values()) if fan_out else 0
    request.session.flash(
        f"बिजली बंद क्रमांक {outage.id} दर्ज, {told} सूचनाएँ / Outage {outage.id} recorded, {told} notices"
    )
    return HTTPFound(location=request.route_path("console.outages"))


def act_on_outage(request: Request) -> Response:
    officer = _require_officer(request)
    _require_readable_form(request)
    blank = dict.fromkeys(FIELDS, "")
    if not _csrf_ok(request):
        return _page(request, officer, blank, [" / ".join(ERROR_TEXT["csrf"])], status=403)
    service = _service(request)
    raw_id = str(request.matchdict["outage_id"])
    action = str(request.matchdict["action"])
    outage = request.dbsession.get(Outage, int(raw_id), with_for_update=True) if raw_id.isdigit() else None
    if outage is None or outage.office_code not in jurisdiction(request.dbsession, officer):
        return _page(request, officer, blank, ["बिजली बंद नहीं मिला / No such outage in your offices"], 404)
    try:
        if action == "update":
            fan_out = service.update_restoration(
                request.dbsession,
                outage,
                _ist_input(str(request.POST.get("expected_restoration_at", "")), "expected_restoration_at"),
            )
        elif action == "close":
            fan_out = service.close(
                request.dbsession, outage, _ist_input(str(request.POST.get("restored_at", "")), "restored_at")
            )
        elif action == "cancel":
            fan_out = service.cancel(request.dbsession, outage)
        else:
            return _page(request, officer, blank, [" / ".join(ERROR_TEXT["action_not_allowed"])], 404)
    except ValueError as exc:
        return _page(request, officer, blank, [str(exc)], 409)
    except Problem as exc:
        return _page(request, officer, blank, _problem_text(exc), 409)
    told = sum(fan_out.sent.values())
    request.session.flash(f"बिजली बंद {outage.id}: {STATES[outage.state]}, {told} सूचनाएँ / notices")
    return HTTPFound(location=request.route_path("console.outages"))


def includeme(config: Configurator) -> None:
    page = {"text/html": {"schema": {"type": "string"}}}
    responses = {
        "200": {"description": "HTML page", "content": page},
        "302": {"description": "redirect (to the page, or to sign-in)"},
        "403": {"description": "form expired", "content": page},
        "404": {"description": "no such outage in the officer's offices", "content": page},
        "409": {"description": "the page again, with the reason", "content": page},
    }
    config.add_route("console.outages", "/console/outages")
    config.add_route("console.outages.act", "/console/outages/{outage_id}/{action}")
    config.add_view(
        outages_page,
        route_name="console.outages",
        request_method="GET",
        public=True,
        operation_id="consoleOutages",
        openapi={
            "summary": "Current and planned outages, and the form to record one (HTML)",
            "tags": ["console"],
            "responses": responses,
        },
    )
    config.add_view(
        record_outage,
        route_name="console.outages",
        request_method="POST",
        public=True,
        operation_id="consoleRecordOutage",
        openapi={
            "summary": "Record an outage (form: node_code, kind, starts_at, expected_restoration_at in IST, "
            "reason_hi, reason_en, csrf_token)",
            "tags": ["console"],
            "responses": responses,
        },
    )
    config.add_view(
        act_on_outage,
        route_name="console.outages.act",
        request_method="POST",
        public=True,
        operation_id="consoleActOnOutage",
        openapi={
            "summary": "Update an outage's expected restoration, record its restoration, or cancel a planned "
            "shutdown (action: update | close | cancel; times in IST)",
            "tags": ["console"],
            "parameters": [
                {"name": "outage_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                {
                    "name": "action",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": ["update", "close", "cancel"]},
                },
            ],
            "responses": responses,
        },
    )
