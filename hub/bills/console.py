"""The officers' pages for payments: the suspense queue and its resolution, counter-file upload,
reconciliation runs and the queue of their unmatched items.

Officers with one of :data:`BILLS_ROLES` see them. Every resolution needs a
note and is audited under the officer's name (``bills.suspense_<resolution>``);
closing a reconciliation item needs an action and a reason and is audited as
``bills.reconciliation_<action>``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import Select, select

from connectors.errors import ConnectorError
from forms.errors import FieldProblem, FormError
from forms.identifiers import CONSUMER_NUMBER
from forms.labels import VALUE_LABELS
from hub.bills.reconciliation import (
    ACTIONS,
    CATEGORIES,
    RECONCILE_KIND,
    SETTLEMENT_HEADER,
    Reconciler,
    close_item,
    report_csv,
)
from hub.bills.service import RESOLUTIONS, BillService
from hub.console.labels import in_ist
from hub.console.queues import QueueSource, item_select, plus_hours
from hub.console.views import ERROR_TEXT, _csrf_ok, _require_officer, _require_readable_form, render
from hub.db import Database
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.bills import BillPayment, ReconciliationItem, ReconciliationRun
from hub.models.meta import IST, utcnow
from hub.models.officer import Officer
from hub.openapi import text_schema
from hub.outbox import enqueue
from hub.systems import Connectors

# The revenue section keeps the suspense ledger; the DGM and GM above it may act too.
BILLS_ROLES = frozenset({"revenue", "dgm", "gm"})
PAYMENT_ID = re.compile(r"[0-9]{1,15}")
RUN_ID = re.compile(r"[0-9]{1,9}")
ITEM_ID = RUN_ID
# An uploaded settlement file may be for one of this many days before today.
FILE_DAYS = 31


def _bills_officer(request: Request) -> Officer:
    officer = _require_officer(request)
    if not BILLS_ROLES.intersection(officer.roles):
        raise Problem("forbidden", "payments are the revenue section's work")
    return officer


def _service(request: Request) -> BillService:
    return request.find_service(BillService)


def _suspense_page(
    request: Request, officer: Officer, error: str | None = None, status: int = 200
) -> Response:
    rows: list[dict[str, Any]] = []
    for payment in _service(request).suspense(request.dbsession):
        reason = payment.suspense_reason or ""
        hi, en = VALUE_LABELS.get(reason, (reason, reason))
        rows.append(
            {
                "id": payment.id,
                "channel": payment.channel,
                "transaction_id": payment.transaction_id,
                "paid_at": in_ist(payment.paid_at),
                "consumer_number": payment.consumer_number,
                "bill_number": payment.bill_number,
                "amount": payment.amount,
                "reason_hi": hi,
                "reason_en": en,
                "url": request.route_path("console.bills.resolve", payment_id=payment.id),
            }
        )
    flash = request.session.pop_flash()
    return render(
        request,
        "bills_suspense.html",
        status=status,
        officer=officer,
        payments=rows,
        flash=flash,
        error=error,
    )


def suspense_page(request: Request) -> Response:
    return _suspense_page(request, _bills_officer(request))


def resolve(request: Request) -> Response:
    officer = _bills_officer(request)
    _require_readable_form(request)
    if not _csrf_ok(request):
        return _suspense_page(request, officer, " / ".join(ERROR_TEXT["csrf"]), status=403)
    form = request.POST
    resolution = str(form.get("resolution", ""))
    note = " ".join(str(form.get("note", "")).split())[:500]
    consumer = str(form.get("consumer_number", "")).strip() or None
    if resolution not in RESOLUTIONS or not note:
        return _suspense_page(request, officer, " / ".join(ERROR_TEXT["reason_required"]), status=409)
    if consumer is not None and not CONSUMER_NUMBER.fullmatch(consumer):
        return _suspense_page(request, officer, "उपभोक्ता क्रमांक 10-12 अंक / consumer number: 10-12 digits", 409)
    payment_id = request.matchdict["payment_id"]
    if not PAYMENT_ID.fullmatch(payment_id):
        raise Problem("not_found")
    try:
        payment = _service(request).resolve(
            request.dbsession, int(payment_id), resolution, f"officer:{officer.username}", note, consumer
        )
    except Problem as exc:
        if exc.code == "not_found":
            raise
        return _suspense_page(request, officer, exc.detail or exc.code, status=409)
    hi, en = VALUE_LABELS[resolution]
    request.session.flash(f"भुगतान {payment.id}: {hi} / payment {payment.id}: {en}")
    return HTTPFound(location=request.route_path("console.bills.suspense"))


def counter_page(request: Request) -> Response:
    officer = _bills_officer(request)
    return render(
        request, "bills_counter.html", officer=officer, flash=request.session.pop_flash(), errors=[]
    )


def counter_upload(request: Request) -> Response:
    officer = _bills_officer(request)
    _require_readable_form(request)
    if not _csrf_ok(request):
        return render(
            request,
            "bills_counter.html",
            status=403,
            officer=officer,
            flash=[" / ".join(ERROR_TEXT["csrf"])],
            errors=[],
        )
    upload = request.POST.get("file")
    body = upload.file.read() if hasattr(upload, "file") else b""
    service = _service(request)
    channel = next(c for c in service.channels.values() if c.format == "counter_csv")
    try:
        lines = service.read_counter_file(body)
    except FormError as exc:
        return render(
            request, "bills_counter.html", status=409, officer=officer, flash=[], errors=exc.problems
        )
    new = 0
    for line in lines:
        _, created = service.accept(
            request.dbsession,
            channel,
            transaction_id=line["transaction_id"],
            consumer_number=line["consumer_number"],
            bill_number=None,
            amount=line["amount"],
            paid_at=line["paid_at"],
            received_from=f"officer:{officer.username}",
        )
        new += created
    request.session.flash(
        f"{len(lines)} पंक्तियाँ, {new} नए भुगतान दर्ज / {len(lines)} lines, {new} new payments recorded"
    )
    return HTTPFound(location=request.route_path("console.bills.counter"))


def _rupees(value: int | None) -> str:
    return "" if value is None else f"{value // 100}.{value % 100:02d}"


def reconciliation_page(request: Request) -> Response:
    return _runs_page(request, _bills_officer(request), flash=request.session.pop_flash())


def _runs_page(
    request: Request,
    officer: Officer,
    *,
    status: int = 200,
    flash: list[str] | None = None,
    errors: list[FieldProblem] | None = None,
) -> Response:
    runs = request.dbsession.execute(
        select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(100)
    ).scalars()
    rows = [
        {
            "channel": run.channel,
            "day": run.day.isoformat(),
            "matched": run.counts.get("matched", 0),
            "unmatched": sum(v for k, v in run.counts.items() if k != "matched"),
            "at": in_ist(run.finished_at or run.started_at),
            "url": request.route_path("console.bills.reconciliation_run", run_id=run.id),
        }
        for run in runs
    ]
    today = utcnow().astimezone(IST).date()
    return render(
        request,
        "bills_reconciliation.html",
        status=status,
        officer=officer,
        runs=rows,
        run=None,
        flash=flash or [],
        errors=errors or [],
        file_channels=_file_channels(request),
        header=",".join(SETTLEMENT_HEADER),
        yesterday=(today - timedelta(days=1)).isoformat(),
        earliest=(today - timedelta(days=FILE_DAYS)).isoformat(),
    )


def _file_channels(request: Request) -> list[str]:
    """The channels whose settlement no connector gives: an officer uploads their file."""
    return [c.name for c in _service(request).channels.values() if not c.settlement]


def reconcile_file(request: Request) -> Response:
    """Reconcile a channel's day from the settlement file an officer uploads (the collection
    agency's file for counters): the same matching as the daily job, recorded whole or not at all."""
    officer = _bills_officer(request)
    _require_readable_form(request)
    if not _csrf_ok(request):
        return _runs_page(request, officer, status=403, flash=[" / ".join(ERROR_TEXT["csrf"])])
    problems: list[FieldProblem] = []
    channel = str(request.POST.get("channel", ""))
    if channel not in _file_channels(request):
        problems.append(FieldProblem("channel", "one_of", "not a channel reconciled from a file"))
    today = utcnow().astimezone(IST).date()
    try:
        day = date.fromisoformat(str(request.POST.get("day", "")))
    except ValueError:
        day = None
        problems.append(FieldProblem("day", "format", "must be a date, YYYY-MM-DD"))
    if day is not None and not today - timedelta(days=FILE_DAYS) <= day < today:
        problems.append(FieldProblem("day", "range", f"must be one of the {FILE_DAYS} days before today"))
    upload = request.POST.get("file")
    if not hasattr(upload, "file"):
        problems.append(FieldProblem("file", "required", "choose the settlement file"))
    if problems:
        return _runs_page(request, officer, status=409, errors=problems)
    assert day is not None
    billing = process_service(request.registry, Connectors).require("billing")
    engine = process_service(request.registry, Database).engine
    filename = str(getattr(upload, "filename", "") or "upload")[:100]
    try:
        run_id = Reconciler(engine).run(
            channel,
            day,
            f"file {filename} uploaded",
            io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline=""),  # type: ignore[union-attr]
            billing.payments_posted_tsv(day),
            f"officer:{officer.username}",
        )
    except UnicodeDecodeError:
        return _runs_page(request, officer, status=409, errors=[FieldProblem("file", "format", "not UTF-8")])
    except ValueError as exc:
        return _runs_page(request, officer, status=409, errors=[FieldProblem("file", "format", str(exc))])
    except ConnectorError:
        return _runs_page(
            request,
            officer,
            status=503,
            errors=[
                FieldProblem("billing", "unavailable", "billing did not answer: nothing recorded, try again")
            ],
        )
    request.session.flash(f"{channel} {day.isoformat()}: मिलान दर्ज / reconciled")
    return HTTPFound(location=request.route_path("console.bills.reconciliation_run", run_id=run_id))


def _run(request: Request) -> ReconciliationRun:
    run_id = request.matchdict["run_id"]
    run = request.dbsession.get(ReconciliationRun, int(run_id)) if RUN_ID.fullmatch(run_id) else None
    if run is None:
        raise Problem("not_found")
    return run


def reconciliation_run_page(request: Request) -> Response:
    officer = _bills_officer(request)
    run = _run(request)
    items = request.dbsession.execute(
        select(ReconciliationItem)
        .where(ReconciliationItem.run_id == run.id)
        .order_by(ReconciliationItem.category, ReconciliationItem.id)
        .limit(500)
    ).scalars()
    shown = [_item_row(request, item, run) for item in items]
    counts = [(c, *VALUE_LABELS.get(c, (c, c)), run.counts.get(c, 0)) for c in CATEGORIES]
    return render(
        request,
        "bills_reconciliation.html",
        officer=officer,
        run=run,
        items=shown,
        counts=counts,
        rerun=run.channel in _service(request).settlement_channels(),
        runs=[],
        flash=request.session.pop_flash(),
    )


def rerun(request: Request) -> Response:
    """Run the run's channel and day again (hub-worker fetches the channel's report anew)."""
    officer = _bills_officer(request)
    _require_readable_form(request)
    run = _run(request)
    if not _csrf_ok(request):
        request.session.flash(" / ".join(ERROR_TEXT["csrf"]))
    elif run.channel not in _service(request).settlement_channels():
        request.session.flash("इस चैनल की निपटान रिपोर्ट नहीं / this channel has no settlement report")
    else:
        enqueue(
            request.dbsession,
            RECONCILE_KIND,
            {"channel": run.channel, "day": run.day.isoformat(), "by": f"officer:{officer.username}"},
            key=f"bills.reconcile:{run.channel}",
        )
        request.session.flash("मिलान फिर से कतार में / reconciliation queued again")
    return HTTPFound(location=request.route_path("console.bills.reconciliation_run", run_id=run.id))


def _item_row(request: Request, item: ReconciliationItem, run: ReconciliationRun) -> dict[str, Any]:
    hi, en = VALUE_LABELS.get(item.category, (item.category, item.category))
    action_hi, action_en = VALUE_LABELS.get(item.action or "", (item.action or "", item.action or ""))
    return {
        "id": item.id,
        "hi": hi,
        "en": en,
        "channel_name": run.channel,
        "day": run.day.isoformat(),
        "run_id": run.id,
        "run_url": request.route_path("console.bills.reconciliation_run", run_id=run.id),
        "transaction_id": item.transaction_id or "",
        "payment_id": item.payment_id,
        "channel": _rupees(item.channel_amount_paise),
        "hub": _rupees(item.hub_amount_paise),
        "billing": _rupees(item.billing_amount_paise),
        "state": item.state,
        "action_hi": action_hi,
        "action_en": action_en,
        "note": item.note or "",
        "closed_by": item.closed_by,
        "closed_at": in_ist(item.closed_at) if item.closed_at else "",
        "url": request.route_path("console.bills.reconciliation_item", item_id=item.id),
    }


def _items_page(
    request: Request,
    officer: Officer,
    item: dict[str, Any] | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    rows: list[dict[str, Any]] = []
    if item is None:
        found = request.dbsession.execute(
            select(ReconciliationItem, ReconciliationRun)
            .join(ReconciliationRun, ReconciliationRun.id == ReconciliationItem.run_id)
            .where(ReconciliationItem.state == "open")
            .order_by(ReconciliationRun.day, ReconciliationItem.id)
            .limit(500)
        ).all()
        rows = [_item_row(request, found_item, found_run) for found_item, found_run in found]
    actions = [(a, *VALUE_LABELS[a]) for a in ACTIONS]
    return render(
        request,
        "bills_reconciliation_items.html",
        status=status,
        officer=officer,
        items=rows,
        item=item,
        actions=actions,
        flash=request.session.pop_flash(),
        error=error,
    )


def items_page(request: Request) -> Response:
    return _items_page(request, _bills_officer(request), None)


def _item(request: Request) -> tuple[ReconciliationItem, ReconciliationRun]:
    item_id = request.matchdict["item_id"]
    item = request.dbsession.get(ReconciliationItem, int(item_id)) if ITEM_ID.fullmatch(item_id) else None
    if item is None:
        raise Problem("not_found")
    run = request.dbsession.get(ReconciliationRun, item.run_id)
    assert run is not None  # foreign key
    return item, run


def item_page(request: Request) -> Response:
    officer = _bills_officer(request)
    item, run = _item(request)
    return _items_page(request, officer, _item_row(request, item, run))


def close(request: Request) -> Response:
    officer = _bills_officer(request)
    _require_readable_form(request)
    item, run = _item(request)
    if not _csrf_ok(request):
        return _items_page(
            request, officer, _item_row(request, item, run), " / ".join(ERROR_TEXT["csrf"]), status=403
        )
    action = str(request.POST.get("action", ""))
    note = " ".join(str(request.POST.get("note", "")).split())[:500]
    if action not in ACTIONS or not note:
        return _items_page(
            request, officer, _item_row(request, item, run), " / ".join(ERROR_TEXT["reason_required"]), 409
        )
    try:
        close_item(request.dbsession, item.id, action, note, f"officer:{officer.username}")
    except Problem as exc:
        if exc.code == "not_found":
            raise
        return _items_page(request, officer, _item_row(request, item, run), exc.detail or exc.code, 409)
    hi, en = VALUE_LABELS[action]
    request.session.flash(f"प्रविष्टि {item.id}: {hi} / item {item.id}: {en}")
    return HTTPFound(location=request.route_path("console.bills.reconciliation_items"))


def reconciliation_csv(request: Request) -> Response:
    _bills_officer(request)
    run = _run(request)
    body = b"".join(report_csv(request.dbsession.connection(), run.id))
    response = Response(body=body, content_type="text/csv", charset="utf-8")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="reconciliation-{run.channel}-{run.day}.csv"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# An unmatched item is money the discom cannot account for: worked within three days of its run.
RECONCILIATION_HOURS = 72


def _reconciliation_items(roles: Sequence[str], offices: Sequence[str]) -> Select[Any] | None:
    """The open unmatched items for the officers' work list (the discom's, not an office's)."""
    if not BILLS_ROLES.intersection(roles):
        return None
    return (
        item_select(
            flow="reconciliation",
            kind=ReconciliationItem.category,
            item_id=ReconciliationItem.id,
            reference=ReconciliationItem.transaction_id,
            consumer_number=BillPayment.consumer_number,
            mobile=None,
            office_code=None,
            status=ReconciliationItem.state,
            due_at=plus_hours(ReconciliationRun.finished_at, RECONCILIATION_HOURS),
            opened_at=ReconciliationRun.finished_at,
        )
        .select_from(ReconciliationItem)
        .join(ReconciliationRun, ReconciliationRun.id == ReconciliationItem.run_id)
        .outerjoin(BillPayment, BillPayment.id == ReconciliationItem.payment_id)
        .where(ReconciliationItem.state == "open")
    )


RECONCILIATION_SOURCE = QueueSource(
    "reconciliation",
    "असमान भुगतान",
    "Unmatched payments",
    _reconciliation_items,
    lambda request, item_id: str(request.route_path("console.bills.reconciliation_item", item_id=item_id)),
    lambda request, kind, status: VALUE_LABELS.get(kind, (kind, kind)),
)


def includeme(config: Configurator) -> None:
    # The unmatched items join every revenue officer's work list, beside payments in suspense.
    config.add_queue_source(RECONCILIATION_SOURCE)  # type: ignore[attr-defined]
    tags = ["console"]
    page = {"text/html": {"schema": {"type": "string"}}}
    responses = {
        "200": {"description": "HTML page", "content": page},
        "302": {"description": "redirect (to the page, or to sign-in)"},
        "403": {"description": "form expired", "content": page},
        "409": {"description": "the form again, with the reason", "content": page},
    }
    upload_cap = int(config.get_settings()["hub.upload_max_body_bytes"])
    config.add_route("console.bills.suspense", "/console/bills/suspense")
    config.add_route("console.bills.resolve", "/console/bills/suspense/{payment_id}")
    config.add_route("console.bills.counter", "/console/bills/counter")
    config.add_route("console.bills.reconciliation", "/console/bills/reconciliation")
    config.add_route("console.bills.reconciliation_items", "/console/bills/reconciliation/items")
    config.add_route("console.bills.reconciliation_item", "/console/bills/reconciliation/items/{item_id}")
    config.add_route("console.bills.reconciliation_run", "/console/bills/reconciliation/{run_id}")
    config.add_route("console.bills.reconciliation_rerun", "/console/bills/reconciliation/{run_id}/rerun")
    config.add_route("console.bills.reconciliation_csv", "/console/bills/reconciliation/{run_id}/report.csv")
    run_param = [{"name": "run_id", "in": "path", "required": True, "schema": text_schema(9, RUN_ID)}]
    item_param = [{"name": "item_id", "in": "path", "required": True, "schema": text_schema(9, ITEM_ID)}]
    param = [{"name": "payment_id", "in": "path", "required": True, "schema": text_schema(15, PAYMENT_ID)}]
    views: list[tuple[Any, str, str, str, str, dict[str, Any]]] = [
        (
            suspense_page,
            "console.bills.suspense",
            "GET",
            "consoleSuspense",
            "Payments in suspense (HTML)",
            {},
        ),
        (
            resolve,
            "console.bills.resolve",
            "POST",
            "consoleResolveSuspense",
            "Resolve a payment in suspense (form: resolution apply/adjust/refund, note, consumer_number, csrf_token)",
            {"parameters": param},
        ),
        (
            counter_page,
            "console.bills.counter",
            "GET",
            "consoleCounterPage",
            "Counter-collection upload (HTML)",
            {},
        ),
        (
            counter_upload,
            "console.bills.counter",
            "POST",
            "consoleUploadCounter",
            "Upload a counter's collections (multipart: file, csrf_token)",
            {},
        ),
        (
            reconciliation_page,
            "console.bills.reconciliation",
            "GET",
            "consoleReconciliationRuns",
            "Reconciliation runs by channel and day (HTML)",
            {},
        ),
        (
            reconcile_file,
            "console.bills.reconciliation",
            "POST",
            "consoleReconcileFile",
            "Reconcile a channel's day from its settlement file (multipart: channel, day, file, csrf_token)",
            {},
        ),
        (
            reconciliation_run_page,
            "console.bills.reconciliation_run",
            "GET",
            "consoleReconciliationRun",
            "A reconciliation run: counts per category and the unmatched items (HTML)",
            {"parameters": run_param},
        ),
        (
            rerun,
            "console.bills.reconciliation_rerun",
            "POST",
            "consoleReconciliationRerun",
            "Reconcile the run's channel and day again from the channel's settlement report (form: csrf_token)",
            {"parameters": run_param},
        ),
        (
            items_page,
            "console.bills.reconciliation_items",
            "GET",
            "consoleReconciliationItems",
            "The office's queue: open unmatched reconciliation items, oldest day first (HTML)",
            {},
        ),
        (
            item_page,
            "console.bills.reconciliation_item",
            "GET",
            "consoleReconciliationItem",
            "One reconciliation item: amounts, and who closed it, when, how and why (HTML)",
            {"parameters": item_param},
        ),
        (
            close,
            "console.bills.reconciliation_item",
            "POST",
            "consoleCloseReconciliationItem",
            "Close an open reconciliation item (form: action posted_to_billing/refund_requested/written_off, note, csrf_token)",
            {"parameters": item_param},
        ),
        (
            reconciliation_csv,
            "console.bills.reconciliation_csv",
            "GET",
            "consoleReconciliationCsv",
            "A reconciliation run's unmatched items as CSV",
            {
                "parameters": run_param,
                "responses": {
                    "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                    "302": {"description": "to sign-in"},
                },
            },
        ),
    ]
    for view, route, method, operation_id, summary, extra in views:
        options: dict[str, Any] = {"public": True}
        if view is counter_upload or view is reconcile_file:
            options["max_body"] = upload_cap
        config.add_view(
            view,
            route_name=route,
            request_method=method,
            operation_id=operation_id,
            openapi={"summary": summary, "tags": tags, "responses": responses, **extra},
            **options,
        )
