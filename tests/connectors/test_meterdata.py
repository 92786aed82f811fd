"""The MDAS connector: the reference readings of the demo month, and RestMeterData (httpx) against a
fake MDAS on 127.0.0.1 serving those readings in the wire format."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from connectors.base import ConnectorContext, load_connector
from connectors.errors import ConnectorUnavailable
from connectors.meterdata import IMeterData, MeterReading, ReadingKind
from connectors.meterdata.reference import ReferenceMeterData, billed_wh_per_dt, midnight
from connectors.meterdata.rest import RestMeterData
from connectors.network.tables import RefGisNode
from connectors.reference_db import set_down
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer, closed_port
from tests.connectors.refdb_fixtures import *  # noqa: F403 - the ref_engine/demo_engine fixtures

START, END = midnight(date(2026, 10, 1)), midnight(date(2026, 11, 1))


def _by_node(readings: list[MeterReading]) -> dict[str, list[MeterReading]]:
    found: dict[str, list[MeterReading]] = {}
    for r in readings:
        found.setdefault(r.node_code, []).append(r)
    return found


def test_demo_month_has_both_snapshots_for_most_meters_and_the_faults(demo_engine: Engine) -> None:
    mdas = ReferenceMeterData(demo_engine)
    assert IMeterData.providedBy(mdas)
    readings = list(mdas.readings(START, END))
    assert [r.reading_id for r in readings] == sorted(r.reading_id for r in readings)
    # 00:00 India time is 18:30 UTC the day before.
    assert START == datetime(2026, 9, 30, 18, 30, tzinfo=UTC)
    by_node = _by_node(readings)
    with demo_engine.connect() as conn:
        metered = set(
            conn.execute(
                select(RefGisNode.code).where(
                    RefGisNode.kind.in_(("feeder", "dt")), RefGisNode.meter_no.is_not(None)
                )
            ).scalars()
        )
        billed = billed_wh_per_dt(conn, "2026-10")
    assert set(by_node) == metered
    # Feeders: some with a snapshot every midnight of the month, the register never going back.
    feeders = [rs for code, rs in by_node.items() if code.startswith("FDR-")]
    assert max(len(rs) for rs in feeders) == 32
    for rs in feeders:
        registers = [r.register_wh for r in sorted(rs, key=lambda r: r.read_at)]
        assert registers == sorted(registers)
    complete = [
        rs
        for code, rs in by_node.items()
        if code.startswith("DT-") and len(rs) == 2 and {r.read_at for r in rs} == {START, END}
    ]
    assert len(complete) > 0.95 * (len(by_node) - len(feeders))
    # Energy into a healthy DT is at least what its consumers were billed.
    forward = [rs for rs in complete if rs[1].register_wh >= rs[0].register_wh]
    assert len(forward) > 0.99 * len(complete)
    for rs in forward:
        code = rs[0].node_code
        if code in billed:
            assert rs[1].register_wh - rs[0].register_wh >= billed[code]
    assert any(len(rs) == 1 for rs in by_node.values())  # a missing snapshot
    assert any(len(rs) in (1, 31) for rs in feeders)  # a feeder's closing snapshot lost
    assert any(any(r.kind is ReadingKind.FINAL for r in rs) for rs in by_node.values())  # a replaced meter
    assert any(
        len(rs) == 2 and rs[0].read_at == START and rs[1].register_wh < rs[0].register_wh
        for rs in by_node.values()
    )  # a register going backwards
    # A window without readings is empty, not an error.
    assert list(mdas.readings(START - timedelta(days=90), START - timedelta(days=60))) == []


def test_reference_records_checks_and_fails_closed(demo_engine: Engine) -> None:
    mdas = ReferenceMeterData(demo_engine)
    with pytest.raises(ValueError, match="meter_no"):
        mdas.record("DT-101-1-01-001", "मीटर-1", START, 10, ReadingKind.SNAPSHOT)
    with pytest.raises(ValueError, match="register_wh"):
        mdas.record("DT-101-1-01-001", "DM-1", START, -5, ReadingKind.SNAPSHOT)
    with pytest.raises(ValueError):
        list(mdas.readings(END, START))
    set_down(demo_engine, "meterdata")
    try:
        with pytest.raises(ConnectorUnavailable):
            list(mdas.readings(START, END))
        with pytest.raises(ConnectorUnavailable):
            mdas.heartbeat()
    finally:
        set_down(demo_engine, "meterdata", False)


def _wire(r: MeterReading) -> dict[str, Any]:
    return {
        "id": r.reading_id,
        "node_code": r.node_code,
        "meter_no": r.meter_no,
        "read_at": r.read_at.isoformat(),
        "register_wh": r.register_wh,
        "kind": r.kind.value,
        "modem_signal": -71,  # unknown fields are ignored
    }


class FakeMdas:
    def __init__(self, mdas: ReferenceMeterData) -> None:
        self.mdas = mdas
        self.override: dict[str, Any] | None = None
        self.auth: list[str | None] = []

    def __call__(self, request: FakeRequest) -> FakeResponse:
        self.auth.append(request.headers.get("authorization"))
        url = urlsplit(request.path)
        if url.path == "/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        if self.override is not None:
            return FakeResponse.json(200, self.override)
        if url.path == "/v1/readings":
            q = parse_qs(url.query)
            start, end = datetime.fromisoformat(q["from"][0]), datetime.fromisoformat(q["to"][0])
            after, limit = int(q["after"][0]), int(q["limit"][0])
            rows = self.mdas.page(start, end, after, limit + 1)
            return FakeResponse.json(
                200, {"readings": [_wire(r) for r in rows[:limit]], "more": len(rows) > limit}
            )
        return FakeResponse.json(404, {"error": "no_route"})


@pytest.fixture()
def fake(demo_engine: Engine) -> Iterator[tuple[FakeMdas, FakeServer]]:
    handler = FakeMdas(ReferenceMeterData(demo_engine))
    with FakeServer(handler) as server:
        yield handler, server


def _client(url: str, **options: str) -> RestMeterData:
    context = ConnectorContext(
        "meterdata",
        {"url": url, "api_key": "k-1", "read_timeout": "0.5", "page_size": "700", **options},
        None,  # type: ignore[arg-type]
    )
    client = load_connector("connectors.meterdata.rest:RestMeterData", context)
    assert isinstance(client, RestMeterData)
    return client


def test_rest_client_reads_the_same_readings_in_pages(fake: tuple[FakeMdas, FakeServer]) -> None:
    handler, server = fake
    client = _client(server.url)
    client.heartbeat()
    assert list(client.readings(START, END)) == list(handler.mdas.readings(START, END))
    assert len(handler.auth) > 3 and set(handler.auth) == {"Bearer k-1"}


@pytest.mark.parametrize(
    "answer",
    [
        {"readings": "none", "more": False},
        {"readings": [], "more": True},
        {
            "readings": [
                {
                    "id": 1,
                    "node_code": "dt 1",
                    "meter_no": "DM-1",
                    "read_at": START.isoformat(),
                    "register_wh": 1,
                    "kind": "snapshot",
                }
            ],
            "more": False,
        },
        {
            "readings": [
                {
                    "id": 1,
                    "node_code": "DT-1-1",
                    "meter_no": "DM-11",
                    "read_at": "2026-10-01T00:00:00",
                    "register_wh": 1,
                    "kind": "snapshot",
                }
            ],
            "more": False,
        },
        {
            "readings": [
                {
                    "id": 1,
                    "node_code": "DT-1-1",
                    "meter_no": "DM-11",
                    "read_at": "2020-01-01T00:00:00+00:00",
                    "register_wh": 1,
                    "kind": "snapshot",
                }
            ],
            "more": False,
        },
        {
            "readings": [
                {
                    "id": 0,
                    "node_code": "DT-1-1",
                    "meter_no": "DM-11",
                    "read_at": START.isoformat(),
                    "register_wh": 1,
                    "kind": "snapshot",
                }
            ],
            "more": False,
        },
        {
            "readings": [
                {
                    "id": 1,
                    "node_code": "DT-1-1",
                    "meter_no": "DM-11",
                    "read_at": START.isoformat(),
                    "register_wh": "1",
                    "kind": "snapshot",
                }
            ],
            "more": False,
        },
        {
            "readings": [
                {
                    "id": 1,
                    "node_code": "DT-1-1",
                    "meter_no": "DM-11",
                    "read_at": START.isoformat(),
                    "register_wh": 1,
                    "kind": "guess",
                }
            ],
            "more": False,
        },
    ],
)
def test_rest_client_refuses_a_page_that_breaks_the_contract(
    fake: tuple[FakeMdas, FakeServer], answer: dict[str, Any]
) -> None:
    handler, server = fake
    handler.override = answer
    with pytest.raises(ConnectorUnavailable, match="garbage"):
        list(_client(server.url).readings(START, END))


def test_rest_client_times_out_and_fails_closed(fake: tuple[FakeMdas, FakeServer]) -> None:
    _handler, server = fake
    server.mode = "slow"
    server.slow_seconds = 2.0
    began = time.monotonic()
    with pytest.raises(ConnectorUnavailable):
        list(_client(server.url).readings(START, END))
    assert time.monotonic() - began < 1.8
    server.mode = "ok"
    with pytest.raises(ConnectorUnavailable):
        _client(f"http://127.0.0.1:{closed_port()}").heartbeat()
    with pytest.raises(ValueError):
        _client(server.url, page_size="0")
