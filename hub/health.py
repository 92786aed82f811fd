"""Liveness and readiness, one heartbeat per dependency (after Kinto's heartbeat)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import text

from hub.db import Database
from hub.lookup import process_service, registered

Heartbeat = Callable[[], None]


class Heartbeats(dict[str, Heartbeat]):
    """/readyz's checks by name (``config.add_heartbeat``)."""


class StatusReports(dict[str, Callable[[], dict[str, Any]]]):
    """What /readyz shows besides its checks, by name (``config.add_status_report``)."""


_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="heartbeat")


def add_heartbeat(config: Configurator, name: str, check: Heartbeat) -> None:
    """Register a check that returns when ``name`` is healthy and raises when not."""
    registered(config.registry, Heartbeats)[name] = check


def add_status_report(config: Configurator, name: str, report: Callable[[], dict[str, Any]]) -> None:
    """Register information /readyz shows without judging readiness by it (e.g. the holder-SMS backlog)."""
    registered(config.registry, StatusReports)[name] = report


def database_heartbeat(registry: Any) -> Heartbeat:
    def check() -> None:
        with process_service(registry, Database).engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return check


def run_heartbeats(heartbeats: dict[str, Heartbeat], timeout: float) -> dict[str, dict[str, Any]]:
    started = time.monotonic()
    futures = {name: _pool.submit(check) for name, check in heartbeats.items()}
    results: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        remaining = max(0.0, timeout - (time.monotonic() - started))
        try:
            future.result(timeout=remaining)
            results[name] = {"status": "ok"}
        except FutureTimeout:
            results[name] = {"status": "timeout"}
        except Exception as exc:  # a heartbeat may fail in any way; report, never raise
            results[name] = {"status": "error", "error": type(exc).__name__}
    return results


def healthz(request: Request) -> dict[str, str]:
    return {"status": "ok"}


def readyz(request: Request) -> Response:
    results = run_heartbeats(
        registered(request.registry, Heartbeats), request.registry.settings["hub.heartbeat_timeout"]
    )
    ready = all(r["status"] == "ok" for r in results.values())
    response: Response = request.response
    response.status_int = 200 if ready else 503
    response.content_type = "application/json"
    body: dict[str, Any] = {"status": "ok" if ready else "unavailable", "checks": results}
    for name, report in registered(request.registry, StatusReports).items():
        try:
            body.setdefault("info", {})[name] = report()
        except Exception as exc:  # information only: never the reason /readyz fails
            body.setdefault("info", {})[name] = {"error": type(exc).__name__}
    response.json_body = body
    response.headers["Cache-Control"] = "no-store"
    return response


def includeme(config: Configurator) -> None:
    config.add_directive("add_heartbeat", add_heartbeat)
    config.add_directive("add_status_report", add_status_report)
    config.add_heartbeat("database", database_heartbeat(config.registry))
    config.add_route("healthz", "/healthz")
    config.add_route("readyz", "/readyz")
    config.add_view(
        healthz,
        route_name="healthz",
        database=False,
        request_method="GET",
        renderer="json",
        public=True,
        operation_id="getLiveness",
        openapi={"summary": "Liveness: the process answers", "tags": ["operations"]},
    )
    config.add_view(
        readyz,
        route_name="readyz",
        request_method="GET",
        public=True,
        operation_id="getReadiness",
        openapi={
            "summary": "Readiness: the database and every connector answer within the heartbeat timeout",
            "tags": ["operations"],
            "responses": {"200": {"description": "ready"}, "503": {"description": "a dependency is down"}},
        },
    )
