"""The energy audit: energy into each feeder and DT against what its consumers were billed and paid.

A month's audit (:func:`run_audit`) has two steps in one transaction of the hub's:

1. **Import.** The readings of the feeder and DT meters from the first of the month, 00:00
   India time, to the first of the next month (the MDAS, :mod:`connectors.meterdata`), and
   billing's month per connection (units and amount billed, amount collected:
   ``IBilling.period_sales``), each connection placed on the DT the network supplies it from
   now and compared with the DT of the last audited month. Both sides are the same calendar
   month: the meters' midnight snapshots bracket it, billing's month is its billing period.
2. **Compute** (:func:`compute`), set-based SQL only: per meter the opening and closing
   register, per node the energy in, then DTs, feeders, distribution centres, divisions,
   circles and the discom, each a row of ``energy_audit_results``.

Nothing is guessed. A node whose readings do not bracket the month (a snapshot missing, a meter
replaced without both its final and its successor's initial reading), or whose register went
backwards, has **no input**; it is flagged and its consumers' billing is left out of the loss
(``audited_billed_wh``), while what they were billed and paid still counts in billing and
collection. A meter replaced with both readings is exact and still flagged. Consumers who moved
to another DT since the last audited month are flagged on both DTs; consumers the network places
on no working DT are counted at the discom (``consumers_unmapped``).

Ratios follow from the stored sums (:func:`measures`): loss = input − billed against it;
billing efficiency = billed / input; collection efficiency = collected / billed (rupees);
AT&C loss = 1 − billing efficiency × collection efficiency.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any, cast
from zoneinfo import ZoneInfo

from pyramid.registry import Registry
from sqlalchemy import Table, and_, case, delete, func, insert, literal, not_, or_, select
from sqlalchemy.orm import Session

from connectors.billing import ConsumerSales, OfficeCodes, is_period
from connectors.errors import ConnectorError, ConnectorUnavailable
from connectors.meterdata import MeterReading
from hub.lookup import process_service
from hub.models.energy import (
    EnergyAudit,
    EnergyAuditFlag,
    EnergyAuditResult,
    EnergyDtSales,
    EnergyNodeInput,
    EnergyOffice,
    EnergyReading,
    EnergySale,
)
from hub.models.meta import utcnow
from hub.models.network import ConsumerSupply, NetworkNode
from hub.network.service import NetworkService
from hub.offices import DISCOM, record_chains
from hub.outbox import unit_of_work
from hub.systems import Connectors

log = logging.getLogger(__name__)

INDIA = ZoneInfo("Asia/Kolkata")
LEVELS = ("discom", "circle", "division", "dc", "feeder", "dt")
CHILD_LEVEL = dict(pairwise(LEVELS))
FLAGS = {
    "reading_missing": ("पठन अनुपलब्ध", "a reading is missing: no input"),
    "reading_backwards": ("पठन घटा", "the register went backwards: no input"),
    "meter_replaced": ("मीटर बदला गया", "meter replaced during the month"),
    "unmetered": ("मीटर नहीं", "no meter on the node"),
    "consumer_moved_in": ("उपभोक्ता आए", "consumers moved here from another DT"),
    "consumer_moved_out": ("उपभोक्ता गए", "consumers moved from here to another DT"),
    "consumers_unmapped": ("उपभोक्ता अनिर्धारित", "consumers on no working DT"),
    "office_unknown": ("कार्यालय अज्ञात", "billing named no division for the DC"),
}
_CHUNK = 5_000
PERCENT = Decimal("0.01")
RATIO = Decimal("0.0001")

results_t = cast(Table, EnergyAuditResult.__table__)
flags_t = cast(Table, EnergyAuditFlag.__table__)
readings_t = cast(Table, EnergyReading.__table__)
sales_t = cast(Table, EnergySale.__table__)
offices_t = cast(Table, EnergyOffice.__table__)
nodes_t = cast(Table, NetworkNode.__table__)
inputs_t = cast(Table, EnergyNodeInput.__table__)
dt_sales_t = cast(Table, EnergyDtSales.__table__)


class AuditRefused(ValueError):
    """The audit cannot be run for this period (malformed, not over yet)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AuditReport:
    period: str
    readings: int
    consumers: int
    nodes: int
    flags: int


def month_window(period: str) -> tuple[datetime, datetime]:
    """00:00 India time on the first of ``period`` and on the first of the next month, in UTC."""
    if not is_period(period):
        raise AuditRefused("period_invalid", "period must be YYYY-MM")
    first = date(int(period[:4]), int(period[5:]), 1)
    after = (first + timedelta(days=32)).replace(day=1)
    return (
        datetime.combine(first, time(0), INDIA).astimezone(UTC),
        datetime.combine(after, time(0), INDIA).astimezone(UTC),
    )


def check_period_over(period: str, now: datetime | None = None) -> None:
    """An audit is of a month that has ended (its closing snapshot exists)."""
    _start, end = month_window(period)
    if end > (now or utcnow()):
        raise AuditRefused("period_not_over", "the month has not ended yet")


def previous_month(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


# -- import ------------------------------------------------------------------------------------


def import_readings(session: Session, readings: Iterable[MeterReading], period: str) -> int:
    start, end = month_window(period)
    session.execute(delete(readings_t).where(readings_t.c.period == period))
    count = 0
    batch: list[dict[str, Any]] = []
    for r in readings:
        at = r.read_at.astimezone(UTC)
        if not start <= at <= end:
            # Outside the month: the connector answered more than asked; never counted.
            continue
        position = "open" if at == start else "close" if at == end else "inside"
        batch.append(
            {
                "period": period,
                "node_code": r.node_code,
                "meter_no": r.meter_no,
                "read_at": at,
                "register_wh": r.register_wh,
                "kind": r.kind.value,
                "position": position,
            }
        )
        if len(batch) == _CHUNK:
            session.execute(insert(readings_t), batch)
            count += len(batch)
            batch = []
    if batch:
        session.execute(insert(readings_t), batch)
        count += len(batch)
    return count


def _paise(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(ROUND_HALF_UP))


def import_sales(session: Session, sales: Iterable[ConsumerSales], period: str) -> int:
    """Billing's month per connection, each placed on its DT now and on that of the last audited month."""
    session.execute(delete(sales_t).where(sales_t.c.period == period))
    session.execute(delete(offices_t).where(offices_t.c.period == period))
    before = session.scalar(
        select(func.max(EnergyAudit.period)).where(
            EnergyAudit.period < period, EnergyAudit.computed_at.is_not(None)
        )
    )
    offices: dict[str, OfficeCodes] = {}
    count = 0
    batch: list[ConsumerSales] = []

    def flush() -> None:
        numbers = [s.consumer_number for s in batch]
        now_on = dict(
            session.execute(
                select(ConsumerSupply.consumer_number, ConsumerSupply.dt_code).where(
                    ConsumerSupply.consumer_number.in_(numbers)
                )
            )
            .tuples()
            .all()
        )
        was_on: dict[str, str | None] = {}
        if before is not None:
            was_on = dict(
                session.execute(
                    select(sales_t.c.consumer_number, sales_t.c.dt_code).where(
                        sales_t.c.period == before, sales_t.c.consumer_number.in_(numbers)
                    )
                )
                .tuples()
                .all()
            )
        rows = []
        for s in batch:
            dt = now_on.get(s.consumer_number)
            was = was_on.get(s.consumer_number)
            rows.append(
                {
                    "period": period,
                    "consumer_number": s.consumer_number,
                    "units": s.units,
                    "billed_paise": _paise(s.billed),
                    "collected_paise": _paise(s.collected),
                    "dt_code": dt,
                    "moved_from": was if was is not None and was != dt else None,
                }
            )
            offices.setdefault(s.offices.dc, s.offices)
        session.execute(insert(sales_t), rows)

    for sale in sales:
        batch.append(sale)
        if len(batch) == _CHUNK:
            flush()
            count += len(batch)
            batch = []
    if batch:
        flush()
        count += len(batch)
    if offices:
        session.execute(
            insert(offices_t),
            [
                {"period": period, "dc_code": dc, "division_code": o.division, "circle_code": o.circle}
                for dc, o in offices.items()
            ],
        )
        # The month's offices are also what officers' jurisdictions are worked out from.
        record_chains(session, offices.values())
    return count


# -- compute -----------------------------------------------------------------------------------


def _node_inputs(period: str) -> Any:
    """INSERT … SELECT of each node's readings summed: per meter the opening and closing register
    (a snapshot at the month's edge, or a replacement's initial / final reading) and the readings
    lower than the one before, then per node."""
    r = readings_t.c
    lagged = (
        select(
            r.node_code,
            r.meter_no,
            r.register_wh,
            r.kind,
            r.position,
            func.lag(r.register_wh)
            .over(partition_by=(r.node_code, r.meter_no), order_by=(r.read_at, r.id))
            .label("prev_wh"),
        )
        .where(r.period == period)
        .subquery("lagged")
    )
    lg = lagged.c
    meter = (
        select(
            lg.node_code,
            func.max(case((or_(lg.position == "open", lg.kind == "initial"), lg.register_wh))).label(
                "open_wh"
            ),
            func.max(case((or_(lg.position == "close", lg.kind == "final"), lg.register_wh))).label(
                "close_wh"
            ),
            func.sum(case((and_(lg.position == "open", lg.kind == "snapshot"), 1), else_=0)).label("opens"),
            func.sum(case((and_(lg.position == "close", lg.kind == "snapshot"), 1), else_=0)).label("closes"),
            func.sum(case((lg.kind == "final", 1), else_=0)).label("finals"),
            func.sum(case((lg.prev_wh > lg.register_wh, 1), else_=0)).label("backwards"),
        )
        .group_by(lg.node_code, lg.meter_no)
        .subquery("meter")
    )
    m = meter.c
    query = select(
        literal(period),
        m.node_code,
        func.sum(m.close_wh - m.open_wh),
        func.count(),
        func.sum(m.opens),
        func.sum(m.closes),
        func.sum(m.finals),
        func.sum(case((or_(m.open_wh.is_(None), m.close_wh.is_(None)), 1), else_=0)),
        func.sum(m.backwards),
    ).group_by(m.node_code)
    return insert(inputs_t).from_select(
        ["period", "node_code", "energy_wh", "meters", "opens", "closes", "finals", "open_ends", "backwards"],
        query,
    )


def _dt_sales(period: str) -> Any:
    """INSERT … SELECT of billing's month summed per DT: the one pass over the month's connections."""
    s = sales_t.c
    query = (
        select(
            literal(period),
            s.dt_code,
            func.count(),
            func.sum(s.units),
            func.sum(s.billed_paise),
            func.sum(s.collected_paise),
            func.sum(case((s.moved_from.is_not(None), 1), else_=0)),
        )
        .where(s.period == period)
        .group_by(s.dt_code)
    )
    return insert(dt_sales_t).from_select(
        ["period", "dt_code", "consumers", "units", "billed_paise", "collected_paise", "moved_in"], query
    )


def _month_inputs(period: str) -> Any:
    i = inputs_t.c
    return select(inputs_t).where(i.period == period).subquery("node_input")


def _complete(ni: Any) -> Any:
    """The readings bracket the month: one opening and one closing snapshot, every meter opened and
    closed, one meter more than final readings (each replacement recorded)."""
    return and_(
        ni.c.opens == 1,
        ni.c.closes == 1,
        ni.c.open_ends == 0,
        ni.c.meters == ni.c.finals + 1,
    )


def _valid(ni: Any) -> Any:
    return and_(_complete(ni), ni.c.backwards == 0)


def _flag_rows(period: str) -> list[Any]:
    """INSERT … SELECTs of every flag of the month's feeders and DTs."""
    ni = _month_inputs(period)
    n = nodes_t.c
    metered = (
        select(n.code, n.kind, ni)
        .select_from(nodes_t.outerjoin(ni, ni.c.node_code == n.code))
        .where(n.kind.in_(("feeder", "dt")), n.in_service.is_(True), n.meter_no.is_not(None))
        .subquery("metered")
    )
    mc = metered.c
    columns = ["period", "level", "code", "flag", "count"]

    def flag(name: str, count: Any, where: Any) -> Any:
        return insert(flags_t).from_select(
            columns, select(literal(period), mc.kind, mc.code, literal(name), count).where(where)
        )

    s = sales_t.c
    d = dt_sales_t.c
    return [
        flag("reading_missing", literal(1), or_(mc.node_code.is_(None), not_(_complete(metered)))),
        flag("reading_backwards", mc.backwards, mc.backwards > 0),
        flag("meter_replaced", mc.finals, mc.finals > 0),
        insert(flags_t).from_select(
            columns,
            select(literal(period), n.kind, n.code, literal("unmetered"), literal(1)).where(
                n.kind.in_(("feeder", "dt")), n.in_service.is_(True), n.meter_no.is_(None)
            ),
        ),
        insert(flags_t).from_select(
            columns,
            select(literal(period), literal("dt"), d.dt_code, literal("consumer_moved_in"), d.moved_in).where(
                d.period == period, d.moved_in > 0, d.dt_code.is_not(None)
            ),
        ),
        insert(flags_t).from_select(
            columns,
            select(literal(period), literal("dt"), s.moved_from, literal("consumer_moved_out"), func.count())
            .where(s.period == period, s.moved_from.is_not(None))
            .group_by(s.moved_from),
        ),
    ]


RESULT_COLUMNS = [
    "period",
    "level",
    "code",
    "parent_code",
    "consumers",
    "input_wh",
    "billed_wh",
    "audited_billed_wh",
    "billed_paise",
    "collected_paise",
    "nodes",
    "nodes_with_input",
    "flags",
]


def _flag_counts(period: str, level: str) -> Any:
    f = flags_t.c
    return (
        select(f.code, func.count().label("flags"))
        .where(f.period == period, f.level == level)
        .group_by(f.code)
        .subquery(f"{level}_flags")
    )


def _dt_rows(period: str) -> Any:
    sold = select(dt_sales_t).where(dt_sales_t.c.period == period).subquery("sold")
    ni = _month_inputs(period)
    fc = _flag_counts(period, "dt")
    n = nodes_t.c
    billed_wh = func.coalesce(sold.c.units, 0) * 1000
    valid = _valid(ni)
    query = (
        select(
            literal(period),
            literal("dt"),
            n.code,
            n.parent_code,
            func.coalesce(sold.c.consumers, 0),
            case((valid, ni.c.energy_wh)),
            billed_wh,
            case((valid, billed_wh), else_=0),
            func.coalesce(sold.c.billed_paise, 0),
            func.coalesce(sold.c.collected_paise, 0),
            case((n.meter_no.is_(None), 0), else_=1),
            case((valid, 1), else_=0),
            func.coalesce(fc.c.flags, 0),
        )
        .select_from(
            nodes_t.outerjoin(sold, sold.c.dt_code == n.code)
            .outerjoin(ni, ni.c.node_code == n.code)
            .outerjoin(fc, fc.c.code == n.code)
        )
        .where(n.kind == "dt", n.in_service.is_(True))
    )
    return insert(results_t).from_select(RESULT_COLUMNS, query)


def _feeder_rows(period: str) -> Any:
    dts = (
        select(
            results_t.c.parent_code,
            func.sum(results_t.c.consumers).label("consumers"),
            func.sum(results_t.c.billed_wh).label("billed_wh"),
            func.sum(results_t.c.billed_paise).label("billed_paise"),
            func.sum(results_t.c.collected_paise).label("collected_paise"),
            func.sum(results_t.c.flags).label("flags"),
        )
        .where(results_t.c.period == period, results_t.c.level == "dt")
        .group_by(results_t.c.parent_code)
        .subquery("dts")
    )
    ni = _month_inputs(period)
    fc = _flag_counts(period, "feeder")
    n = nodes_t.c
    valid = _valid(ni)
    billed_wh = func.coalesce(dts.c.billed_wh, 0)
    query = (
        select(
            literal(period),
            literal("feeder"),
            n.code,
            n.office_code,
            func.coalesce(dts.c.consumers, 0),
            case((valid, ni.c.energy_wh)),
            billed_wh,
            case((valid, billed_wh), else_=0),
            func.coalesce(dts.c.billed_paise, 0),
            func.coalesce(dts.c.collected_paise, 0),
            case((n.meter_no.is_(None), 0), else_=1),
            case((valid, 1), else_=0),
            func.coalesce(fc.c.flags, 0) + func.coalesce(dts.c.flags, 0),
        )
        .select_from(
            nodes_t.outerjoin(dts, dts.c.parent_code == n.code)
            .outerjoin(ni, ni.c.node_code == n.code)
            .outerjoin(fc, fc.c.code == n.code)
        )
        .where(n.kind == "feeder", n.in_service.is_(True))
    )
    return insert(results_t).from_select(RESULT_COLUMNS, query)


def _rollup(period: str, child: str, level: str, parent: Any, join: Any = None, where: Any = None) -> Any:
    """Rows of ``level`` as sums of the ``child`` rows grouped by their parent code."""
    r = results_t.c
    source: Any = results_t if join is None else results_t.outerjoin(*join)
    query = (
        select(
            literal(period),
            literal(level),
            r.parent_code,
            parent,
            func.sum(r.consumers),
            func.sum(r.input_wh),
            func.sum(r.billed_wh),
            func.sum(r.audited_billed_wh),
            func.sum(r.billed_paise),
            func.sum(r.collected_paise),
            func.sum(r.nodes),
            func.sum(r.nodes_with_input),
            func.sum(r.flags),
        )
        .select_from(source)
        .where(r.period == period, r.level == child, *(() if where is None else (where,)))
        .group_by(r.parent_code, parent)
    )
    return insert(results_t).from_select(RESULT_COLUMNS, query)


def compute(session: Session, period: str) -> int:
    """The month's results from its imported rows, replacing any earlier ones. Returns the nodes."""
    for table in (results_t, flags_t, inputs_t, dt_sales_t):
        session.execute(delete(table).where(table.c.period == period))
    session.execute(_node_inputs(period))
    session.execute(_dt_sales(period))
    for statement in _flag_rows(period):
        session.execute(statement)
    session.execute(_dt_rows(period))
    session.execute(_feeder_rows(period))
    o = offices_t.c
    # A DC billing named no division for (no consumer billed) still has feeders: it rolls up to
    # the discom directly, flagged, so no energy drops out of the discom's total.
    division = func.coalesce(o.division_code, DISCOM)
    session.execute(
        _rollup(
            period,
            "feeder",
            "dc",
            division,
            join=(offices_t, and_(o.period == period, o.dc_code == results_t.c.parent_code)),
        )
    )
    session.execute(
        insert(flags_t).from_select(
            ["period", "level", "code", "flag", "count"],
            select(
                literal(period), literal("dc"), results_t.c.code, literal("office_unknown"), literal(1)
            ).where(
                results_t.c.period == period, results_t.c.level == "dc", results_t.c.parent_code == DISCOM
            ),
        )
    )
    circles = (
        select(o.division_code, func.min(o.circle_code).label("circle_code"))
        .where(o.period == period)
        .group_by(o.division_code)
        .subquery("circles")
    )
    session.execute(
        _rollup(
            period,
            "dc",
            "division",
            func.coalesce(circles.c.circle_code, DISCOM),
            join=(circles, circles.c.division_code == results_t.c.parent_code),
            where=results_t.c.parent_code != DISCOM,
        )
    )
    session.execute(_rollup(period, "division", "circle", literal(DISCOM)))
    _discom_row(session, period)
    return int(
        session.scalar(select(func.count()).select_from(results_t).where(results_t.c.period == period)) or 0
    )


def _discom_row(session: Session, period: str) -> None:
    """The whole discom: energy from its circles (and DCs without one); billing and collection of
    every connection billed, placed on a DT or not."""
    r = results_t.c
    d = dt_sales_t.c
    below = session.execute(
        select(
            func.sum(r.input_wh),
            func.coalesce(func.sum(r.audited_billed_wh), 0),
            func.coalesce(func.sum(r.nodes), 0),
            func.coalesce(func.sum(r.nodes_with_input), 0),
            func.coalesce(func.sum(r.flags), 0),
        ).where(r.period == period, r.parent_code == DISCOM, r.level.in_(("circle", "dc")))
    ).one()
    on_dts = int(
        session.scalar(
            select(func.coalesce(func.sum(r.consumers), 0)).where(r.period == period, r.level == "dt")
        )
        or 0
    )
    sold = session.execute(
        select(
            func.coalesce(func.sum(d.consumers), 0),
            func.coalesce(func.sum(d.units), 0),
            func.coalesce(func.sum(d.billed_paise), 0),
            func.coalesce(func.sum(d.collected_paise), 0),
        ).where(d.period == period)
    ).one()
    unmapped = int(sold[0]) - on_dts
    flags = int(below[4])
    if unmapped:
        session.execute(
            insert(flags_t).values(
                period=period, level="discom", code=DISCOM, flag="consumers_unmapped", count=unmapped
            )
        )
        flags += 1
    session.execute(
        insert(results_t).values(
            period=period,
            level="discom",
            code=DISCOM,
            parent_code=None,
            consumers=int(sold[0]),
            input_wh=below[0],
            billed_wh=int(sold[1]) * 1000,
            audited_billed_wh=int(below[1]),
            billed_paise=int(sold[2]),
            collected_paise=int(sold[3]),
            nodes=int(below[2]),
            nodes_with_input=int(below[3]),
            flags=flags,
        )
    )


# -- the whole month ------------------------------------------------------------------------------


def run_audit(
    registry: Mapping[str, Any],
    mdas: Any,
    billing: Any,
    period: str,
    requested_by: str = "hub-worker",
    unless_computed_since: datetime | None = None,
) -> AuditReport | None:
    """Import and compute ``period`` in one transaction: a system down (ConnectorUnavailable) or a
    garbage answer leaves the month as it was (its earlier results, if any) and raises.

    None, with nothing done, when the month was computed at or after ``unless_computed_since``
    (another worker ran it while this one waited for the month's lock)."""
    start, end = month_window(period)
    with unit_of_work(registry) as session:
        # One run of a month at a time (the job and hub-admin may race): the second waits here.
        audit = session.get(EnergyAudit, period, with_for_update=True)
        if (
            audit is not None
            and unless_computed_since is not None
            and audit.state == "computed"
            and audit.computed_at is not None
            and audit.computed_at >= unless_computed_since
        ):
            return None
        if audit is None:
            audit = EnergyAudit(
                period=period, state="requested", requested_at=utcnow(), requested_by=requested_by[:64]
            )
            audit.readings = audit.consumers = 0
            session.add(audit)
            session.flush()
        readings = import_readings(session, mdas.readings(start, end), period)
        consumers = import_sales(session, billing.period_sales(period), period)
        nodes = compute(session, period)
        flags = int(
            session.scalar(select(func.count()).select_from(flags_t).where(flags_t.c.period == period)) or 0
        )
        now = utcnow()
        audit.state = "computed"
        audit.computed_at = now
        audit.readings = readings
        audit.consumers = consumers
        audit.last_error = None
    return AuditReport(period, readings, consumers, nodes, flags)


def request_audit(session: Session, period: str, requested_by: str) -> EnergyAudit:
    """Ask hub-worker to (re)compute ``period``; AuditRefused for a malformed or unfinished month."""
    check_period_over(period)
    audit = session.get(EnergyAudit, period, with_for_update=True)
    if audit is None:
        audit = EnergyAudit(
            period=period, requested_at=utcnow(), requested_by=requested_by[:64], readings=0, consumers=0
        )
        session.add(audit)
    audit.state = "requested"
    audit.requested_at = utcnow()
    audit.requested_by = requested_by[:64]
    session.flush()
    return audit


class EnergyService:
    """The periodic job and what views ask of the audit."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def systems(self) -> tuple[Any, Any]:
        """The MDAS and billing connectors; ConnectorUnavailable if either is not configured."""
        connectors = process_service(self.registry, Connectors)
        return connectors.require("meterdata"), connectors.require("billing")

    def audit_job(self) -> None:
        """hub-worker: audit last month once it is over, and every month an officer asked for."""
        began = utcnow()
        with unit_of_work(self.registry) as session:
            due = list(
                session.scalars(select(EnergyAudit.period).where(EnergyAudit.state == "requested")).all()
            )
            last = previous_month(datetime.now(INDIA).date())
            if session.get(EnergyAudit, last) is None:
                due.append(last)
        if not due:
            return
        try:
            # The audit places each consumer on the DT the network supplies it from: the GIS's feed
            # is read to its end first, so no month is computed on a network not yet (fully) in.
            process_service(self.registry, NetworkService).sync()
        except ConnectorError as exc:
            log.warning("energy audit not run: network not current", extra={"error": str(exc)})
            for period in sorted(set(due)):
                self._note_failure(period, exc)
            return
        for period in sorted(set(due)):
            try:
                mdas, billing = self.systems()
                report = run_audit(self.registry, mdas, billing, period, unless_computed_since=began)
            except ConnectorError as exc:
                log.warning("energy audit not run", extra={"period": period, "error": str(exc)})
                self._note_failure(period, exc)
                continue
            if report is not None:
                log.info("energy audit computed", extra=report.__dict__)

    def _note_failure(self, period: str, exc: ConnectorError) -> None:
        with unit_of_work(self.registry) as session:
            audit = session.get(EnergyAudit, period, with_for_update=True)
            if audit is None:
                audit = EnergyAudit(
                    period=period, state="requested", requested_at=utcnow(), requested_by="hub-worker"
                )
                audit.readings = audit.consumers = 0
                session.add(audit)
            reason = "a system is down" if isinstance(exc, ConnectorUnavailable) else "a system refused"
            audit.last_error = f"{reason}: {getattr(exc, 'system', '')}"[:200]


# -- reading the results ------------------------------------------------------------------------


def _ratio(numerator: int, denominator: int | None) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATIO, ROUND_HALF_UP)


def measures(row: EnergyAuditResult) -> dict[str, Any]:
    """A node's month as the discom reports it: kWh and rupees, ratios as fractions (0.1234 = 12.34 %)."""
    input_wh = row.input_wh
    billing_efficiency = _ratio(row.audited_billed_wh, input_wh)
    collection_efficiency = _ratio(row.collected_paise, row.billed_paise)
    atc = (
        (1 - billing_efficiency * collection_efficiency).quantize(RATIO, ROUND_HALF_UP)
        if billing_efficiency is not None and collection_efficiency is not None
        else None
    )
    loss_wh = input_wh - row.audited_billed_wh if input_wh is not None else None
    return {
        "period": row.period,
        "level": row.level,
        "code": row.code,
        "parent_code": row.parent_code,
        "consumers": row.consumers,
        "input_kwh": _kwh(input_wh),
        "billed_kwh": _kwh(row.billed_wh),
        "audited_billed_kwh": _kwh(row.audited_billed_wh),
        "loss_kwh": _kwh(loss_wh),
        "loss": _ratio(loss_wh, input_wh) if loss_wh is not None else None,
        "billed_amount": Decimal(row.billed_paise) / 100,
        "collected_amount": Decimal(row.collected_paise) / 100,
        "billing_efficiency": billing_efficiency,
        "collection_efficiency": collection_efficiency,
        "atc_loss": atc,
        "nodes": row.nodes,
        "nodes_with_input": row.nodes_with_input,
        "flags": row.flags,
    }


def _kwh(wh: int | None) -> Decimal | None:
    return None if wh is None else (Decimal(wh) / 1000).quantize(Decimal("0.001"))


def result(session: Session, period: str, level: str, code: str) -> EnergyAuditResult | None:
    return session.get(EnergyAuditResult, (period, level, code))


def children(session: Session, period: str, level: str, code: str) -> list[EnergyAuditResult]:
    """The rows one level down from a node (the discom's: its circles, and DCs without a division)."""
    query = select(EnergyAuditResult).where(
        EnergyAuditResult.period == period, EnergyAuditResult.parent_code == code
    )
    if level == "discom":
        query = query.where(EnergyAuditResult.level.in_(("circle", "dc")))
    else:
        query = query.where(EnergyAuditResult.level == CHILD_LEVEL.get(level, ""))
    return list(session.scalars(query.order_by(EnergyAuditResult.level, EnergyAuditResult.code)).all())


def flags_of(session: Session, period: str, code: str) -> list[EnergyAuditFlag]:
    return list(
        session.scalars(
            select(EnergyAuditFlag)
            .where(EnergyAuditFlag.period == period, EnergyAuditFlag.code == code)
            .order_by(EnergyAuditFlag.flag)
        ).all()
    )


def audited_periods(session: Session) -> list[EnergyAudit]:
    return list(session.scalars(select(EnergyAudit).order_by(EnergyAudit.period.desc())).all())
