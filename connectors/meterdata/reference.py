"""Reference MDAS: feeder and DT meter readings simulated in the reference store.

:func:`generate_readings` writes the midnight snapshots (00:00 India time) of the first of a
billing month and of the first of the next month for every metered feeder and DT of the
reference GIS, and every midnight in between for a tenth of the feeders (the daily AMR schedule). A DT's energy is what billing billed
its consumers that month grossed up by a loss of 4-30 % (theft, low-tension line losses), a
feeder's what its DTs took plus 3-6 % (11 kV line and transformer losses), so the audit of the
demo month finds the losses a central-Indian discom reports. Same seed, same rows. On purpose,
as the field sends them:

* about 1 % of DT meters miss one of the two snapshots (modem out of coverage), and one
  feeder meter misses its closing snapshot;
* about 0.5 % of DT meters are replaced mid-month: the old meter's ``final`` and the new
  meter's ``initial`` reading, the new meter counting from zero;
* about 0.3 % of DT meters read lower at the end than at the start (a register reset or a
  meter swapped without a record).

Like an outside system it keeps its own short transactions; ``set_down(engine, "meterdata")``
makes every call raise ConnectorUnavailable and ``delay_seconds`` makes every call that slow.

ini::

    hub.meterdata.backend = connectors.meterdata.reference:ReferenceMeterData
    hub.meterdata.delay_seconds = 0     # optional
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Connection, Engine
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing.reference import bill_units, period_days, reference_transaction
from connectors.billing.tables import RefConsumer, RefLedgerEntry
from connectors.meterdata import SYSTEM, IMeterData, MeterReading, ReadingKind, check_reading
from connectors.meterdata.tables import RefMdasReading
from connectors.network.tables import RefGisLink, RefGisNode

INDIA = ZoneInfo("Asia/Kolkata")
readings_t = cast(Table, RefMdasReading.__table__)
nodes_t = cast(Table, RefGisNode.__table__)
links_t = cast(Table, RefGisLink.__table__)
ledger_t = cast(Table, RefLedgerEntry.__table__)
consumers_t = cast(Table, RefConsumer.__table__)

PAGE = 5_000
DT_LOSS = (0.04, 0.30)
FEEDER_LOSS = (0.03, 0.06)
MISSING_SHARE = 0.01
REPLACED_SHARE = 0.005
BACKWARDS_SHARE = 0.003
# Feeders whose meter the MDAS reads every midnight (the rest: the month's edges only).
DAILY_FEEDER_SHARE = 0.1
# A DT with no billed consumer still feeds street lights and its own losses.
IDLE_DT_WH = (150_000, 900_000)


def midnight(day: date) -> datetime:
    """00:00 India time on ``day``, in UTC: when the MDAS takes its daily snapshot."""
    return datetime.combine(day, clock(0), INDIA).astimezone(UTC)


@implementer(IMeterData)
class ReferenceMeterData:
    system = SYSTEM

    def __init__(self, engine: Engine, delay_seconds: float = 0.0) -> None:
        if delay_seconds < 0:
            raise ValueError("connector meterdata: setting 'delay_seconds' must not be negative")
        self.engine = engine
        self.delay_seconds = delay_seconds

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceMeterData:
        return cls(context.reference_store(), context.float_option("delay_seconds", 0.0))

    def _wait(self) -> None:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)

    def heartbeat(self) -> None:
        self._wait()
        with reference_transaction(self.engine, self.system) as conn:
            conn.execute(select(readings_t.c.id).limit(1)).first()

    def readings(self, start: datetime, end: datetime) -> Iterator[MeterReading]:
        if start.tzinfo is None or end.tzinfo is None or end < start:
            raise ValueError("start and end must be aware datetimes, start first")
        self._wait()
        after = 0
        while True:
            page = self.page(start, end, after, PAGE)
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].reading_id

    def page(self, start: datetime, end: datetime, after: int, limit: int) -> list[MeterReading]:
        """Up to ``limit`` readings from ``start`` to ``end`` with an id above ``after``, in one short
        transaction, as the MDAS's paged API answers (what a fake MDAS serves)."""
        with reference_transaction(self.engine, self.system) as conn:
            rows = conn.execute(
                select(readings_t)
                .where(readings_t.c.read_at >= start, readings_t.c.read_at <= end, readings_t.c.id > after)
                .order_by(readings_t.c.id)
                .limit(limit)
            ).all()
        return [_reading(row) for row in rows]

    # -- what the MDAS's own users do (tests, demo) --------------------------------------

    def record(
        self, node_code: str, meter_no: str, read_at: datetime, register_wh: int, kind: ReadingKind
    ) -> int:
        """Record a reading as the MDAS would take it; returns its id."""
        reading = MeterReading(0, node_code, meter_no, read_at, register_wh, kind)
        check_reading(reading)
        with reference_transaction(self.engine, self.system) as conn:
            return int(
                conn.execute(insert(readings_t).values(_row(reading)).returning(readings_t.c.id)).scalar_one()
            )


def _row(reading: MeterReading) -> dict[str, Any]:
    return {
        "node_code": reading.node_code,
        "meter_no": reading.meter_no,
        "read_at": reading.read_at,
        "register_wh": reading.register_wh,
        "kind": reading.kind.value,
    }


def _reading(row: Any) -> MeterReading:
    return MeterReading(
        reading_id=int(row.id),
        node_code=row.node_code,
        meter_no=row.meter_no,
        read_at=row.read_at,
        register_wh=int(row.register_wh),
        kind=ReadingKind(row.kind),
    )


@dataclass(frozen=True)
class ReadingSummary:
    period: str
    readings: int
    missing: int
    replaced: int
    backwards: int


def billed_wh_per_dt(conn: Connection, period: str) -> dict[str, int]:
    """What billing billed the consumers of each DT in ``period``, in Wh (the generator's anchor)."""
    first, after = period_days(period)
    le = ledger_t.c
    query = (
        select(links_t.c.dt_code, consumers_t.c.category, le.amount_paise)
        .select_from(ledger_t)
        .join(consumers_t, consumers_t.c.consumer_number == le.consumer_number)
        .join(links_t, links_t.c.consumer_number == le.consumer_number)
        .where(
            le.kind == "bill", le.entry_date >= first, le.entry_date < after, links_t.c.dt_code.is_not(None)
        )
    )
    billed: dict[str, int] = {}
    for dt_code, category, paise in conn.execute(query):
        billed[dt_code] = billed.get(dt_code, 0) + bill_units(category, Decimal(paise) / 100) * 1000
    return billed


def generate_readings(conn: Connection, period: str, seed: int) -> ReadingSummary:
    """Replace the reference MDAS's readings with the snapshots around billing month ``period``."""
    conn.execute(delete(readings_t))
    first, after = period_days(period)
    start, end = midnight(first), midnight(after)
    rng = random.Random(f"meterdata:{seed}:{period}")
    billed = billed_wh_per_dt(conn, period)
    nodes = conn.execute(
        select(nodes_t.c.code, nodes_t.c.kind, nodes_t.c.parent_code, nodes_t.c.meter_no)
        .where(nodes_t.c.kind.in_(("feeder", "dt")), nodes_t.c.in_service.is_(True))
        .order_by(nodes_t.c.code)
    ).all()
    feeder_wh: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    missing = replaced = backwards = 0
    for code, kind, parent, meter_no in nodes:
        if kind != "dt":
            continue
        sold = billed.get(code)
        energy = int(sold / (1 - rng.uniform(*DT_LOSS))) if sold else rng.randint(*IDLE_DT_WH)
        if parent:
            feeder_wh[parent] = feeder_wh.get(parent, 0) + energy
        if not meter_no:
            continue
        opening = rng.randrange(5_000_000, 900_000_000)
        fault = rng.random()
        if fault < MISSING_SHARE:
            missing += 1
            # One of the two snapshots never came in.
            if rng.random() < 0.5:
                rows.append(_snapshot(code, meter_no, start, opening))
            else:
                rows.append(_snapshot(code, meter_no, end, opening + energy))
        elif fault < MISSING_SHARE + REPLACED_SHARE:
            replaced += 1
            swap = midnight(first + timedelta(days=rng.randrange(5, 25))) + timedelta(
                hours=rng.randrange(3, 9)
            )
            share = rng.uniform(0.2, 0.8)
            new_meter = f"{meter_no}R"[:30]
            rows.append(_snapshot(code, meter_no, start, opening))
            rows.append(_row_of(code, meter_no, swap, opening + int(energy * share), ReadingKind.FINAL))
            rows.append(_row_of(code, new_meter, swap, 0, ReadingKind.INITIAL))
            rows.append(_snapshot(code, new_meter, end, energy - int(energy * share)))
        elif fault < MISSING_SHARE + REPLACED_SHARE + BACKWARDS_SHARE:
            backwards += 1
            rows.append(_snapshot(code, meter_no, start, opening))
            rows.append(_snapshot(code, meter_no, end, max(0, opening - energy)))
        else:
            rows.append(_snapshot(code, meter_no, start, opening))
            rows.append(_snapshot(code, meter_no, end, opening + energy))
    feeder_lost = False
    for code, kind, _parent, meter_no in nodes:
        if kind != "feeder" or not meter_no:
            continue
        energy = int(feeder_wh.get(code, 0) * (1 + rng.uniform(*FEEDER_LOSS)))
        opening = rng.randrange(50_000_000, 9_000_000_000)
        rows.append(_snapshot(code, meter_no, start, opening))
        if rng.random() < DAILY_FEEDER_SHARE:
            # A feeder on the daily AMR schedule: the month's energy spread over its midnights, the
            # load of each day varying with the weather and the irrigation roster.
            days = (after - first).days
            weights = [rng.uniform(0.7, 1.3) for _ in range(days)]
            total = sum(weights)
            for day in range(1, days):
                register = opening + int(energy * sum(weights[:day]) / total)
                rows.append(_snapshot(code, meter_no, midnight(first + timedelta(days=day)), register))
        if not feeder_lost and rng.random() < 0.05:
            # One feeder's closing snapshot is lost: a feeder the audit must flag.
            feeder_lost = True
            missing += 1
            continue
        rows.append(_snapshot(code, meter_no, end, opening + energy))
    rows.sort(key=lambda r: (r["read_at"], r["node_code"], r["meter_no"]))
    for at in range(0, len(rows), PAGE):
        conn.execute(insert(readings_t), rows[at : at + PAGE])
    return ReadingSummary(period, len(rows), missing, replaced, backwards)


def _snapshot(node_code: str, meter_no: str, at: datetime, register_wh: int) -> dict[str, Any]:
    return _row_of(node_code, meter_no, at, register_wh, ReadingKind.SNAPSHOT)


def _row_of(
    node_code: str, meter_no: str, at: datetime, register_wh: int, kind: ReadingKind
) -> dict[str, Any]:
    return {
        "node_code": node_code,
        "meter_no": meter_no,
        "read_at": at,
        "register_wh": register_wh,
        "kind": kind.value,
    }
