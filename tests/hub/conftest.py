"""Fixtures shared by the hub's live-mode test packages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import make_server

import pytest

from tests.hub.live_server import QuietHandler, ThreadingServer


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, ThreadingServer]]:
    """Bound before the app exists (its URL goes into the app's settings); ``server.set_app`` later."""

    def not_ready(environ: Any, start_response: Any) -> list[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"starting"]

    server = make_server("127.0.0.1", 0, not_ready, server_class=ThreadingServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="hub-live", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
