"""Structured JSON logs and the request id every response echoes.

The request id comes from ``X-Request-Id`` when a partner sends a sane one
(so their logs and ours join), otherwise a new one; it is returned on every
response and put on every log line of the request. Authorization headers,
tokens and bodies are never logged.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from hub.errors import problem_response

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": current_request_id.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(json_logs: bool, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_hub", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._hub = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)


def write_access_line(request: Request, response: Response, started: float, request_id: str) -> None:
    """One JSON line per request, written straight to stderr.

    The same shape as the logging records, built by hand: ``logging``'s record
    and formatter machinery cost ~60 µs a request and a generic ``json.dumps``
    ~15 µs (bench/profile_platform.py). The request id is already restricted
    to ``[A-Za-z0-9._:-]``; method and path come from the caller and are
    JSON-escaped.
    """
    line = (
        f'{{"ts": {time.time():.3f}, "level": "info", "logger": "hub.access", "msg": "request", '
        f'"request_id": "{request_id}", "method": {_json_string(request.method)}, '
        f'"path": {_json_string(request.path_info)}, "status": {response.status_int}, '
        f'"ms": {(time.perf_counter() - started) * 1000:.2f}}}\n'
    )
    with contextlib.suppress(OSError, ValueError):  # a broken stderr must never fail a request
        sys.stderr.write(line)


_json_string = json.JSONEncoder(ensure_ascii=False).encode


_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count(1)


def _new_request_id() -> str:
    """Unique per process and start (a random prefix and a counter): ids need to
    be unique, not secret, and this costs no system call."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def content_length(environ: dict[str, Any]) -> int | None:
    """CONTENT_LENGTH as a number, or None when absent or malformed (cheaper than webob's descriptor)."""
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def request_id_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    upload_cap = int(registry.settings["hub.upload_max_body_bytes"])
    log_access = bool(registry.settings.get("hub.access_log", False))

    def tween(request: Request) -> Response:
        # environ reads: webob's header and descriptor objects cost more than
        # the work on this path (bench/profile_platform.py).
        environ = request.environ
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_ID.match(incoming) else _new_request_id()
        request.request_id = request_id
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            # The outermost cap, before anything reads the body: per-view caps
            # (hub.api) are tighter still.
            length = content_length(environ)
            if length is not None and length > upload_cap:
                response = problem_response(request, "body_too_large", f"at most {upload_cap} bytes")
            elif length is None and environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
                body = request.body_file_raw.read(upload_cap + 1)
                if len(body) > upload_cap:
                    response = problem_response(request, "body_too_large", f"at most {upload_cap} bytes")
                else:
                    request.body = body
                    response = handler(request)
            else:
                response = handler(request)
            response.headerlist.append(("X-Request-Id", request_id))
            if log_access:
                write_access_line(request, response, started, request_id)
            return response
        finally:
            current_request_id.reset(token)

    return tween


def includeme(config: Configurator) -> None:
    config.add_tween("hub.observability.request_id_tween_factory", over="pyramid_tm.tm_tween_factory")
