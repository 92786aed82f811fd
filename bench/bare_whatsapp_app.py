"""The baseline of the WhatsApp webhook figure: a bare Pyramid view with the same signature check.

``POST /bare/whatsapp``: the raw body's ``X-Hub-Signature-256`` checked with the same function the
hub uses (connectors.whatsapp.wire.signature_ok: HMAC-SHA256, constant-time), the JSON parsed,
and the body kept with one INSERT and COMMIT into ``bench_bare_insert`` (created by the bench)
on the hub's database, through the same engine factory. No tweens, no transaction manager, no
deduplication, no rate limit, no queue, no logging: the floor under what the hub's webhook
guarantees (each message stored once and handed to the worker, a flood limited per number).

    HUB_BENCH_WHATSAPP_SECRET=... HUB_BENCH_DATABASE_URL=... \\
        granian --interface wsgi bench.bare_whatsapp_app:application
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
from sqlalchemy import text

from connectors.whatsapp.wire import SIGNATURE_HEADER, signature_ok
from hub.db import make_engine

_SECRET = os.environ["HUB_BENCH_WHATSAPP_SECRET"]
ENGINE = make_engine(os.environ["HUB_BENCH_DATABASE_URL"], pool_size=16)
STATEMENT = text("INSERT INTO bench_bare_insert (body) VALUES (:body)")


def webhook(request: Request) -> dict[str, Any]:
    body = request.body
    if not signature_ok(_SECRET, body, request.headers.get(SIGNATURE_HEADER)):
        raise HTTPUnauthorized()
    document = json.loads(body)
    with ENGINE.begin() as conn:
        conn.execute(STATEMENT, {"body": body.decode("utf-8")})
    return {"entries": len(document.get("entry", []))}


def ok(request: Request) -> dict[str, Any]:
    return {"status": "ok"}


def make_app() -> Router:
    config = Configurator()
    config.add_renderer("json", JSON(ensure_ascii=False))
    config.add_route("bare.whatsapp", "/bare/whatsapp")
    config.add_view(webhook, route_name="bare.whatsapp", request_method="POST", renderer="json")
    config.add_view(ok, route_name="bare.whatsapp", request_method="GET", renderer="json")
    return config.make_wsgi_app()


application = make_app()
