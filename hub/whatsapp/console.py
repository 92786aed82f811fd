"""The console's page for WhatsApp bill runs: each cycle's progress and what became of its messages."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response

from hub.console.views import current_officer, render
from hub.whatsapp.service import list_runs


def bill_runs(request: Request) -> Response:
    officer = current_officer(request)
    if officer is None:
        raise HTTPFound(location=request.route_path("console.login"))
    runs = list_runs(request.dbsession)
    for run in runs:
        run["percent"] = int(100 * run["handed_off"] / run["eligible"]) if run["eligible"] else 100
    return render(request, "whatsapp_runs.html", officer=officer, runs=runs)


def includeme(config: Configurator) -> None:
    config.add_route("whatsapp.console_runs", "/console/whatsapp")
    page = {"text/html": {"schema": {"type": "string"}}}
    config.add_view(
        bill_runs,
        route_name="whatsapp.console_runs",
        request_method="GET",
        public=True,
        operation_id="consoleWhatsAppBillRuns",
        openapi={
            "summary": "WhatsApp bill runs: progress, sent / delivered / read / failed / fell back to SMS (HTML)",
            "tags": ["console"],
            "responses": {
                "200": {"description": "HTML page", "content": page},
                "302": {"description": "redirect to sign-in"},
            },
        },
    )
