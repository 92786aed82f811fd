"""RestNetwork (httpx) against a fake GIS on 127.0.0.1 serving the reference network in the wire format."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.engine import Engine

from connectors.base import ConnectorContext, load_connector
from connectors.errors import ConnectorUnavailable
from connectors.network import INetwork, NetworkChange
from connectors.network.reference import ReferenceNetwork
from connectors.network.rest import RestNetwork
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer, closed_port
from tests.connectors.refdb_fixtures import *  # noqa: F403 - the ref_engine/demo_engine fixtures


def _wire(change: NetworkChange) -> dict[str, Any]:
    if change.node is not None:
        node = change.node.as_record()
        # Fields the hub does not know are ignored, never copied.
        node["survey_remarks"] = "pole 17 leaning"
        return {"seq": change.seq, "node": node}
    assert change.link is not None
    return {
        "seq": change.seq,
        "link": {"consumer_number": change.link.consumer_number, "dt_code": change.link.dt_code},
    }


class FakeGis:
    """The GIS's JSON contract over the reference network's records."""

    def __init__(self, network: ReferenceNetwork) -> None:
        self.network = network
        self.override: dict[str, Any] | None = None
        self.auth: list[str | None] = []

    def __call__(self, request: FakeRequest) -> FakeResponse:
        self.auth.append(request.headers.get("authorization"))
        url = urlsplit(request.path)
        if url.path == "/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        if self.override is not None:
            return FakeResponse.json(200, self.override)
        if url.path == "/v1/changes":
            query = parse_qs(url.query)
            page = self.network.changes(int(query["after"][0]), int(query["limit"][0]))
            return FakeResponse.json(
                200,
                {"changes": [_wire(c) for c in page.changes], "last_seq": page.last_seq, "more": page.more},
            )
        return FakeResponse.json(404, {"error": "no_route"})


@pytest.fixture()
def reference(demo_engine: Engine) -> ReferenceNetwork:
    return ReferenceNetwork(demo_engine)


@pytest.fixture()
def fake(reference: ReferenceNetwork) -> Iterator[tuple[FakeServer, FakeGis]]:
    gis = FakeGis(reference)
    with FakeServer(gis) as server:
        yield server, gis


def _client(url: str, **options: str) -> RestNetwork:
    context = ConnectorContext(
        "network",
        {
            "backend": "connectors.network.rest:RestNetwork",
            "url": url,
            "read_timeout": "0.5",
            "connect_timeout": "0.5",
            **options,
        },
    )
    client = load_connector(context.options["backend"], context)
    assert isinstance(client, RestNetwork) and INetwork.providedBy(client)
    return client


def test_the_feed_read_over_the_wire_is_the_gis_feed(
    fake: tuple[FakeServer, FakeGis], reference: ReferenceNetwork
) -> None:
    client = _client(fake[0].url, api_key="g-1")
    client.heartbeat()
    after = 0
    pages = 0
    while True:
        page = client.changes(after, 1_500)
        assert page == reference.changes(after, 1_500)
        pages += 1
        after = page.last_seq
        if not page.more:
            break
    assert pages > 1
    empty = client.changes(after, 10)
    assert empty.changes == () and empty.last_seq == after and not empty.more
    assert set(fake[1].auth) == {"Bearer g-1"}
    names = {c.node.name_hi for c in reference.changes(0, 10).changes if c.node}
    assert any("उपकेन्द्र" in name for name in names)  # Devanagari survives the wire


def _page(**change: Any) -> dict[str, Any]:
    return {"changes": [{"seq": 5, **change}], "last_seq": 5, "more": False}


NODE = {
    "code": "DT-101-1-01-001",
    "kind": "dt",
    "parent_code": "FDR-101-1-01",
    "office_code": "DC-101",
    "name_en": "DT",
    "name_hi": "डीटी",
    "meter_no": None,
    "capacity_kva": 100,
    "in_service": True,
}


@pytest.mark.parametrize(
    "answer",
    [
        {
            "changes": [{"seq": 3, "link": {"consumer_number": "1010000017", "dt_code": None}}],
            "last_seq": 3,
            "more": False,
        },  # not after 4
        {"changes": [], "last_seq": 9, "more": False},  # a last_seq that matches no change
        _page(link={"consumer_number": "1010000017", "dt_code": None}, node=NODE),
        _page(link={"consumer_number": "12", "dt_code": None}),
        _page(link={"consumer_number": "1010000017", "dt_code": "dt 1; drop"}),
        _page(node={**NODE, "kind": "pole"}),
        _page(node={**NODE, "capacity_kva": None}),
        _page(node={**NODE, "capacity_kva": True}),
        _page(node={**NODE, "parent_code": None}),
        _page(node={**NODE, "office_code": "ZON-BPL-1A"}),
        _page(node={**NODE, "in_service": "yes"}),
        _page(node={**NODE, "name_hi": ""}),
        {"changes": "all of them", "last_seq": 5, "more": False},
        {"changes": [], "last_seq": 4},
    ],
)
def test_pages_that_break_the_contract_are_unavailable_and_nothing_of_them_is_used(
    fake: tuple[FakeServer, FakeGis], answer: dict[str, Any]
) -> None:
    fake[1].override = answer
    with pytest.raises(ConnectorUnavailable, match="garbage"):
        _client(fake[0].url).changes(4, 10)


def test_more_changes_than_asked_for_is_garbage(fake: tuple[FakeServer, FakeGis]) -> None:
    fake[1].override = {
        "changes": [{"seq": s, "link": {"consumer_number": "1010000017", "dt_code": None}} for s in (5, 6)],
        "last_seq": 6,
        "more": False,
    }
    with pytest.raises(ConnectorUnavailable):
        _client(fake[0].url).changes(4, 1)


def test_slow_answers_time_out(fake: tuple[FakeServer, FakeGis]) -> None:
    server, _ = fake
    server.mode = "slow"
    server.slow_seconds = 10
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="timed out"):
        _client(server.url).changes(0, 10)
    assert time.monotonic() - started < 9


@pytest.mark.parametrize("mode", ["garbage", "error"])
def test_errors_and_garbage_are_unavailable(fake: tuple[FakeServer, FakeGis], mode: str) -> None:
    fake[0].mode = mode
    client = _client(fake[0].url)
    with pytest.raises(ConnectorUnavailable):
        client.heartbeat()
    with pytest.raises(ConnectorUnavailable):
        client.changes(0, 10)


def test_connection_refused_is_unavailable_and_bad_arguments_are_never_sent() -> None:
    client = _client(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ConnectorUnavailable):
        client.changes(0, 10)
    with pytest.raises(ValueError):
        client.changes(-1, 10)
    with pytest.raises(ValueError):
        client.changes(0, 0)
