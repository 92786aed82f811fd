"""The token endpoint under attack: guessing secrets, probing which client ids exist."""

from __future__ import annotations

import base64
import statistics
import time
from typing import Any

from webtest import TestApp


def _ask(app: TestApp, client_id: str, secret: str, address: str) -> Any:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return app.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + basic},
        extra_environ={"REMOTE_ADDR": address},
        status="*",
    )


def test_wrong_secrets_slow_down_the_address_not_the_client(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["hub:ping"])
    answers = [_ask(testapp, client["client_id"], "wrong", "203.0.113.50") for _ in range(30)]
    assert [a.status_int for a in answers[:5]] == [401] * 5
    assert all(a.json["error"] == "invalid_client" for a in answers[:6])
    slowed = answers[6:]
    assert {a.status_int for a in slowed} == {429}
    assert {a.json["error"] for a in slowed} == {"slow_down"}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in slowed)
    # Waiting, even the right secret is not checked from that address...
    assert _ask(testapp, client["client_id"], client["client_secret"], "203.0.113.50").status_int == 429
    # ...while the partner's own address gets its token at once.
    own = _ask(testapp, client["client_id"], client["client_secret"], "198.51.100.60")
    assert own.status_int == 200 and own.json["access_token"]


def test_one_address_cannot_try_many_client_ids(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["hub:ping"])
    for n in range(21):
        assert _ask(testapp, f"c_{n:016x}", "wrong", "203.0.113.51").status_int == 401
    assert _ask(testapp, client["client_id"], client["client_secret"], "203.0.113.51").status_int == 429


def test_an_unknown_client_id_answers_like_a_known_one_with_a_wrong_secret(
    testapp: TestApp, make_client: Any
) -> None:
    known = make_client(["hub:ping"])["client_id"]
    unknown = "c_" + "0" * 16
    for address, client_id in (("203.0.113.52", known), ("203.0.113.53", unknown)):
        answers = [_ask(testapp, client_id, "wrong", address) for _ in range(8)]
        assert [a.status_int for a in answers] == [401] * 6 + [429] * 2
        assert answers[0].json == {
            "error": "invalid_client",
            "error_description": "The client cannot authenticate with methods: ['client_secret_basic']",
        }


def test_an_unknown_client_id_takes_as_long_as_a_known_one(testapp: TestApp, make_client: Any) -> None:
    """Both pay the Argon2 check, so the time taken does not tell which ids exist."""
    known = make_client(["hub:ping"])["client_id"]
    unknown = "c_" + "f" * 16
    times: dict[str, list[float]] = {known: [], unknown: []}
    for n in range(21):
        # Interleaved, so both see the same load; a fresh address each, so none is throttled.
        for client_id in (known, unknown):
            started = time.perf_counter()
            assert _ask(testapp, client_id, "wrong", f"10.9.{n}.{len(times[client_id])}").status_int == 401
            times[client_id].append(time.perf_counter() - started)
    ratio = statistics.median(times[unknown]) / statistics.median(times[known])
    assert 0.6 < ratio < 1.7, ratio
