"""The distribution centre's field queue: reconnections the head-end could not carry out."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response

from hub.console.labels import in_ist
from hub.console.views import current_officer, render
from hub.meters.service import MeterService

REASONS = {
    "remote_switch_unsupported": "मीटर दूर से नहीं जुड़ता / meter cannot switch remotely",
    "unknown_at_headend": "हेड-एंड में मीटर नहीं / meter unknown to the head-end",
    "no_confirmation": "पुष्टि नहीं मिली / no confirmation from the meter",
    "meter_not_communicating": "मीटर संपर्क में नहीं / meter not communicating",
}


def field_visits(request: Request) -> Response:
    officer = current_officer(request)
    if officer is None:
        raise HTTPFound(location=request.route_path("console.login"))
    service: MeterService = request.find_service(MeterService)
    rows: list[dict[str, Any]] = [
        {
            "consumer_number": c.consumer_number,
            "meter_no": c.meter_no,
            "office": c.dc_code,
            "reason": REASONS.get(c.failure_code or "", c.failure_code or "-"),
            "attempts": c.attempts,
            "since": in_ist(c.updated_at),
        }
        for c in service.field_queue(request.dbsession, list(officer.offices))
    ]
    return render(request, "field_visits.html", officer=officer, rows=rows)


def includeme(config: Configurator) -> None:
    config.add_route("meters.field_visits", "/console/meters/field-visits")
    page = {"text/html": {"schema": {"type": "string"}}}
    config.add_view(
        field_visits,
        route_name="meters.field_visits",
        request_method="GET",
        public=True,
        operation_id="consoleMeterFieldVisits",
        openapi={
            "summary": "Smart-meter reconnections waiting for a field visit in the officer's offices (HTML)",
            "tags": ["console"],
            "responses": {
                "200": {"description": "HTML page", "content": page},
                "302": {"description": "redirect to sign-in"},
            },
        },
    )
