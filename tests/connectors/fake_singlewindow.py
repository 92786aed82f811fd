"""A fake state single-window portal that receives the hub's status callbacks.

A real HTTP server on 127.0.0.1 (ephemeral port, own thread). It verifies
each delivery's signature (detached JWS against a JWKS, or HMAC with a
shared secret), deduplicates by ``delivery_id`` and records what it got, so
tests can assert "every update arrived exactly once, in order per
application" from the receiver's point of view. It can misbehave on demand.

Usage::

    from tests.connectors.fake_singlewindow import FakeSingleWindow

    with FakeSingleWindow(jwks=KeySet([public_key])) as portal:   # or hmac_secret="..."
        settings["hub.singlewindow.url"] = portal.url              # POST target
        ...
        assert portal.wait_for(3)                                  # 3 distinct deliveries
        portal.updates_for("SW-1")                                 # [StatusUpdate, ...] in arrival order
        portal.attempts, portal.duplicates, portal.rejected        # counters

Misbehaviour (switch at any time, from any thread)::

    portal.down() / portal.up()       connection refused, then back on the same port
    portal.mode = "error"             HTTP 500, nothing recorded
    portal.mode = "garbage"           HTTP 200 with an HTML page, nothing recorded
    portal.mode = "slow"              waits portal.slow_seconds (default 5) before answering
    portal.mode = "lost_ack"          records the delivery, then answers 500 (the ack is "lost":
                                      the hub must retry and the portal must dedupe)
    portal.mode = "ok"                back to normal
    portal.fail_next(n)               the next n POSTs get a 500, then normal again

Answers in normal mode: 200 ``{"delivery_id", "status": "accepted"|"duplicate"}``;
401 ``{"error": "bad_signature"}``; 400 ``{"error": "malformed"}``. A GET on
any path answers 200 ``{"status": "ok"}`` (heartbeat).
"""

from __future__ import annotations

import json
import threading
import time
from types import TracebackType
from typing import Self

from joserfc.jwk import KeySet

from connectors.singlewindow import StatusUpdate
from connectors.singlewindow.signing import SignatureInvalid, verify_hmac, verify_jws
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer

__all__ = ["FakeSingleWindow"]


class FakeSingleWindow:
    def __init__(
        self, *, jwks: KeySet | None = None, hmac_secret: str | None = None, tolerance: float = 300.0
    ) -> None:
        if (jwks is None) == (hmac_secret is None):
            raise ValueError("give exactly one of jwks (JWS) or hmac_secret (HMAC)")
        self.jwks = jwks
        self.hmac_secret = hmac_secret
        self.tolerance = tolerance
        self.deliveries: list[StatusUpdate] = []  # distinct deliveries, in arrival order
        self.attempts = 0  # every POST that reached the handler
        self.duplicates = 0  # POSTs of a delivery_id already recorded
        self.rejected = 0  # bad signature or malformed
        self.kids: set[str] = set()  # JWS key ids seen
        self._seen: set[str] = set()
        self._fail_next = 0
        self._cond = threading.Condition()
        self._server = FakeServer(self._handle)

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.down()

    def up(self) -> None:
        self._server.up()

    def down(self) -> None:
        self._server.down()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url + "/discom/callback"

    @property
    def mode(self) -> str:
        return self._server.mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in ("ok", "error", "garbage", "slow", "lost_ack"):
            raise ValueError(f"unknown mode {value!r}")
        self._server.mode = value

    @property
    def slow_seconds(self) -> float:
        return self._server.slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        self._server.slow_seconds = value

    def fail_next(self, count: int) -> None:
        with self._cond:
            self._fail_next = count

    # -- reading what arrived ------------------------------------------------------
    def updates_for(self, application_id: str) -> list[StatusUpdate]:
        with self._cond:
            return [u for u in self.deliveries if u.application_id == application_id]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` distinct deliveries arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # -- the portal ------------------------------------------------------------------
    def _handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET":
            return FakeResponse.json(200, {"status": "ok"})
        with self._cond:
            self.attempts += 1
            if self._fail_next > 0:
                self._fail_next -= 1
                return FakeResponse.json(500, {"error": "internal"})
        try:
            if self.jwks is not None:
                kid = verify_jws(request.body, request.headers, self.jwks)
            else:
                assert self.hmac_secret is not None
                verify_hmac(request.body, request.headers, self.hmac_secret, tolerance=self.tolerance)
                kid = ""
        except SignatureInvalid:
            with self._cond:
                self.rejected += 1
            return FakeResponse.json(401, {"error": "bad_signature"})
        try:
            data = json.loads(request.body.decode("utf-8"))
            delivery_id = data["delivery_id"]
            if request.headers.get("x-delivery-id") != delivery_id:
                raise ValueError("header and body disagree on the delivery id")
            update = StatusUpdate.from_json(delivery_id, data["update"])
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            with self._cond:
                self.rejected += 1
            return FakeResponse.json(400, {"error": "malformed"})
        with self._cond:
            if kid:
                self.kids.add(kid)
            if delivery_id in self._seen:
                self.duplicates += 1
                status = "duplicate"
            else:
                self._seen.add(delivery_id)
                self.deliveries.append(update)
                self._cond.notify_all()
                status = "accepted"
        if self._server.mode == "lost_ack":
            return FakeResponse.json(500, {"error": "internal"})
        return FakeResponse.json(200, {"delivery_id": delivery_id, "status": status})
