"""The baseline of the WhatsApp webhook figure: a bare Pyramid view with the same signature check.

``POST /bare/whatsapp``: the raw body's ``X-Hub-Signature-256`` checked with the same function the
hub uses (connectors.whatsapp.wire.signature_ok, HMAC-SHA256, constant-time), the JSON parsed, 200.
No tweens, no transaction, no database, no deduplication, nothing stored or queued: the floor
under what the hub's webhook guarantees (each message stored once and handed to the worker).

    HUB_BENCH_WHATSAPP_SECRET=... granian --interface wsgi bench.bare_whatsapp_app:application
"""

from __future__ import annotations

import json
import os
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPUnauthorized
from pyramid.renderers import JSON
from pyramid.request import Request
from pyramid.router import Router

from connectors.whatsapp.wire import SIGNATURE_HEADER, signature_ok

_SECRET = os.environ["HUB_BENCH_WHATSAPP_SECRET"]


def webhook(request: Request) -> dict[str, Any]:
    body = request.body
    if not signature_ok(_SECRET, body, request.headers.get(SIGNATURE_HEADER)):
        raise HTTPUnauthorized()
    document = json.loads(body)
    return {"entries": len(document.get("entry", []))}


def make_app() -> Router:
    config = Configurator()
    config.add_renderer("json", JSON(ensure_ascii=False))
    config.add_route("bare.whatsapp", "/bare/whatsapp")
    config.add_view(webhook, route_name="bare.whatsapp", request_method="POST", renderer="json")
    config.add_view(lambda request: {"ok": True}, route_name="bare.whatsapp", request_method="GET", renderer="json")
    return config.make_wsgi_app()


application = make_app()
