"""The baseline of write figures: a bare Pyramid view doing one INSERT and COMMIT.

The request body goes into ``bench_bare_insert`` (created by the bench) on the
database named by ``HUB_BENCH_DATABASE_URL``, through the same engine factory
the hub uses; no tweens, no transaction manager, no validation, no
authentication, no logging.

    HUB_BENCH_DATABASE_URL=... granian --interface wsgi bench.bare_insert_app:application
"""

from __future__ import annotations

import os
from typing import Any

from pyramid.config import Configurator
from pyramid.renderers import JSON
from pyramid.request import Request
from pyramid.router import Router
from sqlalchemy import text

from hub.db import make_engine

TABLE = "bench_bare_insert"
ENGINE = make_engine(os.environ["HUB_BENCH_DATABASE_URL"], pool_size=16)
STATEMENT = text(f"INSERT INTO {TABLE} (body) VALUES (:body)")


def bare_insert(request: Request) -> dict[str, Any]:
    with ENGINE.begin() as conn:
        conn.execute(STATEMENT, {"body": request.body.decode("utf-8")})
    return {"status": "accepted"}


def ok(request: Request) -> dict[str, Any]:
    return {"status": "ok"}


def make_app() -> Router:
    config = Configurator()
    config.add_renderer("json", JSON(ensure_ascii=False))
    config.add_route("bare_insert", "/bare-insert")
    config.add_view(bare_insert, route_name="bare_insert", request_method="POST", renderer="json")
    config.add_view(ok, route_name="bare_insert", request_method="GET", renderer="json")
    return config.make_wsgi_app()


application = make_app()
