"""The GIS's network reaches the hub through hub-worker's job and answers partners over REST.

The app runs as served (real commits); the reference GIS holds the demo network; the job is
run the way hub-worker runs it (run_due_jobs), and everything is read back over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from webtest import TestApp

from connectors.demo import PERSONAS, generate_demo_data
from connectors.network import NetworkNode, NodeKind
from connectors.network.reference import ReferenceNetwork, network_size
from connectors.reference_db import set_down
from hub.lookup import registered
from hub.models.network import ConsumerSupply, NetworkFeed
from hub.models.network import NetworkNode as HubNode
from hub.network import SYNC_JOB
from hub.periodic import PeriodicJob, PeriodicJobs, run_due_jobs

PERSONA = PERSONAS["several_connections"]


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    # Small pages: the feed of the small demo takes several, as a real one would.
    return {**live_settings, "hub.network.page_size": "700"}


@pytest.fixture()
def gis(live_reference_engine: Engine, live_engine: Engine) -> Iterator[ReferenceNetwork]:
    generate_demo_data(live_reference_engine, consumers=400, seed=2, replace=True)
    with live_engine.begin() as conn:
        for table in (NetworkFeed, ConsumerSupply, HubNode):
            conn.execute(delete(table))
    set_down(live_reference_engine, "network", False)
    yield ReferenceNetwork(live_reference_engine)
    set_down(live_reference_engine, "network", False)


def _run_job(live_app: TestApp, live_engine: Engine) -> None:
    jobs: list[PeriodicJob] = registered(live_app.app.registry, PeriodicJobs)
    job = next(j for j in jobs if j.name == SYNC_JOB)
    # Each run as hub-worker would make it once its lease is due.
    with live_engine.begin() as conn:
        from hub.models.job import JobLease

        conn.execute(delete(JobLease).where(JobLease.name == SYNC_JOB))
    assert run_due_jobs(live_engine, [job], "worker-test") == [SYNC_JOB]


def _last_seq(gis: ReferenceNetwork) -> int:
    page = gis.changes(0, 5_000)
    while page.more:
        page = gis.changes(page.last_seq, 5_000)
    return page.last_seq


@pytest.fixture()
def reader(live_app: TestApp, live_client: Any) -> dict[str, str]:
    token = live_client(["network:read"])["token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_worker_applies_the_whole_feed_and_partners_read_each_consumers_supply(
    live_app: TestApp, live_engine: Engine, gis: ReferenceNetwork, reader: dict[str, str]
) -> None:
    _run_job(live_app, live_engine)
    size = network_size(gis.engine)
    with live_engine.connect() as conn:
        assert conn.scalar(select(NetworkFeed.last_seq)) == _last_seq(gis)
        hub_consumers = conn.execute(select(ConsumerSupply.consumer_number)).scalars().all()
    assert len(hub_consumers) == size["consumers"] == 400

    # Every persona is in the network, with a DT or listed as unmapped.
    for number in PERSONA.consumer_numbers:
        assert number in hub_consumers
    with live_engine.connect() as conn:
        mapped = conn.scalar(
            select(ConsumerSupply.consumer_number).where(ConsumerSupply.dt_code.is_not(None)).limit(1)
        )
    supply = live_app.get(f"/api/v1/network/consumers/{mapped}", headers=reader).json
    assert supply["mapped"] is True and supply["problem"] is None
    assert supply["dt"]["kind"] == "dt" and supply["feeder"]["code"] == supply["dt"]["parent_code"]
    assert supply["substation"]["code"] == supply["feeder"]["parent_code"]
    assert "उपकेन्द्र" in supply["substation"]["name_hi"]
    node = live_app.get(f"/api/v1/network/nodes/{supply['feeder']['code']}", headers=reader).json
    assert node["kind"] == "feeder" and node["children"] >= 1 and node["consumers"] >= 1
    unknown = live_app.get("/api/v1/network/consumers/1019999999", headers=reader, status=404)
    assert unknown.content_type == "application/problem+json"
    live_app.get("/api/v1/network/consumers/1", headers=reader, status=404)
    live_app.get("/api/v1/network/nodes/%E0%A4%A8%E0%A5%8B%E0%A4%A1", headers=reader, status=404)


def test_changes_after_the_first_sync_move_consumers_and_take_dts_out_of_service(
    live_app: TestApp, live_engine: Engine, gis: ReferenceNetwork, reader: dict[str, str]
) -> None:
    _run_job(live_app, live_engine)
    with live_engine.connect() as conn:
        mapped = conn.execute(
            select(ConsumerSupply.consumer_number, ConsumerSupply.dt_code)
            .where(ConsumerSupply.dt_code.is_not(None))
            .order_by(ConsumerSupply.consumer_number)
            .limit(3)
        ).all()
    (moved, old_dt), (surveyed, _), (stranded, _) = mapped
    other_dt = next(
        c.node.code
        for c in gis.changes(0, 5_000).changes
        if c.node and c.node.kind is NodeKind.DT and c.node.code != old_dt
    )
    gis.link_consumer(moved, other_dt)
    gis.link_consumer(surveyed, None)
    gis.link_consumer(stranded, "DT-999-9-99-999")
    before = live_app.get("/api/v1/network/unmapped", headers=reader).json["counts"]

    _run_job(live_app, live_engine)

    assert live_app.get(f"/api/v1/network/consumers/{moved}", headers=reader).json["dt"]["code"] == other_dt
    assert live_app.get(f"/api/v1/network/consumers/{surveyed}", headers=reader).json["problem"] == "no_dt"
    assert (
        live_app.get(f"/api/v1/network/consumers/{stranded}", headers=reader).json["problem"] == "unknown_dt"
    )
    after = live_app.get("/api/v1/network/unmapped", headers=reader).json
    assert after["counts"]["no_dt"] == before["no_dt"] + 1
    assert after["counts"]["unknown_dt"] == before["unknown_dt"] + 1
    listed = {c["consumer_number"]: c["reason"] for c in after["consumers"]}
    assert listed[surveyed] == "no_dt" and listed[stranded] == "unknown_dt"

    # A DT taken out of service strands everyone on it, and they are listed as such.
    other = gis.changes(0, 5_000)
    dt = next(c.node for c in other.changes if c.node and c.node.code == other_dt)
    assert dt is not None
    gis.put_node(NetworkNode(**{**dt.__dict__, "in_service": False}))
    _run_job(live_app, live_engine)
    page = live_app.get("/api/v1/network/unmapped?reason=dt_out_of_service&limit=1000", headers=reader).json
    assert moved in {c["consumer_number"] for c in page["consumers"]}
    assert all(c["reason"] == "dt_out_of_service" for c in page["consumers"])


def test_a_gis_that_is_down_leaves_the_position_and_the_next_run_goes_on(
    live_app: TestApp, live_engine: Engine, gis: ReferenceNetwork, live_reference_engine: Engine
) -> None:
    set_down(live_reference_engine, "network")
    _run_job(live_app, live_engine)  # the job logs and ends; nothing half-applied
    with live_engine.connect() as conn:
        assert conn.scalar(select(NetworkFeed.last_seq)) is None
    set_down(live_reference_engine, "network", False)
    _run_job(live_app, live_engine)
    with live_engine.connect() as conn:
        assert (conn.scalar(select(NetworkFeed.last_seq)) or 0) > 0


def test_an_older_page_applied_late_never_rolls_the_network_back(
    live_app: TestApp, live_engine: Engine, gis: ReferenceNetwork, reader: dict[str, str]
) -> None:
    from hub.network.service import apply_page
    from hub.outbox import unit_of_work

    first = gis.changes(0, 5_000)
    _run_job(live_app, live_engine)
    consumer = next(c.link for c in first.changes if c.link and c.link.dt_code)
    assert consumer is not None
    gis.link_consumer(consumer.consumer_number, None)
    _run_job(live_app, live_engine)
    # hub-admin's sync racing the worker's applies the first page again, after the newer one.
    with unit_of_work(live_app.app.registry) as session:
        apply_page(session, first)
    answer = live_app.get(f"/api/v1/network/consumers/{consumer.consumer_number}", headers=reader).json
    assert answer["problem"] == "no_dt"
    with live_engine.connect() as conn:
        assert (conn.scalar(select(NetworkFeed.last_seq)) or 0) > (first.last_seq or 0)


@pytest.mark.parametrize(
    "query",
    ["reason=guess", "after=12", "limit=0", "limit=1001", "limit=ten", "after=%E0%A5%A7%E0%A5%A6"],
)
def test_bad_listing_parameters_are_problems(live_app: TestApp, reader: dict[str, str], query: str) -> None:
    answer = live_app.get(f"/api/v1/network/unmapped?{query}", headers=reader, status=400)
    assert answer.content_type == "application/problem+json"
    assert answer.json["code"] == "validation_failed"


def test_the_network_needs_its_scope(live_app: TestApp, live_client: Any) -> None:
    token = live_client(["meters:read"])["token"]
    live_app.get("/api/v1/network/unmapped", headers={"Authorization": f"Bearer {token}"}, status=403)
    live_app.get("/api/v1/network/unmapped", status=401)
