"""An authenticated no-op: monitoring probes and the platform benchmark call it."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request


def ping(request: Request) -> dict[str, Any]:
    return {"status": "ok", "client_id": request.partner.client_id}


def includeme(config: Configurator) -> None:
    config.add_route("api.ping", "/api/v1/ping")
    config.add_view(
        ping,
        route_name="api.ping",
        request_method="GET",
        renderer="json",
        scopes=["hub:ping"],
        database=False,
        operation_id="ping",
        openapi={"summary": "Authenticated no-op: proves a token works", "tags": ["operations"]},
    )
