"""The baseline of every HTTP figure: a bare Pyramid view returning constant JSON.

Same framework, same JSON renderer (``ensure_ascii=False``, as the hub
registers it) and the same granian command as the hub, nothing else: no
tweens, no transaction manager, no authentication, no logging. Whatever the
hub's endpoints cost beyond this is the hub's own doing.

    granian --interface wsgi bench.bare_app:application
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.renderers import JSON
from pyramid.request import Request
from pyramid.router import Router

PAYLOAD = {"status": "ok", "client_id": "c_0123456789abcdef"}


def bare(request: Request) -> dict[str, Any]:
    return PAYLOAD


def make_app() -> Router:
    config = Configurator()
    config.add_renderer("json", JSON(ensure_ascii=False))
    config.add_route("bare", "/bare")
    config.add_view(bare, route_name="bare", request_method="GET", renderer="json")
    return config.make_wsgi_app()


application = make_app()
