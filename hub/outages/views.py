"""Outages over REST (``/api/v1/outages...``) and the public page of current outages (``/outages``).

* Officers' tools (scope ``outages:manage``): open or schedule, update the expected restoration,
  close (restoration), cancel a planned shutdown.
* SCADA and the head-end (scope ``outages:report``): ``POST /api/v1/outages/events``, idempotent
  on (source, event id): the same event again answers the same outage with 200, nothing re-sent.
* Partners and the public (no token): current outages by consumer number, feeder or
  distribution centre; the HTML page by distribution centre.
"""

from __future__ import annotations

import re
from datetime import datetime
from html import escape
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from connectors.network import NODE_CODE
from forms.identifiers import CONSUMER_NUMBER
from forms.reader import Reader
from hub.errors import FieldError, Problem
from hub.models.meta import IST
from hub.models.network import NetworkNode
from hub.openapi import text_schema
from hub.outages.service import (
    EVENT_SOURCES,
    PLANNED,
    UNPLANNED,
    FanOut,
    NewOutage,
    OutageService,
    outage_json,
)
from hub.view_helpers import client_label, json_reader

BASE = "/api/v1/outages"
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
OFFICE = re.compile(r"[A-Z0-9-]{2,16}")
REASON_MAX = 200
_NODE = re.compile(NODE_CODE.pattern.strip("^$"))


def service_of(request: Request) -> OutageService:
    service: OutageService = request.find_service(OutageService)
    return service


def _only(reader: Reader, allowed: tuple[str, ...]) -> None:
    for name in reader.data:
        if name not in allowed:
            reader.problem(str(name)[:64], "unknown_field", "is not a field of this request")


def _answer(request: Request, outage: Any, fan_out: FanOut | None, status: int = 200) -> dict[str, Any]:
    request.response.status_code = status
    node = request.dbsession.get(NetworkNode, outage.node_code)
    body = outage_json(outage, node)
    if fan_out is not None:
        body["notices"] = {"notice": fan_out.notice, "due": fan_out.due.isoformat(), "sent": fan_out.sent}
    return body


def _outage_id(request: Request) -> int:
    raw = str(request.matchdict["outage_id"])
    if not raw.isdigit() or len(raw) > 18:
        raise Problem("not_found", "no such outage")
    return int(raw)


def create_outage(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    _only(reader, ("node_code", "kind", "starts_at", "expected_restoration_at", "reason_en", "reason_hi"))
    node = reader.text("node_code", max_length=40, pattern=_NODE)
    kind = reader.choice("kind", (PLANNED, UNPLANNED))
    starts = reader.moment("starts_at")
    expected = reader.moment("expected_restoration_at", required=False)
    reason_en = reader.text("reason_en", max_length=REASON_MAX)
    reason_hi = reader.text("reason_hi", max_length=REASON_MAX)
    reader.done()
    assert node and kind and starts and reason_en and reason_hi
    outage, fan_out = service_of(request).open(
        request.dbsession,
        NewOutage(node, kind, starts, expected, reason_en, reason_hi, "officer", client_label(request)),
    )
    return _answer(request, outage, fan_out, 201)


def update_outage(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    _only(reader, ("expected_restoration_at",))
    expected = reader.moment("expected_restoration_at")
    reader.done()
    assert expected is not None
    service = service_of(request)
    outage = service.get(request.dbsession, _outage_id(request), lock=True)
    return _answer(request, outage, service.update_restoration(request.dbsession, outage, expected))


def close_outage(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    _only(reader, ("restored_at",))
    restored = reader.moment("restored_at")
    reader.done()
    assert restored is not None
    service = service_of(request)
    outage = service.get(request.dbsession, _outage_id(request), lock=True)
    return _answer(request, outage, service.close(request.dbsession, outage, restored))


def cancel_outage(request: Request) -> dict[str, Any]:
    service = service_of(request)
    outage = service.get(request.dbsession, _outage_id(request), lock=True)
    return _answer(request, outage, service.cancel(request.dbsession, outage))


def report_event(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    _only(reader, ("source", "event_id", "node_code", "action", "at", "expected_restoration_at"))
    source = reader.choice("source", EVENT_SOURCES)
    event_id = reader.text("event_id", max_length=64, pattern=EVENT_ID)
    node = reader.text("node_code", max_length=40, pattern=_NODE)
    action = reader.choice("action", ("outage", "restoration"))
    at = reader.moment("at")
    expected = reader.moment("expected_restoration_at", required=False)
    reader.done()
    assert source and event_id and node and action and at
    outage, applied = service_of(request).event(
        request.dbsession, source, event_id, node, action, at, expected
    )
    return {**_answer(request, outage, None, 201 if applied else 200), "replayed": not applied}


def get_outage(request: Request) -> dict[str, Any]:
    outage = service_of(request).get(request.dbsession, _outage_id(request))
    return _answer(request, outage, None)


def _filters(request: Request) -> dict[str, Any]:
    reader = Reader(dict(request.GET.items()))
    _only(reader, ("consumer_number", "feeder", "dc"))
    found = {
        "consumer_number": reader.text(
            "consumer_number", required=False, max_length=12, pattern=CONSUMER_NUMBER
        ),
        "feeder": reader.text("feeder", required=False, max_length=40, pattern=_NODE),
        "dc": reader.text("dc", required=False, max_length=16, pattern=OFFICE),
    }
    reader.done()
    return {k: v or None for k, v in found.items()}


def current_outages(request: Request) -> dict[str, Any]:
    filters = _filters(request)
    if not any(filters.values()):
        raise Problem(
            "validation_failed",
            errors=[FieldError("consumer_number", "required", "name a consumer number, a feeder or a dc")],
        )
    return {"outages": service_of(request).current(request.dbsession, **filters)}


def _ist(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(IST).strftime("%d-%m-%Y %H:%M")


def public_page(request: Request) -> Response:
    """Current and announced outages of a distribution centre, in Hindi and English, IST, no login."""
    try:
        filters = _filters(request)
    except Exception:
        filters = {"dc": None, "feeder": None, "consumer_number": None}
    rows = service_of(request).current(request.dbsession, **filters) if any(filters.values()) else []
    items = "".join(
        "<tr>"
        f"<td>{escape(o['node_name_hi'] or '')}<br>{escape(o['node_name_en'] or '')} ({escape(o['node_code'])})</td>"
        f"<td>{'नियोजित / planned' if o['kind'] == PLANNED else 'अनियोजित / unplanned'}</td>"
        f"<td>{_ist(o['starts_at'])}</td><td>{_ist(o['expected_restoration_at'])}</td>"
        f"<td>{escape(o['reason_hi'])}<br>{escape(o['reason_en'])}</td>"
        "</tr>"
        for o in rows
    )
    dc = escape(filters.get("dc") or "")
    body = f"""<!doctype html>
<html lang="hi"><head><meta charset="utf-8"><title>बिजली बंद / Power outages</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>वर्तमान एवं नियोजित बिजली बंद / Current and planned outages</h1>
<form method="get" action="/outages"><label>वितरण केंद्र / Distribution centre
<input name="dc" value="{dc}" maxlength="16"></label> <button>देखें / Show</button></form>
<p>समय भारतीय मानक समय (IST) में / Times in IST.</p>
<table><thead><tr><th>क्षेत्र / Area</th><th>प्रकार / Kind</th><th>से / From</th>
<th>अनुमानित बहाली / Expected restoration</th><th>कारण / Reason</th></tr></thead>
<tbody>{items or '<tr><td colspan="5">कोई बिजली बंद दर्ज नहीं / No outage recorded</td></tr>'}</tbody></table>
</body></html>"""
    return Response(body, content_type="text/html", charset="utf-8")


OUTAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "group_id": {"type": "integer"},
        "node_code": {"type": "string"},
        "node_kind": {"enum": ["substation", "feeder", "dt"]},
        "node_name_en": {"type": ["string", "null"]},
        "node_name_hi": {"type": ["string", "null"]},
        "office_code": {"type": "string"},
        "kind": {"enum": [PLANNED, UNPLANNED]},
        "state": {"enum": ["scheduled", "open", "restored", "cancelled"]},
        "source": {"enum": ["officer", "scada", "headend"]},
        "starts_at": {"type": "string", "format": "date-time"},
        "expected_restoration_at": {"type": ["string", "null"], "format": "date-time"},
        "restored_at": {"type": ["string", "null"], "format": "date-time"},
        "reason_en": {"type": "string"},
        "reason_hi": {"type": "string"},
        "updates": {"type": "integer"},
        "notices": {"type": "object"},
        "replayed": {"type": "boolean"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": False,
                }
            }
        },
    }


def includeme(config: Configurator) -> None:
    tags = ["outages"]
    moment = {"type": "string", "format": "date-time"}
    node = text_schema(40, NODE_CODE)
    reason = {"type": "string", "maxLength": REASON_MAX}
    path_id = {"name": "outage_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    config.add_route("outages.collection", BASE)
    config.add_route("outages.events", f"{BASE}/events")
    config.add_route("outages.one", BASE + "/{outage_id}")
    config.add_route("outages.update", BASE + "/{outage_id}/restoration-estimate")
    config.add_route("outages.close", BASE + "/{outage_id}/restoration")
    config.add_route("outages.cancel", BASE + "/{outage_id}/cancellation")
    config.add_route("outages.public", "/outages")
    common = {"renderer": "json"}
    config.add_view(
        create_outage,
        route_name="outages.collection",
        request_method="POST",
        scopes=["outages:manage"],
        operation_id="createOutage",
        openapi={
            "summary": "Open an unplanned outage or schedule a planned one on a substation, feeder or DT; "
            "the consumers below are told by SMS and e-mail (planned: ahead by the notice period, never at night)",
            "tags": tags,
            "requestBody": _body(
                {
                    "node_code": node,
                    "kind": {"enum": [PLANNED, UNPLANNED]},
                    "starts_at": moment,
                    "expected_restoration_at": moment,
                    "reason_en": reason,
                    "reason_hi": reason,
                },
                ["node_code", "kind", "starts_at", "reason_en", "reason_hi"],
            ),
            "responses": {"201": _json(OUTAGE_SCHEMA, "the outage and the notices written")},
        },
        **common,
    )
    config.add_view(
        current_outages,
        route_name="outages.collection",
        request_method="GET",
        public=True,
        ratelimit="public",
        operation_id="listCurrentOutages",
        openapi={
            "summary": "Current and announced outages affecting a consumer, a feeder or a distribution centre",
            "tags": tags,
            "parameters": [
                {"name": "consumer_number", "in": "query", "schema": text_schema(12, CONSUMER_NUMBER)},
                {"name": "feeder", "in": "query", "schema": node},
                {"name": "dc", "in": "query", "schema": text_schema(16, OFFICE)},
            ],
            "responses": {
                "200": _json(
                    {"type": "object", "properties": {"outages": {"type": "array", "items": OUTAGE_SCHEMA}}},
                    "the outages",
                )
            },
        },
        **common,
    )
    config.add_view(
        get_outage,
        route_name="outages.one",
        request_method="GET",
        public=True,
        ratelimit="public",
        operation_id="getOutage",
        openapi={
            "summary": "One outage",
            "tags": tags,
            "parameters": [path_id],
            "responses": {"200": _json(OUTAGE_SCHEMA, "the outage")},
        },
        **common,
    )
    config.add_view(
        update_outage,
        route_name="outages.update",
        request_method="POST",
        scopes=["outages:manage"],
        operation_id="updateOutageRestorationEstimate",
        openapi={
            "summary": "A new expected restoration time; the consumers below are told once",
            "tags": tags,
            "parameters": [path_id],
            "requestBody": _body({"expected_restoration_at": moment}, ["expected_restoration_at"]),
            "responses": {"200": _json(OUTAGE_SCHEMA, "the outage and the notices written")},
        },
        **common,
    )
    config.add_view(
        close_outage,
        route_name="outages.close",
        request_method="POST",
        scopes=["outages:manage"],
        operation_id="closeOutage",
        openapi={
            "summary": "Supply restored; the consumers below not still under another outage are told once",
            "tags": tags,
            "parameters": [path_id],
            "requestBody": _body({"restored_at": moment}, ["restored_at"]),
            "responses": {"200": _json(OUTAGE_SCHEMA, "the outage and the notices written")},
        },
        **common,
    )
    config.add_view(
        cancel_outage,
        route_name="outages.cancel",
        request_method="POST",
        scopes=["outages:manage"],
        operation_id="cancelPlannedOutage",
        openapi={
            "summary": "Cancel a planned shutdown before it begins; the consumers told of it are told once",
            "tags": tags,
            "parameters": [path_id],
            "responses": {"200": _json(OUTAGE_SCHEMA, "the outage and the notices written")},
        },
        **common,
    )
    config.add_view(
        report_event,
        route_name="outages.events",
        request_method="POST",
        scopes=["outages:report"],
        operation_id="reportOutageEvent",
        openapi={
            "summary": "SCADA or the head-end reports a node's outage or restoration; idempotent on (source, event_id)",
            "tags": tags,
            "requestBody": _body(
                {
                    "source": {"enum": list(EVENT_SOURCES)},
                    "event_id": text_schema(64, EVENT_ID),
                    "node_code": node,
                    "action": {"enum": ["outage", "restoration"]},
                    "at": moment,
                    "expected_restoration_at": moment,
                },
                ["source", "event_id", "node_code", "action", "at"],
            ),
            "responses": {
                "201": _json(OUTAGE_SCHEMA, "the event applied"),
                "200": _json(OUTAGE_SCHEMA, "the same event again: the outage it was applied to"),
            },
        },
        **common,
    )
    config.add_view(
        public_page,
        route_name="outages.public",
        request_method="GET",
        public=True,
        ratelimit="public",
        operation_id="currentOutagesPage",
        openapi={
            "summary": "Public page (Hindi and English, IST) of current and planned outages of a distribution centre",
            "tags": tags,
            "parameters": [{"name": "dc", "in": "query", "schema": text_schema(16, OFFICE)}],
            "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
        },
    )
