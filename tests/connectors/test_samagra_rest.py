"""RestSamagra (httpx) against a fake Samagra registry on 127.0.0.1, incl. errors, garbage and slow answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine

from connectors.base import ConnectorContext, load_connector
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.samagra import ISamagra, SamagraPerson
from connectors.samagra.rest import RestSamagra
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer, closed_port


def _member(samagra_id: str, **kw: Any) -> dict[str, Any]:
    base = {
        "samagra_id": samagra_id,
        "family_id": "90000001",
        "name_hi": "रमेश कुमार शर्मा",
        "name_en": "Ramesh Kumar Sharma",
        "mobile": "9999000011",
        "district": "Bhopal",
        "aadhaar": "999988887777",
    }
    base.update(kw)
    return base


class FakeSamagra:
    """The registry's JSON contract over in-memory members."""

    def __init__(self) -> None:
        self.members = {
            "900000011": _member("900000011"),
            "900000052": _member(
                "900000052", family_id="90000005", name_hi="कमला चौहान", name_en="Kamla Chouhan", mobile=None
            ),
        }
        self.override: dict[str, Any] | None = None
        self.auth: list[str | None] = []

    def __call__(self, request: FakeRequest) -> FakeResponse:
        self.auth.append(request.headers.get("authorization"))
        if request.path == "/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        if self.override is not None:
            return FakeResponse.json(200, self.override)
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts[:2] == ["v1", "members"] and len(parts) == 3:
            member = self.members.get(parts[2])
            if member is None:
                return FakeResponse.json(404, {"error": "not_found"})
            return FakeResponse.json(200, {"member": member})
        return FakeResponse.json(404, {"error": "no_route"})


@pytest.fixture()
def fake() -> Iterator[tuple[FakeServer, FakeSamagra]]:
    data = FakeSamagra()
    with FakeServer(data) as server:
        yield server, data


def _client(url: str, **options: str) -> RestSamagra:
    context = ConnectorContext(
        "samagra",
        {
            "backend": "connectors.samagra.rest:RestSamagra",
            "url": url,
            "read_timeout": "0.5",
            "connect_timeout": "0.5",
            **options,
        },
        create_engine("sqlite://"),
    )
    client = load_connector(context.options["backend"], context)
    assert isinstance(client, RestSamagra) and ISamagra.providedBy(client)
    return client


@pytest.fixture()
def samagra(fake: tuple[FakeServer, FakeSamagra]) -> RestSamagra:
    return _client(fake[0].url, api_key="s-123")


def test_members_round_trip_with_devanagari_and_unknown_fields_dropped(
    samagra: RestSamagra, fake: tuple[FakeServer, FakeSamagra]
) -> None:
    samagra.heartbeat()
    person = samagra.get_person("900000011")
    assert person == SamagraPerson(
        "900000011", "90000001", "रमेश कुमार शर्मा", "Ramesh Kumar Sharma", "9999000011"
    )
    assert "999988887777" not in repr(person)
    assert samagra.get_person("900000052").mobile is None
    with pytest.raises(NotFound):
        samagra.get_person("123456789")
    server, data = fake
    asked = len(server.requests)
    with pytest.raises(NotFound):
        samagra.get_person("../v1/health")  # malformed: never sent
    assert len(server.requests) == asked
    assert set(data.auth) == {"Bearer s-123"}


def test_slow_answers_time_out(samagra: RestSamagra, fake: tuple[FakeServer, FakeSamagra]) -> None:
    server, _ = fake
    server.mode = "slow"
    server.slow_seconds = 10
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="timed out"):
        samagra.get_person("900000011")
    assert time.monotonic() - started < 9  # did not wait for the server


@pytest.mark.parametrize("mode", ["garbage", "error"])
def test_errors_and_garbage_are_unavailable(
    samagra: RestSamagra, fake: tuple[FakeServer, FakeSamagra], mode: str
) -> None:
    fake[0].mode = mode
    with pytest.raises(ConnectorUnavailable):
        samagra.heartbeat()
    with pytest.raises(ConnectorUnavailable):
        samagra.get_person("900000011")


@pytest.mark.parametrize(
    "answer",
    [
        {"member": _member("900000052")},  # another member
        {"member": _member("900000011", mobile="12345")},
        {"member": _member("900000011", family_id="9000")},
        {"member": _member("900000011", name_en="")},
        {"member": _member("900000011", name_hi=None)},
        {"member": "yes"},
        {},
    ],
)
def test_answers_that_break_the_contract_are_unavailable(
    samagra: RestSamagra, fake: tuple[FakeServer, FakeSamagra], answer: dict[str, Any]
) -> None:
    fake[1].override = json.loads(json.dumps(answer))
    with pytest.raises(ConnectorUnavailable):
        samagra.get_person("900000011")


def test_connection_refused_is_unavailable() -> None:
    samagra = _client(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ConnectorUnavailable):
        samagra.heartbeat()
    with pytest.raises(ConnectorUnavailable):
        samagra.get_person("900000011")
