"""The WhatsApp webhook (the platform's calls) and REST for consent and the bill runs."""

from __future__ import annotations

import re
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from connectors.whatsapp.wire import SIGNATURE_HEADER
from forms.identifiers import CONSUMER_NUMBER
from hub.bills.service import BillService
from hub.errors import Problem
from hub.lookup import process_service
from hub.openapi import text_schema
from hub.view_helpers import client_label, json_reader
from hub.whatsapp.service import (
    CONSENT_HOWS,
    WhatsAppService,
    check_cycle,
    consent_json,
    run_report,
    set_consent,
    subscribe_bills,
    subscriptions_of,
    wa_id_of,
)

WEBHOOK_PATH = "/whatsapp/webhook"
BASE = "/api/v1/whatsapp"
MOBILE_TEXT = re.compile(r"[0-9+\- ]{10,16}")


def _service(request: Request) -> WhatsAppService:
    service: WhatsAppService = process_service(request.registry, WhatsAppService)
    return service


def webhook_verify(request: Request) -> Response:
    challenge = _service(request).verify(
        request.GET.get("hub.mode"), request.GET.get("hub.verify_token"), request.GET.get("hub.challenge")
    )
    return Response(body=challenge.encode("ascii"), content_type="text/plain", charset="utf-8")


def webhook_receive(request: Request) -> dict[str, Any]:
    # The platform's own call: the HMAC over the raw body is its authentication, checked
    # before a byte of it is parsed.
    return _service(request).receive(request.dbsession, request.body, request.headers.get(SIGNATURE_HEADER))


def record_consent(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    mobile = reader.text("mobile", max_length=16, pattern=MOBILE_TEXT)
    consent = reader.choice("consent", ("opted_in", "opted_out"))
    how = reader.choice("how", CONSENT_HOWS)
    source = reader.text("source", max_length=120)
    numbers = reader.text_list(
        "bills_for", required=False, max_items=25, max_length=12, pattern=CONSUMER_NUMBER
    )
    reader.done()
    assert mobile is not None and consent is not None and how is not None and source is not None
    wa_id = wa_id_of(mobile)
    session = request.dbsession
    actor = client_label(request)
    if consent == "opted_in" and numbers:
        billing = request.find_service(BillService).connector("billing")
        subscribe_bills(session, wa_id, numbers, billing)
    row = set_consent(session, wa_id, consent, how, source, actor)
    return consent_json(row, wa_id, subscriptions_of(session, wa_id))


def show_consent(request: Request) -> dict[str, Any]:
    wa_id = wa_id_of(str(request.matchdict["mobile"]))
    from hub.models.whatsapp import WhatsAppNumber

    session = request.dbsession
    return consent_json(session.get(WhatsAppNumber, wa_id), wa_id, subscriptions_of(session, wa_id))


def bill_run(request: Request) -> dict[str, Any]:
    cycle = str(request.matchdict["cycle"])
    try:
        check_cycle(cycle)
    except ValueError:
        raise Problem("not_found", "a billing cycle is YYYY-MM") from None
    report = run_report(request.dbsession, cycle)
    if report is None:
        raise Problem("not_found", "no bill run for this cycle")
    return report


CONSENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "wa_id": {"type": "string"},
        "consent": {"enum": ["none", "opted_in", "opted_out"]},
        "consent_at": {"type": ["string", "null"], "format": "date-time"},
        "how": {"type": ["string", "null"]},
        "source": {"type": ["string", "null"]},
        "bills_for": {"type": "array", "items": {"type": "string"}},
    },
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


def includeme(config: Configurator) -> None:
    tags = ["whatsapp"]
    config.add_route("whatsapp.webhook", WEBHOOK_PATH)
    config.add_route("whatsapp.consents", f"{BASE}/consents")
    config.add_route("whatsapp.consent", f"{BASE}/consents/{{mobile}}")
    config.add_route("whatsapp.bill_run", f"{BASE}/bill-runs/{{cycle}}")
    config.add_view(
        webhook_verify,
        route_name="whatsapp.webhook",
        request_method="GET",
        public=True,
        ratelimit="public",
        database=False,
        operation_id="verifyWhatsAppWebhook",
        openapi={
            "summary": "The Cloud API's subscription handshake: hub.challenge echoed when hub.verify_token matches",
            "tags": tags,
            "parameters": [
                {"name": "hub.mode", "in": "query", "required": True, "schema": {"enum": ["subscribe"]}},
                {"name": "hub.verify_token", "in": "query", "required": True, "schema": text_schema(200)},
                {"name": "hub.challenge", "in": "query", "required": True, "schema": text_schema(200)},
            ],
            "responses": {"200": {"description": "the challenge", "content": {"text/plain": {}}}},
        },
    )
    config.add_view(
        webhook_receive,
        route_name="whatsapp.webhook",
        request_method="POST",
        renderer="json",
        # Not limited per address: the platform posts from a few addresses for every consumer;
        # a flood from one consumer's number is limited per number inside.
        public=True,
        operation_id="receiveWhatsAppWebhook",
        openapi={
            "summary": f"Consumers' messages and message statuses ({SIGNATURE_HEADER}: sha256=HMAC-SHA256 "
            "of the raw body with the app secret)",
            "tags": tags,
            "parameters": [
                {"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": text_schema(80)}
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": _json(
                "taken: how many messages were new, repeated, limited; statuses recorded or stale",
                {"type": "object", "additionalProperties": {"type": "integer"}},
            ),
        },
    )
    config.add_view(
        record_consent,
        route_name="whatsapp.consents",
        request_method="POST",
        renderer="json",
        scopes=["whatsapp:consent"],
        operation_id="recordWhatsAppConsent",
        openapi={
            "summary": "Record a consumer's opt-in or opt-out of WhatsApp messages, with its evidence; "
            "with bills_for, the connections (registered to this mobile) whose bills go there",
            "tags": tags,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["mobile", "consent", "how", "source"],
                            "properties": {
                                "mobile": text_schema(16),
                                "consent": {"enum": ["opted_in", "opted_out"]},
                                "how": {"enum": list(CONSENT_HOWS)},
                                "source": text_schema(120),
                                "bills_for": {
                                    "type": "array",
                                    "maxItems": 25,
                                    "items": text_schema(12, CONSUMER_NUMBER),
                                },
                            },
                        }
                    }
                },
            },
            "responses": _json("the number's consent now", CONSENT_SCHEMA),
        },
    )
    config.add_view(
        show_consent,
        route_name="whatsapp.consent",
        request_method="GET",
        renderer="json",
        scopes=["whatsapp:read"],
        operation_id="getWhatsAppConsent",
        openapi={
            "summary": "A mobile's WhatsApp consent with its evidence, and the connections whose bills go there",
            "tags": tags,
            "parameters": [{"name": "mobile", "in": "path", "required": True, "schema": text_schema(16)}],
            "responses": _json("the consent", CONSENT_SCHEMA),
        },
    )
    config.add_view(
        bill_run,
        route_name="whatsapp.bill_run",
        request_method="GET",
        renderer="json",
        scopes=["whatsapp:read"],
        operation_id="getWhatsAppBillRun",
        openapi={
            "summary": "A billing cycle's WhatsApp bill run: progress and sent / delivered / read / failed / "
            "fell back to SMS",
            "tags": tags,
            "parameters": [{"name": "cycle", "in": "path", "required": True, "schema": text_schema(7)}],
            "responses": _json("the run", {"type": "object"}),
        },
    )
