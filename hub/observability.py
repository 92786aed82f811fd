"""Structured JSON logs and the request id every response echoes.

The request id comes from ``X-Request-Id`` when a partner sends a sane one
(so their logs and ours join), otherwise a new one; it is returned on every
response and put on every log line of the request. Authorization headers,
tokens and bodies are never logged.
"""

from __future__ import annotations

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
from pyramid.tweens import INGRESS

from hub.errors import problem_response
from hub.lookup import registered

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

access_log = logging.getLogger("hub.access")
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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (a server or a test may
    replace it after logging was configured)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(json_logs: bool, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_hub", False) for h in root.handlers):
        return
    handler = _StderrHandler()
    handler._hub = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    # Access records are JSON even where the other records are text: machines read them.
    access = _StderrHandler()
    access.setFormatter(JsonFormatter())
    access_log.addHandler(access)
    access_log.propagate = False
    access_log.setLevel(logging.INFO)


def log_access(request: Request, response: Response, started: float) -> None:
    """One ``hub.access`` record per request: method, path, client, status and milliseconds.

    Granian's own access log cannot say which request id or which client (behind the
    hub's proxies, hub.request.client_address) a line is about; this record can.
    """
    environ = request.environ
    path = environ.get("PATH_INFO", "")
    if not path.isascii():
        # The server's latin-1 text of the raw bytes, decoded (checked readable by the tween).
        path = path.encode("latin-1", "replace").decode("utf-8", "replace")
    access_log.info(
        "request",
        extra={
            "method": environ.get("REQUEST_METHOD", "GET"),
            "path": path,
            "client": request.client_addr,
            "status": response.status_int,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


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


def _readable_path(path: str) -> bool:
    """The WSGI path (latin-1 text of the raw bytes) is UTF-8 and holds no NUL (no database takes one)."""
    if not path.isascii():
        try:
            path = path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return False
    return "\x00" not in path


def request_id_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    upload_cap = int(registry.settings["hub.upload_max_body_bytes"])
    access_logged = bool(registry.settings["hub.access_log"])

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
            if not _readable_path(environ.get("PATH_INFO", "")):
                # Every later step reads the path as text: refuse it before any of them.
                response = problem_response(request, "bad_request", "the path is not valid UTF-8 text")
            elif length is not None and length > upload_cap:
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
            if access_logged:
                log_access(request, response, started)
            return response
        finally:
            current_request_id.reset(token)

    return tween


# Every response: a browser must not guess a type the hub did not declare (a JSON
# answer or an uploaded document read as HTML).
_NOSNIFF = ("X-Content-Type-Options", "nosniff")


class PageHeaders(dict[str, tuple[tuple[str, str], ...]]):
    """The headers of fixed pages, by path (``config.add_page_headers``)."""


def add_page_headers(config: Configurator, path: str, headers: dict[str, str]) -> None:
    """Headers every response on the fixed ``path`` gets (a page's Content-Security-Policy and
    framing rules), set by :func:`response_headers_tween_factory`, declared beside the page."""
    registered(config.registry, PageHeaders)[path] = tuple(headers.items())


def response_headers_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    """The outermost tween: headers every response carries, whichever tween or view made it."""
    pages = registered(registry, PageHeaders)

    def tween(request: Request) -> Response:
        response = handler(request)
        headerlist = response.headerlist
        headerlist.append(_NOSNIFF)
        page = pages.get(request.environ.get("PATH_INFO", ""))
        if page is not None:
            headerlist.extend(page)
        return response

    return tween


def includeme(config: Configurator) -> None:
    config.add_tween("hub.observability.request_id_tween_factory", over="pyramid_tm.tm_tween_factory")
    # Above the SOAP paths' ingress tween too, which answers oversized envelopes itself.
    config.add_tween(
        "hub.observability.response_headers_tween_factory",
        under=INGRESS,
        over=("hub.soap.tween.soap_ingress_tween_factory", "hub.observability.request_id_tween_factory"),
    )
    config.add_directive("add_page_headers", add_page_headers)
