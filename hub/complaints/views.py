"""Complaints over REST (``/api/v1/complaints...``): the call centre, the consumer portal and app.

The call centre registers with its ticket id: the same ticket again gets the
same answer (200), the ticket id with different details a ``complaint_conflict``
(409). The portal may send a ``request_id`` for the same protection. Reopening
and rating name the consumer number: another consumer's complaint answers
exactly like a missing one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from forms.identifiers import CONSUMER_NUMBER, MOBILE
from forms.reader import Reader
from hub.complaints.service import ComplaintService, Intake
from hub.complaints.workflow import load_standards
from hub.errors import Problem
from hub.openapi import text_schema
from hub.view_helpers import download, json_reader

BASE = "/api/v1/complaints"
TICKET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
COMPLAINT_NO = re.compile(r"[0-9]{13,20}")
DESCRIPTION_MAX = 1000
REASON_MAX = 500
LIST_MAX = 50


def service_of(request: Request) -> ComplaintService:
    service: ComplaintService = request.find_service(ComplaintService)
    return service


def _actor(request: Request) -> str:
    return f"client:{request.partner.client_id}"


def _unknown_fields(reader: Reader, allowed: tuple[str, ...]) -> None:
    for name in reader.data:
        if name not in allowed:
            reader.problem(str(name)[:64], "unknown_field", "is not a field of this request")


def _intake(request: Request, channel: str, ticket_field: str, ticket_required: bool) -> Intake:
    service = service_of(request)
    reader = json_reader(request)
    fields = (ticket_field, "consumer_number", "complaint_type", "description", "caller_mobile")
    _unknown_fields(reader, fields if channel == "callcentre" else fields[:-1])
    ticket = reader.text(ticket_field, required=ticket_required, max_length=64, pattern=TICKET_ID)
    number = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    kind = reader.choice("complaint_type", tuple(service.standards.types))
    description = reader.text("description", max_length=DESCRIPTION_MAX)
    mobile = (
        reader.text("caller_mobile", required=False, max_length=10, pattern=MOBILE)
        if channel == "callcentre"
        else None
    )
    reader.done()
    assert number is not None and kind is not None and description is not None
    return Intake(
        channel=channel,
        filed_by=_actor(request),
        consumer_number=number,
        complaint_type=kind,
        description=description,
        client_id=str(request.partner.client_id),
        ticket_id=ticket,
        mobile=mobile or None,
    )


def _registered(request: Request, intake: Intake) -> dict[str, Any]:
    service = service_of(request)
    registered = service.register(request.dbsession, intake)
    request.response.status_code = 201 if registered.created else 200
    return service.describe(request.dbsession, registered.complaint, registered.case)


def register_call_centre_complaint(request: Request) -> dict[str, Any]:
    return _registered(request, _intake(request, "callcentre", "ticket_id", True))


def file_consumer_complaint(request: Request) -> dict[str, Any]:
    return _registered(request, _intake(request, "portal", "request_id", False))


def _complaint_no(request: Request) -> str:
    value = str(request.matchdict["complaint_no"])
    if not COMPLAINT_NO.fullmatch(value):
        reader = Reader({})
        reader.problem("complaint_no", "format", "has the wrong format")
        reader.done()
    return value


def get_complaint(request: Request) -> dict[str, Any]:
    service = service_of(request)
    complaint = service.by_number(request.dbsession, _complaint_no(request))
    return service.describe(request.dbsession, complaint)


def list_consumer_complaints(request: Request) -> dict[str, Any]:
    reader = Reader(dict(request.GET.items()))
    _unknown_fields(reader, ("consumer_number",))
    number = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    reader.done()
    assert number is not None
    service = service_of(request)
    return {
        "consumer_number": number,
        "complaints": [
            service.describe(request.dbsession, c) for c in service.of_consumer(request.dbsession, number)
        ],
    }


def reopen_complaint(request: Request) -> dict[str, Any]:
    number = _complaint_no(request)
    reader = json_reader(request)
    _unknown_fields(reader, ("consumer_number", "reason"))
    consumer = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    reason = reader.text("reason", max_length=REASON_MAX)
    reader.done()
    assert consumer is not None and reason is not None
    service = service_of(request)
    complaint = service.reopen(request.dbsession, number, consumer, reason, _actor(request))
    return service.describe(request.dbsession, complaint)


def rate_complaint(request: Request) -> dict[str, Any]:
    number = _complaint_no(request)
    reader = json_reader(request)
    _unknown_fields(reader, ("consumer_number", "rating", "remarks"))
    consumer = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    rating = reader.integer("rating", minimum=1, maximum=5)
    remarks = reader.text("remarks", required=False, max_length=REASON_MAX)
    reader.done()
    assert consumer is not None and rating is not None
    service = service_of(request)
    complaint = service.rate(request.dbsession, number, consumer, rating, remarks, _actor(request))
    return service.describe(request.dbsession, complaint)


def get_complaint_case_file(request: Request) -> Response:
    """The consumer's own complaint's signed case file, for the grievance forum."""
    number = _complaint_no(request)
    reader = Reader(dict(request.GET.items()))
    _unknown_fields(reader, ("consumer_number",))
    consumer = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    reader.done()
    service = service_of(request)
    complaint = service.by_number(request.dbsession, number)
    if complaint.consumer_number != consumer:
        raise Problem("not_found", f"no complaint {number}")  # someone else's looks missing
    body = service.case_file_pdf(request.dbsession, complaint, _actor(request))
    return download(body, "application/pdf", f"case-file-{number}", "pdf")


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "additionalProperties": False, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["complaint_no", "status", "resolve_by", "history"],
    "properties": {
        "complaint_no": {
            "type": "string",
            "description": "YYMMDD of registration (IST) and a 7-digit serial",
        },
        "ticket_id": {"type": ["string", "null"]},
        "channel": {"type": "string", "enum": ["callcentre", "portal", "office"]},
        "consumer_number": {"type": "string"},
        "complaint_type": {"type": "string"},
        "type_label": {"type": "object"},
        "status": {"type": "string", "enum": ["open", "in_progress", "resolved"]},
        "status_label": {"type": "object"},
        "office_code": {"type": "string", "description": "the distribution centre handling it"},
        "level": {"type": "integer", "description": "0: the distribution centre; each escalation adds one"},
        "with_role": {"type": ["string", "null"]},
        "with_label": {"type": ["object", "null"]},
        "registered_at": {"type": "string", "format": "date-time"},
        "standard_hours": {"type": "number"},
        "resolve_by": {"type": "string", "format": "date-time", "description": "the standard of performance"},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
        "action_taken": {"type": ["string", "null"]},
        "reopen_until": {"type": ["string", "null"], "format": "date-time"},
        "reopen_count": {"type": "integer"},
        "rating": {"type": ["integer", "null"]},
        "compensation": {"type": ["string", "null"], "description": "rupees due for a missed standard"},
        "compensation_credited": {"type": "boolean"},
        "history": {"type": "array", "items": {"type": "object"}},
    },
}


def includeme(config: Configurator) -> None:
    tags = ["complaints"]
    types = sorted(load_standards(config.get_settings()).types)
    intake_properties: dict[str, Any] = {
        "consumer_number": text_schema(12, CONSUMER_NUMBER),
        "complaint_type": {"type": "string", "enum": types},
        "description": text_schema(DESCRIPTION_MAX),
    }
    path_param = [
        {"name": "complaint_no", "in": "path", "required": True, "schema": text_schema(20, COMPLAINT_NO)}
    ]
    registered = {
        "201": _json(STATUS_SCHEMA, "registered: the complaint number and its standard"),
        "200": _json(STATUS_SCHEMA, "the same ticket again: the complaint registered for it"),
    }
    routes: list[tuple[str, str, str, Callable[[Request], Any], dict[str, Any]]] = [
        (
            "complaints.callcentre",
            f"{BASE}/callcentre",
            "POST",
            register_call_centre_complaint,
            {
                "operation_id": "registerCallCentreComplaint",
                "scopes": ["complaints:callcentre"],
                "openapi": {
                    "tags": tags,
                    "summary": "Register a complaint taken by the call centre (idempotent by ticket_id)",
                    "requestBody": _body(
                        {
                            "ticket_id": text_schema(64, TICKET_ID),
                            **intake_properties,
                            "caller_mobile": text_schema(10, MOBILE),
                        },
                        ["ticket_id", "consumer_number", "complaint_type", "description"],
                    ),
                    "responses": registered,
                },
            },
        ),
        (
            "complaints.consumer",
            f"{BASE}/consumer",
            "POST",
            file_consumer_complaint,
            {
                "operation_id": "fileConsumerComplaint",
                "scopes": ["complaints:consumer"],
                "openapi": {
                    "tags": tags,
                    "summary": "A consumer's complaint from the portal or app (idempotent by request_id if sent)",
                    "requestBody": _body(
                        {"request_id": text_schema(64, TICKET_ID), **intake_properties},
                        ["consumer_number", "complaint_type", "description"],
                    ),
                    "responses": registered,
                },
            },
        ),
        (
            "complaints.list",
            BASE,
            "GET",
            list_consumer_complaints,
            {
                "operation_id": "listConsumerComplaints",
                "scopes": ["complaints:consumer"],
                "openapi": {
                    "tags": tags,
                    "summary": f"A consumer's complaints, newest first (at most {LIST_MAX})",
                    "parameters": [
                        {
                            "name": "consumer_number",
                            "in": "query",
                            "required": True,
                            "schema": text_schema(12, CONSUMER_NUMBER),
                        }
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["consumer_number", "complaints"],
                                "properties": {
                                    "consumer_number": {"type": "string"},
                                    "complaints": {"type": "array", "items": STATUS_SCHEMA},
                                },
                            },
                            "the consumer's complaints",
                        )
                    },
                },
            },
        ),
        (
            "complaints.complaint",
            f"{BASE}/{{complaint_no}}",
            "GET",
            get_complaint,
            {
                "operation_id": "getComplaint",
                "scopes": ["complaints:read"],
                "openapi": {
                    "tags": tags,
                    "summary": "A complaint's status and history by its number",
                    "parameters": path_param,
                    "responses": {"200": _json(STATUS_SCHEMA, "status and history")},
                },
            },
        ),
        (
            "complaints.case_file",
            f"{BASE}/{{complaint_no}}/case-file",
            "GET",
            get_complaint_case_file,
            {
                "operation_id": "getComplaintCaseFile",
                "scopes": ["complaints:consumer"],
                "openapi": {
                    "tags": tags,
                    "summary": "The signed case file of the consumer's complaint for the grievance forum (PDF, "
                    "Hindi and English): every step and every SMS",
                    "parameters": [
                        *path_param,
                        {
                            "name": "consumer_number",
                            "in": "query",
                            "required": True,
                            "schema": text_schema(12, CONSUMER_NUMBER),
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "signed PDF (PAdES)",
                            "content": {
                                "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                            },
                        }
                    },
                },
            },
        ),
        (
            "complaints.reopen",
            f"{BASE}/{{complaint_no}}/reopen",
            "POST",
            reopen_complaint,
            {
                "operation_id": "reopenComplaint",
                "scopes": ["complaints:consumer"],
                "openapi": {
                    "tags": tags,
                    "summary": "The consumer reopens a resolved complaint (within hub.complaints.reopen_days)",
                    "parameters": path_param,
                    "requestBody": _body(
                        {
                            "consumer_number": text_schema(12, CONSUMER_NUMBER),
                            "reason": text_schema(REASON_MAX),
                        },
                        ["consumer_number", "reason"],
                    ),
                    "responses": {"200": _json(STATUS_SCHEMA, "status after reopening")},
                },
            },
        ),
        (
            "complaints.rating",
            f"{BASE}/{{complaint_no}}/rating",
            "POST",
            rate_complaint,
            {
                "operation_id": "rateComplaint",
                "scopes": ["complaints:consumer"],
                "openapi": {
                    "tags": tags,
                    "summary": "The consumer rates a resolved complaint, once (1-5)",
                    "parameters": path_param,
                    "requestBody": _body(
                        {
                            "consumer_number": text_schema(12, CONSUMER_NUMBER),
                            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                            "remarks": text_schema(REASON_MAX),
                        },
                        ["consumer_number", "rating"],
                    ),
                    "responses": {"200": _json(STATUS_SCHEMA, "status with the rating")},
                },
            },
        ),
    ]
    for name, pattern, method, view, options in routes:
        config.add_route(name, pattern)
        config.add_view(view, route_name=name, request_method=method, renderer="json", **options)
