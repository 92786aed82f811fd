"""The energy audit in the officers' console (reports with charts, drill-down, CSV, signed PDF, a
request to recompute a month) and the public page of each distribution centre."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from certs.pdf import inr
from certs.report import Report, ReportTable, render_report_pdf
from hub.certificates.keys import DocumentKeys
from hub.console.views import ERROR_TEXT, _csrf_ok, _require_officer, _require_readable_form, render
from hub.energy.service import (
    DISCOM,
    FLAGS,
    LEVELS,
    AuditRefused,
    EnergyAudit,
    EnergyAuditResult,
    children,
    flags_of,
    measures,
    request_audit,
    result,
)
from hub.energy.views import NODE, PERIOD
from hub.errors import Problem
from hub.models.network import NetworkNode
from hub.offices import office_names
from hub.openapi import text_schema

LEVEL_NAMES = {
    "discom": ("डिस्कॉम", "Discom"),
    "circle": ("वृत्त", "Circle"),
    "division": ("संभाग", "Division"),
    "dc": ("वितरण केंद्र", "Distribution centre"),
    "feeder": ("11 केवी फीडर", "11 kV feeder"),
    "dt": ("वितरण ट्रांसफार्मर", "Distribution transformer"),
}
CSV_HEADER = [
    "period",
    "level",
    "code",
    "name",
    "consumers",
    "input_kwh",
    "billed_kwh",
    "audited_billed_kwh",
    "loss_kwh",
    "loss_percent",
    "billed_rupees",
    "collected_rupees",
    "billing_efficiency_percent",
    "collection_efficiency_percent",
    "atc_loss_percent",
    "nodes",
    "nodes_with_input",
    "flags",
]


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}"


def kwh(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def node_name(request: Request, session: Session, level: str, code: str) -> str:
    if level == "discom":
        return str(request.registry.settings["hub.discom.name_en"])
    if level in ("feeder", "dt"):
        node = session.get(NetworkNode, code)
        return f"{node.name_hi} / {node.name_en}" if node is not None else code
    return office_names(request.registry).shown(code)


def _latest_period(session: Session) -> str | None:
    return session.scalar(
        select(EnergyAudit.period)
        .where(EnergyAudit.computed_at.is_not(None))
        .order_by(EnergyAudit.period.desc())
        .limit(1)
    )


def _selected(request: Request) -> tuple[str, str, str]:
    """period, level, code from the query; the latest month and the discom by default."""
    period = request.GET.get("period") or _latest_period(request.dbsession) or ""
    level = request.GET.get("level") or "discom"
    code = request.GET.get("code") or DISCOM
    if not PERIOD.fullmatch(period) or level not in LEVELS or not NODE.fullmatch(code):
        raise Problem("not_found", "no such report")
    return period, level, code


def _row_view(request: Request, row: EnergyAuditResult) -> dict[str, Any]:
    m = measures(row)
    return {
        **m,
        "name": node_name(request, request.dbsession, row.level, row.code),
        "level_hi": LEVEL_NAMES[row.level][0],
        "level_en": LEVEL_NAMES[row.level][1],
        "input": kwh(m["input_kwh"]),
        "billed": kwh(m["billed_kwh"]),
        "audited": kwh(m["audited_billed_kwh"]),
        "loss_text": percent(m["loss"]),
        "be": percent(m["billing_efficiency"]),
        "ce": percent(m["collection_efficiency"]),
        "atc": percent(m["atc_loss"]),
        "billed_rs": inr(m["billed_amount"]),
        "collected_rs": inr(m["collected_amount"]),
        "url": request.route_path(
            "console.energy", _query={"period": row.period, "level": row.level, "code": row.code}
        ),
    }


def bar_chart(rows: list[dict[str, Any]], key: str, title: str) -> str:
    """A horizontal bar chart as inline SVG (server-rendered: the console runs no script).

    Bars are the fraction ``key`` of each row (0-100 %, negative drawn as 0); rows without the
    figure show a dash instead of a bar, so a missing reading never looks like a zero loss.
    """
    from xml.sax.saxutils import escape

    bar_h, gap, label_w, width = 18, 6, 230, 640
    height = (bar_h + gap) * max(1, len(rows)) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="100%" viewBox="0 0 {width} {height}" style="max-width:{width}px">',
        f'<text x="0" y="14" font-size="13" font-weight="700">{escape(title)}</text>',
    ]
    span = width - label_w - 60
    for i, row in enumerate(rows):
        y = 24 + i * (bar_h + gap)
        label = str(row["code"])
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{escape(label)}</text>')
        value = row[key]
        if value is None:
            parts.append(f'<text x="{label_w}" y="{y + 13}" font-size="12">— (no input)</text>')
            continue
        fraction = max(Decimal(0), min(Decimal(1), value))
        colour = (
            "#a40000"
            if fraction > Decimal("0.25")
            else "#d98c00"
            if fraction > Decimal("0.15")
            else "#0a6b2f"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{float(fraction) * span:.1f}" height="{bar_h}" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{label_w + float(fraction) * span + 4:.1f}" y="{y + 13}" font-size="12">'
            f"{value * 100:.1f} %</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def report_page(request: Request) -> Response:
    officer = _require_officer(request)
    session = request.dbsession
    periods = [a for a in session.scalars(select(EnergyAudit).order_by(EnergyAudit.period.desc())).all()]
    if not request.GET.get("period") and _latest_period(session) is None:
        return render(
            request,
            "energy_report.html",
            officer=officer,
            flash=request.session.pop_flash(),
            node=None,
            periods=periods,
            rows=[],
            flags=[],
            chart="",
            trail=[],
            csv_url="",
            pdf_url="",
            public_url="",
        )
    period, level, code = _selected(request)
    row = result(session, period, level, code)
    if row is None:
        raise Problem("not_found", "no such node in the audit of this month")
    rows = [_row_view(request, c) for c in children(session, period, level, code)]
    query = {"period": period, "level": level, "code": code}
    return render(
        request,
        "energy_report.html",
        officer=officer,
        flash=request.session.pop_flash(),
        periods=periods,
        node=_row_view(request, row),
        rows=rows,
        flags=[(FLAGS[f.flag][0], FLAGS[f.flag][1], f.count) for f in flags_of(session, period, code)],
        chart=bar_chart(rows[:60], "atc_loss", "AT&C हानि / AT&C loss") if rows else "",
        trail=_trail(request, row),
        csv_url=request.route_path("console.energy_csv", _query=query),
        pdf_url=request.route_path("console.energy_pdf", _query=query),
        public_url=request.route_path("energy.public", dc_code=code, _query={"period": period})
        if level == "dc"
        else "",
    )


def _trail(request: Request, row: EnergyAuditResult) -> list[tuple[str, str]]:
    """The nodes above this one, discom first: the way back up the drill-down."""
    trail: list[tuple[str, str]] = []
    current: EnergyAuditResult | None = row
    seen = 0
    while current is not None and current.parent_code is not None and seen < len(LEVELS):
        parent = request.dbsession.scalar(
            select(EnergyAuditResult).where(
                EnergyAuditResult.period == row.period, EnergyAuditResult.code == current.parent_code
            )
        )
        if parent is None:
            break
        trail.insert(
            0,
            (
                parent.code,
                request.route_path(
                    "console.energy",
                    _query={"period": row.period, "level": parent.level, "code": parent.code},
                ),
            ),
        )
        current = parent
        seen += 1
    return trail


def _report_rows(request: Request) -> tuple[EnergyAuditResult, list[EnergyAuditResult]]:
    _require_officer(request)
    period, level, code = _selected(request)
    row = result(request.dbsession, period, level, code)
    if row is None:
        raise Problem("not_found", "no such node in the audit of this month")
    return row, children(request.dbsession, period, level, code)


def report_csv(request: Request) -> Response:
    row, below = _report_rows(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for r in [row, *below]:
        m = measures(r)
        writer.writerow(
            [
                r.period,
                r.level,
                r.code,
                node_name(request, request.dbsession, r.level, r.code),
                r.consumers,
                m["input_kwh"] if m["input_kwh"] is not None else "",
                m["billed_kwh"],
                m["audited_billed_kwh"],
                m["loss_kwh"] if m["loss_kwh"] is not None else "",
                *("" if m[k] is None else f"{m[k] * 100:.2f}" for k in ("loss",)),
                f"{m['billed_amount']:.2f}",
                f"{m['collected_amount']:.2f}",
                *(
                    "" if m[k] is None else f"{m[k] * 100:.2f}"
                    for k in ("billing_efficiency", "collection_efficiency", "atc_loss")
                ),
                r.nodes,
                r.nodes_with_input,
                r.flags,
            ]
        )
    # A byte-order mark: spreadsheet programs then read the Hindi names as UTF-8.
    response = Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv", charset="utf-8"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="energy-audit-{row.period}-{row.code}.csv"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def report_pdf(request: Request) -> Response:
    row, below = _report_rows(request)
    session = request.dbsession
    discom = str(request.registry.settings["hub.discom.name_en"])
    header = [
        "Node / नोड",
        "Input kWh / आपूर्ति",
        "Billed kWh / बिलित",
        "Loss % / हानि",
        "Billed ₹ / बिल राशि",
        "Collected ₹ / वसूली",
        "BE %",
        "CE %",
        "AT&C %",
        "Flags",
    ]

    def line(r: EnergyAuditResult) -> list[str]:
        v = _row_view(request, r)
        return [
            f"{r.code} — {v['name']}",
            v["input"],
            v["audited"],
            v["loss_text"],
            v["billed_rs"],
            v["collected_rs"],
            v["be"],
            v["ce"],
            v["atc"],
            str(r.flags),
        ]

    weights = [4.2, 1.4, 1.4, 0.9, 1.5, 1.5, 0.8, 0.8, 0.9, 0.6]
    flags = flags_of(session, row.period, row.code)
    report = Report(
        title=f"ऊर्जा लेखा परीक्षा / Energy audit {row.period} — {LEVEL_NAMES[row.level][1]} {row.code}",
        author=discom,
        lines=[
            node_name(request, session, row.level, row.code),
            "BE = billed ÷ input (nodes with trusted readings); CE = collected ÷ billed; "
            "AT&C loss = 1 − BE × CE. A dash: no trusted reading (flagged), never a guess.",
            *(f"{FLAGS[f.flag][0]} / {FLAGS[f.flag][1]}: {f.count}" for f in flags),
        ],
        tables=[
            ReportTable("This node / यह नोड", header, [line(row)], weights),
            *(
                [
                    ReportTable(
                        f"{LEVEL_NAMES[below[0].level][1]}s below / नीचे",
                        header,
                        [line(r) for r in below],
                        weights,
                    )
                ]
                if below
                else []
            ),
        ],
    )
    issuer = request.find_service(DocumentKeys).issuer
    pdf = issuer.sign_pdf(render_report_pdf(report), reason=f"Energy audit {row.period} {row.code}")
    response = Response(body=pdf, content_type="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="energy-audit-{row.period}-{row.code}.pdf"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def run_audit_request(request: Request) -> Response:
    officer = _require_officer(request)
    _require_readable_form(request)
    back = HTTPFound(location=request.route_path("console.energy"))
    if not _csrf_ok(request):
        request.session.flash(" / ".join(ERROR_TEXT["csrf"]))
        return back
    period = str(request.POST.get("period", "")).strip()
    try:
        request_audit(request.dbsession, period, f"officer:{officer.username}")
    except AuditRefused as exc:
        hi = {"period_invalid": "माह YYYY-MM लिखें", "period_not_over": "माह अभी समाप्त नहीं हुआ"}[exc.code]
        request.session.flash(f"{hi} / {exc}")
        return back
    request.session.flash(
        f"{period}: लेखा परीक्षा कतार में है / the audit is queued; hub-worker computes it within minutes"
    )
    return back


def public_page(request: Request) -> Response:
    """A distribution centre's month as the discom publishes it: consumption, revenue, losses."""
    code = str(request.matchdict["dc_code"])
    session = request.dbsession
    period = request.GET.get("period") or _latest_period(session) or ""
    if not NODE.fullmatch(code) or not PERIOD.fullmatch(period):
        raise Problem("not_found", "no such distribution centre")
    row = result(session, period, "dc", code)
    if row is None:
        raise Problem("not_found", "no such distribution centre in the audit of this month")
    history = list(
        session.scalars(
            select(EnergyAuditResult)
            .where(EnergyAuditResult.level == "dc", EnergyAuditResult.code == code)
            .order_by(EnergyAuditResult.period.desc())
            .limit(12)
        ).all()
    )
    months = [_row_view(request, r) for r in history]
    response = render(
        request,
        "energy_public.html",
        node=_row_view(request, row),
        months=months,
        chart=bar_chart([{**m, "code": m["period"]} for m in months], "loss", "लाइन हानि / Line losses"),
    )
    # Published figures: cacheable for a while, unlike the officers' pages.
    response.headers["Cache-Control"] = "public, max-age=600"
    return response


def includeme(config: Configurator) -> None:
    tags = ["console"]
    page = {"text/html": {"schema": {"type": "string"}}}
    responses = {
        "200": {"description": "HTML page", "content": page},
        "302": {"description": "redirect (to the page, or to sign-in)"},
        "404": {"description": "no such report"},
    }
    query = [
        {"name": "period", "in": "query", "schema": text_schema(7, PERIOD)},
        {"name": "level", "in": "query", "schema": {"enum": list(LEVELS)}},
        {"name": "code", "in": "query", "schema": text_schema(40, NODE)},
    ]
    config.add_route("console.energy", "/console/energy")
    config.add_route("console.energy_run", "/console/energy/run")
    config.add_route("console.energy_csv", "/console/energy/report.csv")
    config.add_route("console.energy_pdf", "/console/energy/report.pdf")
    config.add_route("energy.public", "/energy-audit/dc/{dc_code}")
    views: list[tuple[Any, str, str, str, str, dict[str, Any]]] = [
        (
            report_page,
            "console.energy",
            "GET",
            "consoleEnergyAudit",
            "The energy audit of a node and the nodes one level down, with a chart (HTML)",
            {"parameters": query},
        ),
        (
            run_audit_request,
            "console.energy_run",
            "POST",
            "consoleRequestEnergyAudit",
            "Queue a month's energy audit for hub-worker (form: period YYYY-MM, csrf_token)",
            {},
        ),
        (
            report_csv,
            "console.energy_csv",
            "GET",
            "consoleEnergyAuditCsv",
            "The energy audit of a node and the nodes one level down as CSV",
            {
                "parameters": query,
                "responses": {
                    "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                    "302": {"description": "to sign-in"},
                },
            },
        ),
        (
            report_pdf,
            "console.energy_pdf",
            "GET",
            "consoleEnergyAuditPdf",
            "The energy audit of a node and the nodes one level down as a PAdES-signed PDF",
            {
                "parameters": query,
                "responses": {
                    "200": {
                        "description": "PDF",
                        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "302": {"description": "to sign-in"},
                },
            },
        ),
        (
            public_page,
            "energy.public",
            "GET",
            "publicEnergyAuditDc",
            "A distribution centre's losses, revenue and consumption as the discom publishes them (HTML, no sign-in)",
            {
                "parameters": [
                    {
                        "name": "dc_code",
                        "in": "path",
                        "required": True,
                        "schema": text_schema(40, NODE),
                    },
                    query[0],
                ]
            },
        ),
    ]
    for view, route, method, operation_id, summary, extra in views:
        config.add_view(
            view,
            route_name=route,
            request_method=method,
            operation_id=operation_id,
            openapi={"summary": summary, "tags": tags, "responses": responses, **extra},
            public=True,
        )
