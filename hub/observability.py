"""Structured JSON logs and the request id every response echoes.

The request id comes from ``X-Request-Id`` when a partner sends a sane one
(so their logs and ours join), otherwise a new one; it is returned on every
response and put on every log line of the request. Authorization headers,
tokens and bodies are never logged.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from json.encoder import encode_basestring
from typing import Any

from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import INGRESS

from hub.background import ProcessThread
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


def write_access_line(
    request: Request,
    response: Response,
    started: float,
    request_id: str,
    sink: Callable[[str], None] | None = None,
) -> None:
    """One JSON line per request, to ``sink`` (an :class:`AccessLog`), or straight to stderr.

    The same shape as the logging records, built by hand: ``logging``'s record
    and formatter machinery cost ~60 µs a request and a generic ``json.dumps``
    ~15 µs (bench/profile_platform.py). The request id is already restricted
    to ``[A-Za-z0-9._:-]``; method and path come from the caller and are
    JSON-escaped, and so is the client's address.
    """
    environ = request.environ
    path = environ.get("PATH_INFO", "")
    if not path.isascii():
        # The server's latin-1 text of the raw bytes, decoded; bytes that are not UTF-8 are replaced.
        path = path.encode("latin-1", "replace").decode("utf-8", "replace")
    line = (
        f'{{"ts": {time.time():.3f}, "level": "info", "logger": "hub.access", "msg": "request", '
        f'"request_id": "{request_id}", "method": {_json_string(environ.get("REQUEST_METHOD", "GET"))}, '
        f'"path": {_json_string(path)}, "client": {_client_json(request)}, "status": {response.status_int}, '
        f'"ms": {(time.perf_counter() - started) * 1000:.2f}}}\n'
    )
    (sink or _to_stderr)(line)


def _client_json(request: Request) -> str:
    # hub.request.HubRequest's address: X-Forwarded-For only from the hub's own proxies.
    address = request.client_addr
    return "null" if address is None else _json_string(address)


def _to_stderr(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # a broken stderr must never fail a request
        sys.stderr.write(text)


class AccessLog:
    """Access lines on their way to stderr, written together at most ``flush_seconds`` after the first.

    A line written as each request ends is a system call per request, and with it a
    GIL hand-off between the server's threads (~5% of a certificate verification
    under load). With ``flush_seconds`` > 0, a thread of each process writes what
    gathered every ``flush_seconds`` (sooner past 64 KiB) in one call; a normal exit
    writes the rest. A killed process loses at most that window of access lines:
    never an answer, a log record of ``logging`` or an audit entry. 0 writes each line
    at once (development, tests).
    """

    MAX_HELD_CHARS = 64 * 1024

    def __init__(self, flush_seconds: float, write: Callable[[str], None] = _to_stderr) -> None:
        self.flush_seconds = flush_seconds
        self._write = write
        self._held: list[str] = []
        self._held_chars = 0
        self._lock = threading.Lock()
        self._writer = ProcessThread(self._flush_forever, "access-log", on_start=self._begin_in_process)

    def __call__(self, line: str) -> None:
        if self.flush_seconds <= 0:
            self._write(line)
            return
        self._writer.start()
        with self._lock:
            self._held.append(line)
            self._held_chars += len(line)
            full = self._held_chars >= self.MAX_HELD_CHARS
        if full:
            self.flush()

    def flush(self) -> None:
        # One lock for taking and writing: lines reach stderr in the order they were held.
        with self._lock:
            if not self._held:
                return
            text = "".join(self._held)
            self._held.clear()
            self._held_chars = 0
            self._write(text)

    def _begin_in_process(self) -> None:
        # Lines held by the parent before a fork are the parent's to write.
        with self._lock:
            self._held.clear()
            self._held_chars = 0
        atexit.register(self.flush)

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.flush_seconds)
            self.flush()


# What json.JSONEncoder(ensure_ascii=False).encode does with a str, without its Python frame.
_json_string = encode_basestring


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
    log_access = bool(registry.settings.get("hub.access_log", False))
    access_log = AccessLog(float(registry.settings.get("hub.access_log_flush_seconds") or 0))

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
            if log_access:
                write_access_line(request, response, started, request_id, access_log)
            return response
        finally:
            current_request_id.reset(token)

    return tween


# Every response: a browser must not guess a type the hub did not declare (a JSON
# answer or an uploaded document read as HTML).
_NOSNIFF = ("X-Content-Type-Options", "nosniff")
PAGE_HEADERS_KEY = "page_headers"


def add_page_headers(config: Configurator, path: str, headers: dict[str, str]) -> None:
    """Headers every response on the fixed ``path`` gets (a page's Content-Security-Policy and
    framing rules), set by :func:`response_headers_tween_factory`, declared beside the page."""
    config.registry.setdefault(PAGE_HEADERS_KEY, {})[path] = tuple(headers.items())


def response_headers_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    """The outermost tween: headers every response carries, whichever tween or view made it."""
    pages: dict[str, tuple[tuple[str, str], ...]] = registry.setdefault(PAGE_HEADERS_KEY, {})

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
