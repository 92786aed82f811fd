"""The network behind the meters: the GIS's change feed applied, and what it answers.

The feed is applied page by page (:meth:`NetworkService.sync`, a periodic job of hub-worker and
``hub-admin <ini> network sync``): each page's records and the feed position commit in one
transaction, so a crash repeats at most one page and nothing is skipped. A record is only
overwritten by a change with a higher sequence number, so a page applied twice, or an older
page applied after a newer one (a command racing the job), never rolls the network back.

A consumer is **unmapped** when the GIS holds them without a DT (``no_dt``), on a DT the hub
has not been sent (``unknown_dt``) or on a DT out of service (``dt_out_of_service``). They are
counted and listed for the office, never guessed onto a DT.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyramid.registry import Registry
from sqlalchemy import Select, and_, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from connectors.errors import ConnectorUnavailable
from connectors.network import MAX_PAGE, ChangePage
from hub.lookup import process_service
from hub.models.meta import utcnow
from hub.models.network import ConsumerSupply, NetworkFeed, NetworkNode
from hub.outbox import unit_of_work
from hub.systems import Connectors

log = logging.getLogger(__name__)

FEED_SOURCE = "gis"
UNMAPPED_REASONS = ("no_dt", "unknown_dt", "dt_out_of_service")


@dataclass(frozen=True)
class NetworkSettings:
    sync_interval_seconds: int
    page_size: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> NetworkSettings:
        page_size = int(settings["hub.network.page_size"])
        if page_size > MAX_PAGE:
            raise ValueError(f"hub.network.page_size: at most {MAX_PAGE}")
        return cls(int(settings["hub.network.sync_interval_seconds"]), page_size)


@dataclass(frozen=True)
class SyncReport:
    pages: int
    changes: int
    last_seq: int
    # False when the feed was read to its end.
    more: bool


class NetworkService:
    def __init__(self, registry: Registry, settings: NetworkSettings) -> None:
        self.registry = registry
        self.settings = settings

    def _gis(self) -> Any:
        """The INetwork connector (zope interfaces are not types mypy follows)."""
        return process_service(self.registry, Connectors).require("network")

    # -- the feed ------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Read the feed to its end now; ConnectorUnavailable if the GIS cannot answer."""
        return sync_network(self.registry, self._gis(), self.settings.page_size)

    def sync_job(self) -> None:
        """The periodic job: read the feed to its end; a GIS that is down is tried at the next run."""
        try:
            report = self.sync()
        except ConnectorUnavailable as exc:
            log.warning("network feed not read: %s", exc)
            return
        if report.changes:
            log.info("network feed applied", extra={"changes": report.changes, "last_seq": report.last_seq})


def sync_network(
    registry: Mapping[str, Any], gis: Any, page_size: int, max_pages: int | None = None
) -> SyncReport:
    """Apply the changes of ``gis`` (an INetwork) after the recorded position, up to ``max_pages`` pages.

    ConnectorUnavailable (GIS down, garbage page) ends the run: the pages applied before stay,
    the position stays at the last one, the next run goes on from there.
    """
    pages = changes = 0
    with unit_of_work(registry) as session:
        position = feed_position(session)
    while max_pages is None or pages < max_pages:
        # Asked outside any transaction of the hub's: a slow GIS holds no lock of ours.
        page = gis.changes(position, page_size)
        with unit_of_work(registry) as session:
            apply_page(session, page)
        pages += 1
        changes += len(page.changes)
        position = page.last_seq
        if not page.more:
            return SyncReport(pages, changes, position, False)
    return SyncReport(pages, changes, position, True)


def feed_position(session: Session, source: str = FEED_SOURCE) -> int:
    """The last change number applied of feed ``source`` (0: none yet)."""
    last = session.scalar(select(NetworkFeed.last_seq).where(NetworkFeed.source == source))
    return int(last or 0)


def advance_feed(session: Session, source: str, last_seq: int) -> None:
    """Record that feed ``source`` is applied up to ``last_seq``, in the caller's transaction.

    The position only moves forward: a page older than what is recorded changes nothing of it."""
    now = utcnow()
    feed = session.get(NetworkFeed, source, with_for_update=True)
    if feed is None:
        session.add(NetworkFeed(source=source, last_seq=last_seq, synced_at=now))
    else:
        feed.last_seq = max(feed.last_seq, last_seq)
        feed.synced_at = now
    session.flush()


def _upsert(session: Session, model: Any, key: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(model)
    table = model.__table__
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[key],
            set_={name: statement.excluded[name] for name in rows[0] if name != key},
            # A change only ever replaces an older one: pages applied twice or out of order are harmless.
            where=table.c.seq < statement.excluded.seq,
        ),
        rows,
    )


def apply_page(session: Session, page: ChangePage) -> None:
    """Write a page's records and the new feed position, in the caller's transaction.

    The position only moves forward: a page older than what is recorded changes nothing of it.
    """
    now = utcnow()
    nodes: dict[str, dict[str, Any]] = {}
    links: dict[str, dict[str, Any]] = {}
    for change in page.changes:
        if change.node is not None:
            node = change.node
            nodes[node.code] = {**node.as_record(), "seq": change.seq, "updated_at": now}
        elif change.link is not None:
            links[change.link.consumer_number] = {
                "consumer_number": change.link.consumer_number,
                "dt_code": change.link.dt_code,
                "seq": change.seq,
                "updated_at": now,
            }
    _upsert(session, NetworkNode, "code", list(nodes.values()))
    _upsert(session, ConsumerSupply, "consumer_number", list(links.values()))
    advance_feed(session, FEED_SOURCE, page.last_seq)


# -- what the network answers ---------------------------------------------------------------------


def node_json(node: NetworkNode) -> dict[str, Any]:
    return {
        "code": node.code,
        "kind": node.kind,
        "parent_code": node.parent_code,
        "office_code": node.office_code,
        "name_en": node.name_en,
        "name_hi": node.name_hi,
        "meter_no": node.meter_no,
        "capacity_kva": node.capacity_kva,
        "in_service": node.in_service,
    }


def supply_of(session: Session, consumer_number: str) -> dict[str, Any] | None:
    """The consumer's DT, feeder and substation, and what is wrong if the chain is broken;
    None when the GIS has never sent the consumer."""
    supply = session.get(ConsumerSupply, consumer_number)
    if supply is None:
        return None
    chain: dict[str, Any] = {"dt": None, "feeder": None, "substation": None}
    problem: str | None = None
    if supply.dt_code is None:
        problem = "no_dt"
    else:
        code: str | None = supply.dt_code
        for kind in ("dt", "feeder", "substation"):
            node = session.get(NetworkNode, code) if code else None
            if node is None or node.kind != kind:
                problem = problem or ("unknown_dt" if kind == "dt" else "broken_chain")
                break
            chain[kind] = node_json(node)
            if not node.in_service:
                problem = problem or ("dt_out_of_service" if kind == "dt" else "out_of_service")
            code = node.parent_code
    return {"consumer_number": consumer_number, **chain, "mapped": problem is None, "problem": problem}


def consumers_below(code: str) -> Select[Any]:
    """The consumer numbers supplied through node ``code`` (a substation, feeder or DT), as a query."""
    below = select(NetworkNode.code).where(NetworkNode.code == code).cte("below", recursive=True)
    child = aliased(NetworkNode)
    below = below.union_all(select(child.code).where(child.parent_code == below.c.code))
    return select(ConsumerSupply.consumer_number).join(below, ConsumerSupply.dt_code == below.c.code)


def _unmapped_query() -> Select[Any]:
    dt = aliased(NetworkNode)
    reason = (
        select(ConsumerSupply.consumer_number, ConsumerSupply.dt_code, literal("no_dt").label("reason"))
        .where(ConsumerSupply.dt_code.is_(None))
        .union_all(
            select(ConsumerSupply.consumer_number, ConsumerSupply.dt_code, literal("unknown_dt"))
            .outerjoin(dt, and_(dt.code == ConsumerSupply.dt_code, dt.kind == "dt"))
            .where(ConsumerSupply.dt_code.is_not(None), dt.code.is_(None)),
            select(ConsumerSupply.consumer_number, ConsumerSupply.dt_code, literal("dt_out_of_service"))
            .join(dt, and_(dt.code == ConsumerSupply.dt_code, dt.kind == "dt"))
            .where(dt.in_service.is_(False)),
        )
        .subquery("unmapped")
    )
    return select(reason.c.consumer_number, reason.c.dt_code, reason.c.reason)


def unmapped_counts(session: Session) -> dict[str, int]:
    found = _unmapped_query().subquery()
    counts: dict[str, int] = dict(
        session.execute(select(found.c.reason, func.count()).group_by(found.c.reason)).tuples().all()
    )
    return {reason: int(counts.get(reason, 0)) for reason in UNMAPPED_REASONS}


def unmapped(session: Session, after: str, limit: int, reason: str | None = None) -> list[dict[str, Any]]:
    """Unmapped consumers in consumer-number order after ``after`` (keyset paging)."""
    found = _unmapped_query().subquery()
    query = select(found).where(found.c.consumer_number > after)
    if reason:
        query = query.where(found.c.reason == reason)
    rows = session.execute(query.order_by(found.c.consumer_number).limit(limit)).all()
    return [{"consumer_number": r.consumer_number, "dt_code": r.dt_code, "reason": r.reason} for r in rows]
