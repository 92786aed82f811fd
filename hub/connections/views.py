"""New connections over REST: the single window's operations, and the payment gateway's callback.

Every refusal is problem+json with a stable code and is recorded in
``connection_incidents`` (outside the request's transaction, which is rolled
back so the application is unchanged).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from forms.errors import FormError
from forms.newconnection import FORMS, read_application, read_documents
from forms.reader import Reader, parse_json_object
from hub.connections.service import ConnectionService
from hub.errors import Problem
from hub.openapi import text_schema
from hub.view_helpers import client_label

SW_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
BASE = "/api/v1/connections"


def service_of(request: Request) -> ConnectionService:
    return request.find_service(ConnectionService)


@contextmanager
def recorded(request: Request, operation: str, reference: str | None = None) -> Iterator[None]:
    """Record every refusal (Problem or FormError) as an incident, then let it answer."""
    caller = client_label(request)
    try:
        yield
    except Problem as exc:
        record_incident_after(request, operation, exc.code, caller, reference, exc.detail or "")
        raise
    except FormError as exc:
        detail = "; ".join(f"{p.field}: {p.code}" for p in exc.problems) or exc.message
        record_incident_after(request, operation, exc.code, caller, reference, detail)
        raise


def record_incident_after(
    request: Request, operation: str, code: str, caller: str, reference: str | None, detail: str
) -> None:
    """Record the incident once the request's transaction has rolled back (finished callbacks run
    after pyramid_tm's tween), so it never waits on the request's own SQLite write lock."""
    service = service_of(request)
    request.add_finished_callback(
        lambda _request: service.record_incident(operation, code, caller, reference, detail)
    )


def _body(request: Request) -> dict[str, Any]:
    return parse_json_object(request.body, request.content_type)


def submit_application(request: Request) -> dict[str, Any]:
    client_id = request.partner.client_id
    with recorded(request, "submitConnectionApplication"):
        data = _body(request)
        reader = Reader(data)
        sw_id = reader.text("sw_application_id", max_length=64, pattern=SW_ID)
        for name in data:
            if name not in ("sw_application_id", "form_version", "form"):
                reader.problem(str(name)[:64], "unknown_field", "is not a field of this request")
        reader.done()
        assert sw_id is not None
    with recorded(request, "submitConnectionApplication", sw_id):
        form = read_application(data.get("form_version"), data.get("form"))
        submitted = service_of(request).submit(request.dbsession, sw_id, form, client_id, "rest")
    request.response.status_code = 201 if submitted.created else 200
    return submitted.acknowledgement


def get_application(request: Request) -> dict[str, Any]:
    sw_id = request.matchdict["sw_application_id"]
    service = service_of(request)
    application = service.find(request.dbsession, sw_id, request.partner.client_id)
    return service.describe(request.dbsession, application)


def respond_to_query(request: Request) -> dict[str, Any]:
    sw_id = request.matchdict["sw_application_id"]
    service = service_of(request)
    with recorded(request, "respondToQuery", sw_id):
        data = _body(request)
        reader = Reader(data)
        answer = reader.text("answer", max_length=2000)
        reader.done()
        assert answer is not None
        application = service.find(request.dbsession, sw_id, request.partner.client_id)
        documents = read_documents(application.form_version, data.get("documents") or [])
        return service.respond_to_query(
            request.dbsession, sw_id, request.partner.client_id, answer, documents
        )


def withdraw_application(request: Request) -> dict[str, Any]:
    sw_id = request.matchdict["sw_application_id"]
    with recorded(request, "withdrawConnectionApplication", sw_id):
        reader = Reader(_body(request))
        reason = reader.text("reason", max_length=500)
        reader.done()
        assert reason is not None
        return service_of(request).withdraw(request.dbsession, sw_id, request.partner.client_id, reason)


def record_payment(request: Request) -> dict[str, Any]:
    # The gateway's own server-to-server callback: its HMAC signature is its authentication.
    with recorded(request, "recordPayment"):
        return service_of(request).record_payment(
            request.dbsession, request.body, dict(request.headers), channel="gateway"
        )


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["application_no", "sw_application_id", "status", "statutory_due_at", "next_steps"],
    "properties": {
        "application_no": {"type": "string"},
        "sw_application_id": {"type": "string"},
        "form_version": {"type": "integer"},
        "status": {"type": "string"},
        "status_label": {"type": "object"},
        "received_at": {"type": "string", "format": "date-time"},
        "area_class": {"type": "string"},
        "statutory_days": {"type": "integer"},
        "statutory_due_at": {"type": "string", "format": "date-time"},
        "statutory_due_date": {"type": "string", "format": "date"},
        "office_code": {"type": "string"},
        "next_steps": {"type": "array", "items": {"type": "object"}},
    },
}
STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["application_no", "status", "history"],
    "properties": {
        "application_no": {"type": "string"},
        "sw_application_id": {"type": "string"},
        "status": {"type": "string"},
        "status_sequence": {"type": "integer"},
        "statutory_due_at": {"type": ["string", "null"], "format": "date-time"},
        "clock_paused": {"type": "boolean"},
        "demand_note": {
            "type": ["object", "null"],
            "properties": {
                "number": {"type": "string"},
                "amount": {"type": "string"},
                "payment_url": {"type": ["string", "null"], "format": "uri"},
                "paid_at": {"type": ["string", "null"], "format": "date-time"},
                "pdf_url": {
                    "type": "string",
                    "format": "uri",
                    "description": "read with this client's token",
                },
            },
        },
        "sanction_letter_number": {"type": ["string", "null"]},
        "sanction_letter_url": {
            "type": ["string", "null"],
            "format": "uri",
            "description": "the sanction letter's PDF, read with this client's token",
        },
        "consumer_number": {"type": ["string", "null"]},
        "compensation": {"type": ["string", "null"]},
        "history": {"type": "array", "items": {"type": "object"}},
    },
}


def submission_schema() -> dict[str, Any]:
    """The request body: one ``form`` schema per registered form version."""
    return {
        "type": "object",
        "required": ["sw_application_id", "form_version", "form"],
        "additionalProperties": False,
        "properties": {
            "sw_application_id": text_schema(64, SW_ID),
            "form_version": {"type": "integer", "enum": sorted(FORMS)},
            "form": {"oneOf": [FORMS[v].definition.json_schema() for v in sorted(FORMS)]},
        },
    }


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    upload_cap = int(settings["hub.upload_max_body_bytes"])
    tags = ["connections"]
    path_param = [
        {"name": "sw_application_id", "in": "path", "required": True, "schema": text_schema(64, SW_ID)}
    ]
    latest = FORMS[max(FORMS)].definition
    documents_schema = latest.json_schema()["properties"]["documents"]
    routes: list[tuple[str, str, str, Callable[[Request], Any], dict[str, Any]]] = [
        (
            "connections.applications",
            f"{BASE}/applications",
            "POST",
            submit_application,
            {
                "operation_id": "submitConnectionApplication",
                "scopes": ["connections:apply"],
                "max_body": upload_cap,
                "openapi": {
                    "tags": tags,
                    "summary": "File the discom's part of a Common Application Form (idempotent by single-window id)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": submission_schema()}},
                    },
                    "responses": {
                        "201": _json(ACK_SCHEMA, "acknowledgement"),
                        "200": _json(ACK_SCHEMA, "the same acknowledgement again (identical resubmission)"),
                    },
                },
            },
        ),
        (
            "connections.application",
            f"{BASE}/applications/{{sw_application_id}}",
            "GET",
            get_application,
            {
                "operation_id": "getConnectionApplication",
                "scopes": ["connections:apply"],
                "openapi": {
                    "tags": tags,
                    "summary": "Status and history of an application",
                    "parameters": path_param,
                    "responses": {"200": _json(STATUS_SCHEMA, "status and history")},
                },
            },
        ),
        (
            "connections.query_response",
            f"{BASE}/applications/{{sw_application_id}}/query-response",
            "POST",
            respond_to_query,
            {
                "operation_id": "respondToQuery",
                "scopes": ["connections:apply"],
                "max_body": upload_cap,
                "openapi": {
                    "tags": tags,
                    "summary": "The applicant's answer to the discom's query (restarts the clock)",
                    "parameters": path_param,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["answer"],
                                    "properties": {
                                        "answer": {"type": "string", "maxLength": 2000},
                                        "documents": documents_schema,
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"200": _json(STATUS_SCHEMA, "status after the answer")},
                },
            },
        ),
        (
            "connections.withdrawal",
            f"{BASE}/applications/{{sw_application_id}}/withdrawal",
            "POST",
            withdraw_application,
            {
                "operation_id": "withdrawConnectionApplication",
                "scopes": ["connections:apply"],
                "openapi": {
                    "tags": tags,
                    "summary": "Withdrawal by the applicant",
                    "parameters": path_param,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["reason"],
                                    "properties": {"reason": {"type": "string", "maxLength": 500}},
                                }
                            }
                        },
                    },
                    "responses": {"200": _json(STATUS_SCHEMA, "status after withdrawal")},
                },
            },
        ),
        (
            "connections.payments",
            f"{BASE}/payments",
            "POST",
            record_payment,
            {
                "operation_id": "recordPayment",
                "public": True,
                "ratelimit": "public",
                "openapi": {
                    "tags": tags,
                    "summary": "The payment gateway's signed callback for a demand note "
                    "(X-Payment-Timestamp, X-Payment-Signature: HMAC-SHA256)",
                    "parameters": [
                        {
                            "name": "X-Payment-Timestamp",
                            "in": "header",
                            "required": True,
                            "schema": text_schema(20),
                        },
                        {
                            "name": "X-Payment-Signature",
                            "in": "header",
                            "required": True,
                            "schema": text_schema(128),
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": _json({"type": "object"}, "payment recorded (or a failed payment noted)")
                    },
                },
            },
        ),
    ]
    for name, pattern, method, view, options in routes:
        config.add_route(name, pattern)
        config.add_view(view, route_name=name, request_method=method, renderer="json", **options)
