"""Console pages: sign-in, the work queue, a case, the officer's decision, sign-out."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.csrf import check_csrf_token, get_csrf_token, new_csrf_token
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

import certs
from connectors.errors import ConnectorUnavailable
from hub.console import CaseProvider, CaseProviders, CaseView, ConsoleTemplates
from hub.console.labels import action_label, in_ist
from hub.console.officers import authenticate
from hub.db import Database
from hub.errors import Problem
from hub.lookup import registered
from hub.models.meta import utcnow
from hub.models.officer import Officer
from hub.models.workflow import WorkflowCase
from hub.offices import office_names
from hub.openapi import text_schema
from hub.throttle import SignInKeys, record_failure, record_success, seconds_to_wait
from hub.workflow import WorkflowError, WorkflowRegistry

CASE_ID = re.compile(r"[0-9]{1,11}")
log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; font-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Actions that cannot be undone from the console: taken only after a confirmation page.
IRREVERSIBLE = frozenset({"approve", "reject", "revoke", "release", "permit", "refuse"})
# The repository's own fonts (SIL OFL), so Devanagari shows on machines that have none installed.
FONTS_DIR = Path(certs.__file__).parent / "fonts"
FONTS = frozenset(p.name for p in FONTS_DIR.glob("*.ttf"))
FONT_NAME_MAX = 60

ERROR_TEXT = {
    "reason_required": ("कारण लिखना आवश्यक है", "A reason is required"),
    "action_not_allowed": ("यह कार्य अभी संभव नहीं है", "This action is not possible now"),
    "case_closed": ("प्रकरण बंद हो चुका है", "The case is closed"),
    "confirm_required": (
        "यह कार्य वापस नहीं हो सकता: पुष्टि आवश्यक है",
        "This action cannot be undone: it needs your confirmation",
    ),
    "csrf": ("फ़ॉर्म की अवधि समाप्त; पुनः प्रयास करें", "The form expired; please try again"),
    "login": ("उपयोगकर्ता नाम या पासवर्ड गलत है", "Wrong username or password"),
    "slow_down": (
        "बहुत से गलत प्रयास; {seconds} सेकंड बाद पुनः प्रयास करें",
        "Too many wrong attempts; try again in {seconds} seconds",
    ),
    "unavailable": (
        "एक बाहरी प्रणाली (बिलिंग / भुगतान) उत्तर नहीं दे रही; कुछ नहीं बदला, बाद में पुनः प्रयास करें",
        "An outside system (billing / payment) is not answering; nothing changed, please try again later",
    ),
    "dues_changed": (
        "बिलिंग का उत्तर अब बकाया-मुक्त नहीं है: कुछ जारी नहीं हुआ",
        "Billing's answer is no longer clear: nothing was issued",
    ),
    "connections_exist": (
        "इस व्यक्ति के नाम अब कनेक्शन दर्ज हैं: कुछ जारी नहीं हुआ",
        "Connections are now registered to this person: nothing was issued",
    ),
}


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    env = request.find_service(ConsoleTemplates)
    body = env.get_template(template).render(csrf_token=get_csrf_token(request), request=request, **context)
    response = Response(body, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def current_officer(request: Request) -> Officer | None:
    return _officer_in(request.dbsession, request)


def _officer_in(session: Session, request: Request) -> Officer | None:
    officer_id = request.session.get("officer_id")
    if not isinstance(officer_id, int):
        return None
    officer = session.get(Officer, officer_id)
    if officer is None or not officer.active:
        return None
    return officer


def _require_officer(request: Request) -> Officer:
    officer = current_officer(request)
    if officer is None:
        raise HTTPFound(location=request.route_path("console.login"))
    return officer


def _csrf_ok(request: Request) -> bool:
    return bool(check_csrf_token(request, raises=False))


def _require_readable_form(request: Request) -> None:
    """A form body webob cannot parse (multipart without a boundary, ...) is the sender's mistake."""
    try:
        request.POST  # noqa: B018 - parsed here so the failure is a 400, not a 500 later
    except ValueError:
        raise Problem("bad_request", "the form body cannot be read") from None


# -- sign-in ---------------------------------------------------------------------------------


def login_page(request: Request) -> Response:
    if current_officer(request) is not None:
        return HTTPFound(location=request.route_path("console.queue"))
    return render(request, "login.html", officer=None, error=None, username="")


def login(request: Request) -> Response:
    _require_readable_form(request)
    if not _csrf_ok(request):
        return render(request, "login.html", status=403, officer=None, error=ERROR_TEXT["csrf"], username="")
    username = str(request.POST.get("username", "")).strip().lower()[:60]
    password = str(request.POST.get("password", ""))[:200]
    if not (username and password):
        return render(
            request, "login.html", status=401, officer=None, error=ERROR_TEXT["login"], username=username
        )
    session = request.dbsession
    keys = SignInKeys.of("officer", username, request.client_addr)
    wait = seconds_to_wait(session, keys)
    if wait:
        return _slow_down(request, username, wait)
    officer = authenticate(session, username, password)
    if officer is None:
        # Rendered, not raised: the failure count must be committed.
        record_failure(session, keys)
        return render(
            request, "login.html", status=401, officer=None, error=ERROR_TEXT["login"], username=username
        )
    record_success(session, keys)
    request.session.invalidate()
    request.session["officer_id"] = officer.id
    new_csrf_token(request)
    from hub.audit import record

    record(request.dbsession, f"officer:{officer.username}", "console.login", "officer", officer.username, {})
    return HTTPFound(location=request.route_path("console.queue"))


def _slow_down(request: Request, username: str, wait: int) -> Response:
    hi, en = ERROR_TEXT["slow_down"]
    error = (hi.format(seconds=wait), en.format(seconds=wait))
    response = render(request, "login.html", status=429, officer=None, error=error, username=username)
    response.headers["Retry-After"] = str(wait)
    return response


def logout(request: Request) -> Response:
    _require_readable_form(request)
    if not _csrf_ok(request):
        return render(request, "login.html", status=403, officer=None, error=ERROR_TEXT["csrf"], username="")
    request.session.invalidate()
    return HTTPFound(location=request.route_path("console.login"))


# -- queue and cases ------------------------------------------------------------------------------


def _time_left(due: datetime | None, now: datetime) -> tuple[str, bool]:
    if due is None:
        return "—", False
    seconds = int((due - now).total_seconds())
    overdue = seconds < 0
    hours, rest = divmod(abs(seconds), 3600)
    text = f"{hours} घंटे {rest // 60} मि. / {hours} h {rest // 60} min"
    return ("समय-सीमा पार: " + text if overdue else text), overdue


def statutory_clock(case: WorkflowCase, now: datetime) -> tuple[str, str, bool]:
    """Time left to the statutory date, the date in IST, and whether it passed (paused time excluded)."""
    due = case.statutory_due_at
    if due is None:
        return "—", "", False
    if case.closed_at is not None:  # the clock stopped when the case was decided
        return "बंद / closed", in_ist(due), due < case.closed_at
    if case.clock_paused_at is not None:
        # The date moves on while the applicant owes us something; it passed only if it had before.
        due = due + (now - case.clock_paused_at) if due > case.clock_paused_at else due
    left, overdue = _time_left(due, now)
    if case.clock_paused_at is not None and not overdue:
        left += " (रुकी / paused)"
    return left, in_ist(due), overdue


def _provider(request: Request, case: WorkflowCase) -> CaseProvider | None:
    return registered(request.registry, CaseProviders).get(case.workflow)


def _row(request: Request, case: WorkflowCase, now: datetime) -> dict[str, Any]:
    workflows: WorkflowRegistry = request.find_service(WorkflowRegistry)
    state = workflows.for_case(case).state(case.state)
    provider = _provider(request, case)
    left, overdue = _time_left(case.due_at, now)
    statutory_left, statutory_due, statutory_overdue = statutory_clock(case, now)
    return {
        "id": case.id,
        "workflow": case.workflow,
        "title": provider.title(request.dbsession, case)
        if provider
        else f"{case.workflow} {case.subject_id}",
        "state_hi": state.label_hi,
        "state_en": state.label_en,
        "office": office_names(request.registry).shown(case.office_code),
        "time_left": left,
        "due": in_ist(case.due_at),
        "overdue": overdue,
        "statutory_left": statutory_left,
        "statutory_due": statutory_due,
        "statutory_overdue": statutory_overdue,
        "escalated": case.escalation_level > 0,
        "url": request.route_path("console.case", case_id=case.id),
    }


def queue(request: Request) -> Response:
    officer = _require_officer(request)
    workflows: WorkflowRegistry = request.find_service(WorkflowRegistry)
    now = utcnow()
    session = request.dbsession
    waiting = [_row(request, c, now) for c in workflows.queue(session, officer.roles, officer.offices)]
    # Overdue first (statutory date or stage limit), then least time left (sorted() keeps that order).
    waiting = sorted(waiting, key=lambda row: not (row["overdue"] or row["statutory_overdue"]))
    # Decided cases in the officer's offices that still allow them an action (e.g. revoking a certificate).
    closed = session.execute(
        select(WorkflowCase)
        .where(WorkflowCase.closed_at.is_not(None), WorkflowCase.office_code.in_(officer.offices))
        .order_by(WorkflowCase.closed_at.desc())
        .limit(200)
    ).scalars()
    actionable = [_row(request, c, now) for c in closed if workflows.allowed_actions(c, officer.roles)][:50]
    flash = request.session.pop_flash()
    return render(request, "queue.html", officer=officer, waiting=waiting, actionable=actionable, flash=flash)


def _visible_case(request: Request, officer: Officer) -> WorkflowCase:
    raw = str(request.matchdict["case_id"])
    case = request.dbsession.get(WorkflowCase, int(raw)) if CASE_ID.fullmatch(raw) else None
    if case is None or case.office_code not in officer.offices:
        # Another office's case looks exactly like a missing one.
        raise _not_found(request)
    return case


def _not_found(request: Request) -> HTTPFound:
    request.session.flash("प्रकरण नहीं मिला / Case not found")
    return HTTPFound(location=request.route_path("console.queue"))


def _case_page(
    request: Request, officer: Officer, case: WorkflowCase, error: tuple[str, str] | None, status: int = 200
) -> Response:
    workflows: WorkflowRegistry = request.find_service(WorkflowRegistry)
    provider = _provider(request, case)
    view = (
        provider.case_view(request.dbsession, case)
        if provider is not None
        else CaseView(title=f"{case.workflow} {case.subject_id}")
    )
    history = workflows.history(request.dbsession, case)
    definition = workflows.for_case(case)
    return render(
        request,
        "case.html",
        status=status,
        officer=officer,
        case=case,
        row=_row(request, case, utcnow()),
        view=view,
        actions=workflows.allowed_actions(case, officer.roles),
        history=[
            {
                "at": in_ist(e.at),
                "action_hi": action_label(definition, e.from_state, e.action)[0],
                "action_en": action_label(definition, e.from_state, e.action)[1],
                "to_hi": definition.state(e.to_state).label_hi,
                "to_en": definition.state(e.to_state).label_en,
                "actor": e.actor,
                "role": e.role,
                "reason": e.reason or "",
            }
            for e in history
        ],
        error=error,
    )


def case_page(request: Request) -> Response:
    officer = _require_officer(request)
    return _case_page(request, officer, _visible_case(request, officer), None)


def _prepare_outside_calls(request: Request, action: str) -> None:
    """Let the workflow ask the outside systems first, on a session of its own, before this
    request's transaction reads anything (WorkflowRegistry.prepare says why). Only for a
    signed-in officer who may take ``action`` on a case of their office, with a valid form."""
    if not _csrf_ok(request):
        return
    workflows: WorkflowRegistry = request.find_service(WorkflowRegistry)
    with Session(request.find_service(Database).engine) as peek:
        officer = _officer_in(peek, request)
        raw = str(request.matchdict["case_id"])
        case = peek.get(WorkflowCase, int(raw)) if raw.isdigit() and len(raw) < 12 else None
        if officer is None or case is None or case.office_code not in officer.offices:
            return
        if action in {a.name for a in workflows.allowed_actions(case, officer.roles)}:
            workflows.prepare(peek, case, action)


def _confirmed(request: Request, action: str) -> bool:
    return action not in IRREVERSIBLE or request.POST.get("confirm") == "yes"


def _confirm_page(
    request: Request, officer: Officer, case: WorkflowCase, action: str, reason: str | None
) -> Response:
    """The second step of an irreversible action: what will happen, and one button to do it."""
    workflows: WorkflowRegistry = request.find_service(WorkflowRegistry)
    allowed = {a.name: a for a in workflows.allowed_actions(case, officer.roles)}
    if action not in allowed:
        return _case_page(request, officer, case, ERROR_TEXT["action_not_allowed"], status=409)
    if allowed[action].requires_reason and not reason:
        return _case_page(request, officer, case, ERROR_TEXT["reason_required"], status=409)
    provider = _provider(request, case)
    label_hi, label_en = action_label(workflows.for_case(case), case.state, action)
    return render(
        request,
        "confirm.html",
        status=409 if "confirm" in request.POST else 200,
        officer=officer,
        case=case,
        title=provider.title(request.dbsession, case) if provider else f"{case.workflow} {case.subject_id}",
        action=action,
        label_hi=label_hi,
        label_en=label_en,
        reason=reason or "",
        error=ERROR_TEXT["confirm_required"] if "confirm" in request.POST else None,
    )


def decide(request: Request) -> Response:
    action = str(request.POST.get("action", ""))[:60]
    if _confirmed(request, action):
        try:
            _prepare_outside_calls(request, action)
        except ConnectorUnavailable as exc:
            return _outside_system_down(request, action, exc)
    officer = _require_officer(request)
    case = _visible_case(request, officer)
    if not _csrf_ok(request):
        return _case_page(request, officer, case, ERROR_TEXT["csrf"], status=403)
    reason = " ".join(str(request.POST.get("reason", "")).split())[:1000] or None
    if not _confirmed(request, action):
        return _confirm_page(request, officer, case, action, reason)
    workflows: WorkflowRegistry = request.find_service(WorkflowRegistry)
    session = request.dbsession
    # Lock the case so two officers deciding at once are serialised (PostgreSQL; SQLite has one writer).
    session.refresh(case, with_for_update=True)
    try:
        # A savepoint: a decision its workflow refuses midway (dues no longer clear at issue) leaves no trace.
        with session.begin_nested():
            event = workflows.act(
                session, case, action, f"officer:{officer.username}", officer.roles, reason=reason
            )
    except WorkflowError as exc:
        return _case_page(request, officer, case, ERROR_TEXT.get(exc.code, (str(exc), str(exc))), status=409)
    except ConnectorUnavailable as exc:
        request.tm.doom()  # what the action had written is rolled back: nothing is decided
        return _outside_system_down(request, action, exc)
    label_hi, label_en = action_label(workflows.for_case(case), event.from_state, action)
    request.session.flash(f"{label_hi} / {label_en}: {case.subject_id}")
    return HTTPFound(location=request.route_path("console.queue"))


def _outside_system_down(request: Request, action: str, exc: ConnectorUnavailable) -> Response:
    """Fail closed: nothing was decided; the officer is told why and tries again later."""
    log.warning("console action %s not taken: %s", action, exc)
    hi, en = ERROR_TEXT["unavailable"]
    request.session.flash(f"{hi} / {en}")
    return HTTPFound(location=request.route_path("console.queue"))


def font(request: Request) -> Response:
    name = str(request.matchdict["name"])
    if name not in FONTS:
        raise Problem("not_found")
    response = Response(body=(FONTS_DIR / name).read_bytes(), content_type="font/ttf")
    # The file of a name never changes within a release; a year's cache saves every page view a fetch.
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def includeme(config: Configurator) -> None:
    tags = ["console"]
    page = {"text/html": {"schema": {"type": "string"}}}
    html = {"200": {"description": "HTML page", "content": page}}
    # A refused form is shown again, with its reason, as a page (other errors are problems).
    refused = {
        str(status): {"description": f"the form again, with the reason ({why})", "content": page}
        for status, why in ((401, "wrong sign-in"), (403, "form expired"), (409, "action not possible now"))
    }
    redirect = {"302": {"description": "redirect (to the queue, or to sign-in)"}, **html, **refused}
    config.add_route("console.login", "/console/login")
    config.add_route("console.logout", "/console/logout")
    config.add_route("console.queue", "/console")
    config.add_route("console.case", "/console/cases/{case_id}")
    config.add_route("console.decide", "/console/cases/{case_id}/decide")
    config.add_route("console.font", "/console/fonts/{name}")
    common: dict[str, Any] = {"public": True}
    # Case ids are database ids: at most 11 digits (_visible_case); anything else is not found.
    case_param = [{"name": "case_id", "in": "path", "required": True, "schema": text_schema(11, CASE_ID)}]
    config.add_view(
        login_page,
        route_name="console.login",
        request_method="GET",
        operation_id="consoleLoginPage",
        openapi={"summary": "Officer sign-in page (HTML)", "tags": tags, "responses": html},
        **common,
    )
    config.add_view(
        login,
        route_name="console.login",
        request_method="POST",
        ratelimit="public",
        operation_id="consoleLogin",
        openapi={
            "summary": "Officer sign-in (form: username, password, csrf_token); sets the session cookie",
            "tags": tags,
            "responses": redirect,
        },
        **common,
    )
    config.add_view(
        logout,
        route_name="console.logout",
        request_method="POST",
        operation_id="consoleLogout",
        openapi={"summary": "Sign out (form: csrf_token)", "tags": tags, "responses": redirect},
        **common,
    )
    config.add_view(
        queue,
        route_name="console.queue",
        request_method="GET",
        operation_id="consoleQueue",
        openapi={
            "summary": "The officer's work queue, least time left first (HTML)",
            "tags": tags,
            "responses": redirect,
        },
        **common,
    )
    config.add_view(
        case_page,
        route_name="console.case",
        request_method="GET",
        operation_id="consoleCase",
        openapi={
            "parameters": case_param,
            "summary": "A case with its evidence, history and actions (HTML)",
            "tags": tags,
            "responses": redirect,
        },
        **common,
    )
    config.add_view(
        decide,
        route_name="console.decide",
        request_method="POST",
        operation_id="consoleDecide",
        openapi={
            "parameters": case_param,
            "summary": "Take an action on a case (form: action, reason, csrf_token)",
            "tags": tags,
            "responses": redirect,
        },
        **common,
    )
    config.add_view(
        font,
        route_name="console.font",
        request_method="GET",
        operation_id="consoleFont",
        openapi={
            "summary": "The console's web fonts (Noto Sans, Noto Sans Devanagari; SIL OFL)",
            "tags": tags,
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {**text_schema(FONT_NAME_MAX), "enum": sorted(FONTS)},
                }
            ],
            "responses": {"200": {"description": "TrueType font", "content": {"font/ttf": {}}}},
        },
        **common,
    )
