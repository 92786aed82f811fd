"""A real HTTP server on 127.0.0.1 (ephemeral port, own thread) for the connector tests.

Each fake partner (SMS gateway, payment gateway, head-end, single window,
DBT scheme) is a :class:`FakeServer` with a handler that speaks its wire
protocol. Every fake can also misbehave on demand, so the clients' error
mapping is tested against real sockets:

* ``server.mode = "ok"``       the handler answers
* ``server.mode = "error"``    HTTP 500 with a JSON body
* ``server.mode = "garbage"``  HTTP 200 with an HTML body
* ``server.mode = "slow"``     waits ``server.slow_seconds`` before answering
* ``server.down()`` / ``server.up()``  close the listening socket (connection
  refused) and open it again on the same port

Usage::

    with FakeServer(handler) as server:
        client = ...(url=server.url)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class FakeResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any) -> FakeResponse:
        return cls(
            status,
            json.dumps(value, ensure_ascii=False).encode("utf-8"),
            {"Content-Type": "application/json; charset=utf-8"},
        )


Handler = Callable[[FakeRequest], FakeResponse]


class FakeServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.mode = "ok"
        self.slow_seconds = 5.0
        # "trickle": the whole answer one byte per trickle_seconds; "trickle_body": the headers
        # at once, then the body so. Either never trips a per-read timeout above trickle_seconds.
        self.trickle_seconds = 0.1
        self.requests: list[FakeRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Self:
        self.up()
        return self

    def up(self) -> None:
        if self._httpd is not None:
            return
        self._stopping.clear()
        httpd = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler_class())
        httpd.daemon_threads = True
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Close the listening socket: clients now get "connection refused"."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # releases slow handlers
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    stop = down

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- request handling ----------------------------------------------------------
    def _answer(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
        mode = self.mode
        if mode == "slow" and self._stopping.wait(self.slow_seconds):
            return FakeResponse(503)
        if mode == "error":
            return FakeResponse.json(500, {"error": "internal"})
        if mode == "garbage":
            return FakeResponse(
                200, b"<html><body>Service Temporarily Unavailable</body>", {"Content-Type": "text/html"}
            )
        return self.handler(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = FakeRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                try:
                    response = server._answer(request)
                except Exception as exc:  # noqa: BLE001 - a broken fake must fail the test loudly
                    response = FakeResponse.json(599, {"error": "fake_crashed", "detail": repr(exc)})
                if server.mode in ("trickle", "trickle_body"):
                    self._trickle(response, server.mode == "trickle")
                    return
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def _trickle(self, response: FakeResponse, headers_too: bool) -> None:
                head = (
                    f"HTTP/1.1 {response.status} OK\r\nContent-Length: {len(response.body)}\r\n"
                    + "".join(f"{name}: {value}\r\n" for name, value in response.headers.items())
                    + "\r\n"
                ).encode("latin-1")
                slow = head + response.body if headers_too else response.body
                try:
                    if not headers_too:
                        self.wfile.write(head)
                    for offset in range(len(slow)):
                        self.wfile.write(slow[offset : offset + 1])
                        if server._stopping.wait(server.trickle_seconds):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Handler


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (for "connection refused")."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
