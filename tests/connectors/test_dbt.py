"""DBT change notifier: reference scheme on SQLite/PostgreSQL, httpx client on a fake scheme endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from connectors.dbt import IDbtNotifier, KycChangeNotice
from connectors.dbt.client import HttpDbt
from connectors.dbt.reference import ReferenceDbt
from connectors.errors import ConnectorRejected, ConnectorUnavailable
from connectors.reference_db import set_down
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer
from tests.connectors.messaging_fixtures import FAILURE_MODES, http_context, ref_context, ref_engine

__all__ = ["ref_engine"]


def notice(n: int = 1, scheme: str = "LADLI-BEHNA") -> KycChangeNotice:
    return KycChangeNotice(
        f"outbox-{n}", scheme, f"cursor-{n:06d}", 120 + n, datetime(2026, 11, 23, 10, tzinfo=UTC)
    )


def test_reference_records_once_per_notification(ref_engine: Engine) -> None:
    dbt = ReferenceDbt.from_context(ref_context("dbt", ref_engine))
    assert IDbtNotifier.providedBy(dbt)
    dbt.notify(notice(1))
    dbt.notify(notice(1))  # the worker's retry
    dbt.notify(notice(2, scheme="KISAN"))
    assert dbt.notices("LADLI-BEHNA") == [notice(1)]
    assert len(dbt.notices()) == 2
    set_down(ref_engine, "dbt")
    with pytest.raises(ConnectorUnavailable):
        dbt.notify(notice(3))
    with pytest.raises(ConnectorUnavailable):
        dbt.heartbeat()


def test_notice_fields_are_validated() -> None:
    with pytest.raises(ValueError):
        KycChangeNotice("id with space", "S", "c", 1, datetime.now(UTC))
    with pytest.raises(ValueError):
        KycChangeNotice("id", "S", "c", -1, datetime.now(UTC))
    with pytest.raises(ValueError):
        KycChangeNotice("id", "S", "c", 1, datetime(2026, 1, 1))


@pytest.fixture
def scheme() -> Iterator[tuple[FakeServer, list[dict[str, object]]]]:
    received: list[dict[str, object]] = []

    def handle(request: FakeRequest) -> FakeResponse:
        if request.method == "GET":
            return FakeResponse(405)  # a webhook with no GET: still "alive" for the heartbeat
        if request.headers.get("authorization") != "Bearer dbt-token":
            return FakeResponse.json(401, {"error": "unauthorized"})
        body = request.json()
        if body["scheme"] != "LADLI-BEHNA":
            return FakeResponse.json(422, {"error": "unknown_scheme"})
        received.append(body)
        return FakeResponse(204)

    with FakeServer(handle) as server:
        yield server, received


def client_for(server: FakeServer, token: str = "dbt-token") -> HttpDbt:
    return HttpDbt.from_context(http_context("dbt", server.url + "/hooks/kyc", token=token))


def test_client_posts_the_cursor(scheme: tuple[FakeServer, list[dict[str, object]]]) -> None:
    server, received = scheme
    dbt = client_for(server)
    assert IDbtNotifier.providedBy(dbt)
    dbt.notify(notice(1))
    assert received == [
        {
            "event": "kyc.changed",
            "notification_id": "outbox-1",
            "scheme": "LADLI-BEHNA",
            "cursor": "cursor-000001",
            "changed_count": 121,
            "as_of": "2026-11-23T10:00:00+00:00",
        }
    ]
    assert server.requests[-1].path == "/hooks/kyc"
    assert server.requests[-1].headers["idempotency-key"] == "outbox-1"
    dbt.heartbeat()
    with pytest.raises(ConnectorRejected) as err:
        dbt.notify(notice(2, scheme="OTHER"))
    assert err.value.code == "unknown_scheme"
    with pytest.raises(ConnectorUnavailable):
        client_for(server, token="wrong").notify(notice(3))


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_client_failures_are_unavailable(
    scheme: tuple[FakeServer, list[dict[str, object]]], mode: str
) -> None:
    server, _ = scheme
    dbt = client_for(server)
    if mode == "refused":
        server.down()
    else:
        server.mode = mode
    if mode == "garbage":
        # A 2xx with any body is an acknowledgement for this small webhook: garbage does not apply.
        dbt.notify(notice(1))
        return
    with pytest.raises(ConnectorUnavailable):
        dbt.notify(notice(1))
    with pytest.raises(ConnectorUnavailable):
        dbt.heartbeat()
