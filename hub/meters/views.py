"""REST: a reconnection's state by consumer number, and the head-end's signed notifications."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from connectors.headend import SIGNATURE_HEADER
from forms.identifiers import CONSUMER_NUMBER
from hub.errors import Problem
from hub.meters.service import NOTIFICATIONS_PATH, MeterService
from hub.openapi import text_schema

COMMAND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "transaction_id": {"type": "string"},
        "meter_no": {"type": "string"},
        "action": {"enum": ["connect", "disconnect"]},
        "payment_id": {"type": ["integer", "null"]},
        "status": {
            "enum": ["requested", "accepted", "executed", "failed", "expired", "field_visit", "withdrawn"]
        },
        "attempts": {"type": "integer"},
        "failure_code": {"type": ["string", "null"]},
        "requested_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "executed_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def _service(request: Request) -> MeterService:
    service: MeterService = request.find_service(MeterService)
    return service


def reconnection_status(request: Request) -> dict[str, Any]:
    number = str(request.matchdict["consumer_number"])
    if not CONSUMER_NUMBER.fullmatch(number):
        raise Problem("not_found", "no such consumer number")
    return _service(request).status_of(request.dbsession, number)


def headend_notification(request: Request) -> dict[str, Any]:
    # The head-end's own server-to-server call: the HMAC over the raw body is its authentication.
    return _service(request).notify(request.dbsession, request.body, request.headers.get(SIGNATURE_HEADER))


def includeme(config: Configurator) -> None:
    tags = ["meters"]
    config.add_route("meters.reconnections", "/api/v1/meters/reconnections/{consumer_number}")
    config.add_route("meters.notifications", NOTIFICATIONS_PATH)
    config.add_view(
        reconnection_status,
        route_name="meters.reconnections",
        request_method="GET",
        renderer="json",
        scopes=["meters:read"],
        operation_id="getReconnectionStatus",
        openapi={
            "summary": "The smart-meter reconnection commands of a connection, newest first (at most 20)",
            "tags": tags,
            "parameters": [
                {
                    "name": "consumer_number",
                    "in": "path",
                    "required": True,
                    "schema": text_schema(12, CONSUMER_NUMBER),
                }
            ],
            "responses": {
                "200": {
                    "description": "the commands",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "consumer_number": {"type": "string"},
                                    "commands": {"type": "array", "items": COMMAND_SCHEMA},
                                },
                            }
                        }
                    },
                }
            },
        },
    )
    config.add_view(
        headend_notification,
        route_name="meters.notifications",
        request_method="POST",
        renderer="json",
        public=True,
        ratelimit="public",
        operation_id="receiveHeadEndNotification",
        openapi={
            "summary": "The head-end's state-change notification for a meter command "
            f"({SIGNATURE_HEADER}: sha256=HMAC-SHA256 of the raw body)",
            "tags": tags,
            "parameters": [
                {"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": text_schema(80)}
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {
                    "description": "recorded; the command's state now",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        },
    )
