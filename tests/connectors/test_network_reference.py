"""ReferenceNetwork on SQLite and PostgreSQL: the demo network's shape, the change feed, down and slow."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from connectors.base import ConnectorContext, load_connector
from connectors.billing.tables import RefConsumer
from connectors.demo import PERSONAS, distribution_centres, office_hierarchy
from connectors.errors import ConnectorUnavailable
from connectors.network import MAX_PAGE, ConsumerLink, INetwork, NetworkNode, NodeKind, check_node
from connectors.network.reference import ReferenceNetwork, network_nodes, network_size
from connectors.reference_db import set_down
from tests.connectors.refdb_fixtures import *  # noqa: F403 - the ref_engine/demo_engine fixtures
from tests.connectors.refdb_fixtures import DEMO_CONSUMERS


def _network(engine: Engine, **options: str) -> ReferenceNetwork:
    context = ConnectorContext(
        "network", {"backend": "connectors.network.reference:ReferenceNetwork", **options}, engine
    )
    network = load_connector(context.options["backend"], context)
    assert INetwork.providedBy(network) and isinstance(network, ReferenceNetwork)
    return network


def _whole_feed(
    network: ReferenceNetwork, limit: int = 997
) -> tuple[dict[str, NetworkNode], dict[str, str | None]]:
    nodes: dict[str, NetworkNode] = {}
    links: dict[str, str | None] = {}
    after = 0
    while True:
        page = network.changes(after, limit)
        assert [c.seq for c in page.changes] == sorted(c.seq for c in page.changes)
        assert all(c.seq > after for c in page.changes) and len(page.changes) <= limit
        for change in page.changes:
            assert (change.node is None) != (change.link is None)
            if change.node is not None:
                nodes[change.node.code] = change.node
            else:
                assert change.link is not None
                links[change.link.consumer_number] = change.link.dt_code
        after = page.last_seq
        if not page.more:
            return nodes, links


def test_every_consumer_billing_holds_is_in_the_feed_on_a_dt_of_their_own_distribution_centre(
    demo_engine: Engine,
) -> None:
    network = _network(demo_engine)
    network.heartbeat()
    nodes, links = _whole_feed(network)
    with demo_engine.connect() as conn:
        consumers = dict(
            conn.execute(select(RefConsumer.consumer_number, RefConsumer.dc_code)).tuples().all()
        )
    assert set(links) == set(consumers) and len(consumers) == DEMO_CONSUMERS
    for number, dt_code in links.items():
        if dt_code is not None:
            assert nodes[dt_code].kind is NodeKind.DT and nodes[dt_code].office_code == consumers[number]
    kinds = Counter(node.kind for node in nodes.values())
    # 128 DCs, three substations each, five feeders per substation, at least one DT per feeder.
    assert kinds[NodeKind.SUBSTATION] == 384 and kinds[NodeKind.FEEDER] == 1_920
    assert kinds[NodeKind.DT] >= 1_920
    for node in nodes.values():
        check_node(node)
        if node.parent_code is not None:
            parent = nodes[node.parent_code]
            assert parent.kind is node.kind.parent_kind and parent.office_code == node.office_code
    persona_numbers = {n for p in PERSONAS.values() for n in p.consumer_numbers}
    assert persona_numbers <= set(links)
    assert network_size(demo_engine)["consumers"] == DEMO_CONSUMERS


def test_at_a_millions_scale_the_network_has_thousands_of_feeders_and_tens_of_thousands_of_dts() -> None:
    dcs = distribution_centres(office_hierarchy())
    # A central-India discom's million consumers, spread over its 128 DCs.
    per_dc = {dc.code: 1_000_000 // len(dcs) for dc in dcs}
    kinds = Counter(node.kind for node in network_nodes(dcs, 1, per_dc))
    assert kinds[NodeKind.FEEDER] == 1_920
    assert 20_000 <= kinds[NodeKind.DT] <= 30_000


def test_same_seed_same_network() -> None:
    dcs = distribution_centres(office_hierarchy())[:4]
    per_dc = {dc.code: 5_000 for dc in dcs}
    assert network_nodes(dcs, 3, per_dc) == network_nodes(dcs, 3, per_dc)
    assert network_nodes(dcs, 3, per_dc) != network_nodes(dcs, 4, per_dc)


def test_edits_enter_the_feed_after_what_was_read(demo_engine: Engine) -> None:
    network = _network(demo_engine)
    _nodes, links = _whole_feed(network, limit=MAX_PAGE)
    read_up_to = network.changes(0, MAX_PAGE)
    while read_up_to.more:
        read_up_to = network.changes(read_up_to.last_seq, MAX_PAGE)
    consumer, dt_code = next((n, d) for n, d in sorted(links.items()) if d is not None)
    network.link_consumer(consumer, None)
    retired = NetworkNode(
        dt_code,
        NodeKind.DT,
        dt_code.rsplit("-", 1)[0].replace("DT-", "FDR-"),
        "DC-101",
        "DT retired",
        "सेवा से बाहर",
        None,
        100,
        False,
    )
    network.put_node(retired)
    page = network.changes(read_up_to.last_seq, 10)
    assert not page.more
    assert [c.link for c in page.changes if c.link] == [ConsumerLink(consumer, None)]
    assert [c.node.in_service for c in page.changes if c.node] == [False]
    with pytest.raises(ValueError, match="capacity_kva"):
        network.put_node(
            NetworkNode("DT-101-9-99-999", NodeKind.DT, "FDR-101-9-99", "DC-101", "x", "x", None, None, True)
        )
    with pytest.raises(ValueError):
        network.changes(0, MAX_PAGE + 1)


def test_down_and_slow(demo_engine: Engine) -> None:
    network = _network(demo_engine, delay_seconds="0.3")
    started = time.monotonic()
    network.heartbeat()
    assert time.monotonic() - started >= 0.3
    set_down(demo_engine, "network")
    try:
        with pytest.raises(ConnectorUnavailable):
            network.changes(0, 10)
        with pytest.raises(ConnectorUnavailable):
            network.heartbeat()
    finally:
        set_down(demo_engine, "network", down=False)


def test_demo_summary_counts_the_network(demo_engine: Engine) -> None:
    size = network_size(demo_engine)
    with demo_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RefConsumer)).scalar_one() == size["consumers"]
    assert size["unmapped"] < size["consumers"] // 20
