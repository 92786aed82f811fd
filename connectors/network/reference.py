"""Reference GIS: the discom's network simulated in the reference store.

:func:`generate_network` builds it from the demo offices and consumers at the shape of a
central-India discom: per distribution centre three 33/11 kV substations and five 11 kV
feeders each (384 substations and 1,920 feeders for the 128 DCs), and on each feeder one
DT per about 40 of the DC's consumers, give or take a third (about 25,000 DTs for a
million consumers; at least one per feeder). Every consumer is on a DT of their own DC
but a few (about 0.4 %), surveyed without one. Same seed, same rows.

Like an outside system it keeps its own short transactions;
``connectors.reference_db.set_down(engine, "network")`` makes every call raise
ConnectorUnavailable and ``delay_seconds`` makes every call that slow. Tests and the demo
change the network through :meth:`ReferenceNetwork.put_node` and
:meth:`ReferenceNetwork.link_consumer`, which feed the change log as the GIS would.

ini::

    hub.network.backend = connectors.network.reference:ReferenceNetwork
    hub.network.delay_seconds = 0     # optional: answer every call this much later
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing.reference import reference_transaction
from connectors.billing.tables import RefConsumer
from connectors.network import (
    MAX_PAGE,
    SYSTEM,
    ChangePage,
    ConsumerLink,
    INetwork,
    NetworkChange,
    NetworkNode,
    NodeKind,
    check_node,
)
from connectors.network.tables import RefGisChange, RefGisLink, RefGisNode

nodes_t = cast(Table, RefGisNode.__table__)
links_t = cast(Table, RefGisLink.__table__)
changes_t = cast(Table, RefGisChange.__table__)
consumers_t = cast(Table, RefConsumer.__table__)

SUBSTATIONS_PER_DC = 3
FEEDERS_PER_SUBSTATION = 5
CONSUMERS_PER_DT = 40
MAX_DTS_PER_FEEDER = 40
DT_RATINGS_KVA = (25, 63, 63, 100, 100, 100, 200, 315)
UNMAPPED_SHARE = 0.004
_CHUNK = 5_000
_NODE_COLUMNS = (
    "code",
    "kind",
    "parent_code",
    "office_code",
    "name_en",
    "name_hi",
    "meter_no",
    "capacity_kva",
    "in_service",
)


@dataclass(frozen=True)
class DistributionCentre:
    """What the generator needs of a DC: its code and number, and its district's names."""

    code: str
    number: int
    district_en: str
    district_hi: str


@implementer(INetwork)
class ReferenceNetwork:
    system = SYSTEM

    def __init__(self, engine: Engine, delay_seconds: float = 0.0) -> None:
        if delay_seconds < 0:
            raise ValueError("connector network: setting 'delay_seconds' must not be negative")
        self.engine = engine
        self.delay_seconds = delay_seconds

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceNetwork:
        return cls(context.reference_store(), context.float_option("delay_seconds", 0.0))

    def _wait(self) -> None:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)

    def heartbeat(self) -> None:
        self._wait()
        with reference_transaction(self.engine, self.system) as conn:
            conn.execute(select(changes_t.c.seq).limit(1)).first()

    def changes(self, after: int, limit: int) -> ChangePage:
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1..{MAX_PAGE}")
        self._wait()
        with reference_transaction(self.engine, self.system) as conn:
            rows = conn.execute(
                select(changes_t.c.seq, changes_t.c.entity, changes_t.c.key)
                .where(changes_t.c.seq > after)
                .order_by(changes_t.c.seq)
                .limit(limit + 1)
            ).all()
            more = len(rows) > limit
            rows = rows[:limit]
            node_keys = {r.key for r in rows if r.entity == "node"}
            link_keys = {r.key for r in rows if r.entity == "link"}
            nodes = (
                {
                    row.code: _node(row)
                    for row in conn.execute(select(nodes_t).where(nodes_t.c.code.in_(node_keys))).all()
                }
                if node_keys
                else {}
            )
            links = (
                {
                    row.consumer_number: ConsumerLink(row.consumer_number, row.dt_code)
                    for row in conn.execute(
                        select(links_t).where(links_t.c.consumer_number.in_(link_keys))
                    ).all()
                }
                if link_keys
                else {}
            )
        changes = tuple(
            NetworkChange(r.seq, node=nodes[r.key])
            if r.entity == "node"
            else NetworkChange(r.seq, link=links[r.key])
            for r in rows
        )
        return ChangePage(changes, rows[-1].seq if rows else after, more)

    # -- what the GIS's own users do (tests, demo) ---------------------------------------

    def put_node(self, node: NetworkNode) -> None:
        """Add or change a node, as a GIS editor would; it enters the feed."""
        check_node(node)
        values = node.as_record()
        with reference_transaction(self.engine, self.system) as conn:
            updated = conn.execute(update(nodes_t).where(nodes_t.c.code == node.code).values(values)).rowcount
            if not updated:
                conn.execute(insert(nodes_t).values(values))
            conn.execute(insert(changes_t).values(entity="node", key=node.code))

    def link_consumer(self, consumer_number: str, dt_code: str | None) -> None:
        """Put a consumer on a DT (None: known, not mapped); it enters the feed."""
        with reference_transaction(self.engine, self.system) as conn:
            updated = conn.execute(
                update(links_t).where(links_t.c.consumer_number == consumer_number).values(dt_code=dt_code)
            ).rowcount
            if not updated:
                conn.execute(insert(links_t).values(consumer_number=consumer_number, dt_code=dt_code))
            conn.execute(insert(changes_t).values(entity="link", key=consumer_number))


def _node(row: Any) -> NetworkNode:
    return NetworkNode(
        code=row.code,
        kind=NodeKind(row.kind),
        parent_code=row.parent_code,
        office_code=row.office_code,
        name_en=row.name_en,
        name_hi=row.name_hi,
        meter_no=row.meter_no,
        capacity_kva=row.capacity_kva,
        in_service=bool(row.in_service),
    )


# -- demo network ----------------------------------------------------------------------------


def network_nodes(
    dcs: Sequence[DistributionCentre], seed: int, consumers: Mapping[str, int]
) -> list[NetworkNode]:
    """The demo network's nodes, parents before children; ``consumers`` counts them per DC code."""
    rng = random.Random(f"network:{seed}")
    nodes: list[NetworkNode] = []
    feeders_per_dc = SUBSTATIONS_PER_DC * FEEDERS_PER_SUBSTATION
    for dc in dcs:
        per_feeder = consumers.get(dc.code, 0) / feeders_per_dc / CONSUMERS_PER_DT
        for s in range(1, SUBSTATIONS_PER_DC + 1):
            substation = f"SS-{dc.number}-{s}"
            nodes.append(
                NetworkNode(
                    substation,
                    NodeKind.SUBSTATION,
                    None,
                    dc.code,
                    f"{dc.district_en} 33/11 kV Substation {dc.number}-{s}",
                    f"{dc.district_hi} 33/11 केवी उपकेन्द्र {dc.number}-{s}",
                    None,
                    None,
                    True,
                )
            )
            for f in range(1, FEEDERS_PER_SUBSTATION + 1):
                feeder = f"FDR-{dc.number}-{s}-{f:02d}"
                nodes.append(
                    NetworkNode(
                        feeder,
                        NodeKind.FEEDER,
                        substation,
                        dc.code,
                        f"11 kV Feeder {dc.number}-{s}-{f:02d}",
                        f"11 केवी फीडर {dc.number}-{s}-{f:02d}",
                        f"FM-{dc.number}{s}{f:02d}",
                        None,
                        True,
                    )
                )
                dts = min(MAX_DTS_PER_FEEDER, max(1, round(per_feeder * rng.uniform(0.67, 1.33))))
                for t in range(1, dts + 1):
                    code = f"DT-{dc.number}-{s}-{f:02d}-{t:03d}"
                    rating = rng.choice(DT_RATINGS_KVA)
                    nodes.append(
                        NetworkNode(
                            code,
                            NodeKind.DT,
                            feeder,
                            dc.code,
                            f"DT {dc.number}-{s}-{f:02d}-{t:03d} ({rating} kVA)",
                            f"वितरण ट्रांसफार्मर {dc.number}-{s}-{f:02d}-{t:03d} ({rating} केवीए)",
                            f"DM-{dc.number}{s}{f:02d}{t:03d}",
                            rating,
                            True,
                        )
                    )
    return nodes


def generate_network(conn: Connection, dcs: Sequence[DistributionCentre], seed: int) -> tuple[int, int]:
    """Replace the reference GIS with the demo network over the consumers billing holds.

    Returns (nodes, consumers without a DT). Runs in the caller's transaction.
    """
    for table in (changes_t, links_t, nodes_t):
        conn.execute(delete(table))
    per_dc: dict[str, int] = dict(
        conn.execute(select(consumers_t.c.dc_code, func.count()).group_by(consumers_t.c.dc_code))
        .tuples()
        .all()
    )
    nodes = network_nodes(dcs, seed, per_dc)
    for start in range(0, len(nodes), _CHUNK):
        part = nodes[start : start + _CHUNK]
        conn.execute(insert(nodes_t), [n.as_record() for n in part])
        conn.execute(insert(changes_t), [{"entity": "node", "key": n.code} for n in part])
    dts_by_office: dict[str, list[str]] = {}
    for node in nodes:
        if node.kind is NodeKind.DT:
            dts_by_office.setdefault(node.office_code, []).append(node.code)
    rng = random.Random(f"network-links:{seed}")
    unmapped = 0
    after = ""
    while True:
        rows = conn.execute(
            select(consumers_t.c.consumer_number, consumers_t.c.dc_code)
            .where(consumers_t.c.consumer_number > after)
            .order_by(consumers_t.c.consumer_number)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        links = []
        for number, dc_code in rows:
            dts = dts_by_office.get(dc_code)
            if not dts or rng.random() < UNMAPPED_SHARE:
                links.append({"consumer_number": number, "dt_code": None})
                unmapped += 1
            else:
                links.append({"consumer_number": number, "dt_code": rng.choice(dts)})
        conn.execute(insert(links_t), links)
        conn.execute(
            insert(changes_t), [{"entity": "link", "key": link["consumer_number"]} for link in links]
        )
        after = rows[-1].consumer_number
    return len(nodes), unmapped


def network_size(engine: Engine) -> dict[str, int]:
    """Nodes per kind and linked consumers: what the demo summary and the tests check."""
    with engine.connect() as conn:
        counts = {
            kind: count
            for kind, count in conn.execute(
                select(nodes_t.c.kind, func.count()).group_by(nodes_t.c.kind)
            ).all()
        }
        counts["consumers"] = conn.execute(select(func.count()).select_from(links_t)).scalar_one()
        counts["unmapped"] = conn.execute(
            select(func.count()).select_from(links_t).where(links_t.c.dt_code.is_(None))
        ).scalar_one()
    return counts
