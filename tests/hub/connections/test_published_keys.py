"""The key that signs our single-window callbacks is published with our other keys."""

from __future__ import annotations

from typing import Any

from webtest import TestApp

from tests.hub.connections.conftest import JWS_KID


def test_callback_signing_key_is_in_the_jwks(live_app: TestApp, hub: Any) -> None:
    keys = live_app.get("/.well-known/jwks.json").json["keys"]
    published = [k for k in keys if k.get("kid") == JWS_KID]
    assert len(published) == 1
    assert published[0]["kty"] == "EC" and "d" not in published[0]
