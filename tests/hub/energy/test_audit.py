"""The energy audit of a demo month, against the same month computed here in plain Python from the
reference systems' raw rows (the MDAS's readings, billing's ledger, the GIS's links and offices);
flags for bad readings and moved consumers; REST, console and the public page as users reach them.

The app runs as served (real commits); the network comes through hub-worker's sync job, the audit
through hub-worker's audit job after an officer queued it in the console.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.billing.reference import bill_units
from connectors.billing.tables import RefConsumer, RefLedgerEntry, RefOffice
from connectors.demo import generate_demo_data
from connectors.meterdata import ReadingKind
from connectors.meterdata.reference import ReferenceMeterData, midnight
from connectors.meterdata.tables import RefMdasReading
from connectors.network.reference import ReferenceNetwork
from connectors.network.tables import RefGisLink, RefGisNode
from connectors.reference_db import set_down
from hub.console.officers import create_officer
from hub.energy import AUDIT_JOB
from hub.energy.service import DISCOM
from hub.lookup import registered
from hub.models.energy import (
    EnergyAudit,
    EnergyAuditFlag,
    EnergyAuditResult,
    EnergyOffice,
    EnergyReading,
    EnergySale,
)
from hub.models.job import JobLease
from hub.models.meta import utcnow
from hub.models.network import ConsumerSupply, NetworkFeed, NetworkNode
from hub.network import SYNC_JOB
from hub.periodic import PeriodicJob, PeriodicJobs, run_due_jobs

PERIOD = "2026-10"
START, END = midnight(date(2026, 10, 1)), midnight(date(2026, 11, 1))
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
AUDIT_TABLES = (EnergyAuditFlag, EnergyAuditResult, EnergyOffice, EnergySale, EnergyReading, EnergyAudit)


def _run(live_app: TestApp, live_engine: Engine, name: str) -> None:
    jobs: list[PeriodicJob] = registered(live_app.app.registry, PeriodicJobs)
    job = next(j for j in jobs if j.name == name)
    with live_engine.begin() as conn:
        conn.execute(delete(JobLease).where(JobLease.name == name))
    assert run_due_jobs(live_engine, [job], "worker-test") == [name]


@pytest.fixture()
def demo(live_app: TestApp, live_reference_engine: Engine, live_engine: Engine) -> Iterator[Engine]:
    generate_demo_data(
        live_reference_engine, consumers=900, seed=5, replace=True, reference_date=date(2026, 11, 1)
    )
    with live_engine.begin() as conn:
        for table in (*AUDIT_TABLES, NetworkFeed, ConsumerSupply, NetworkNode):
            conn.execute(delete(table))
    for system in ("meterdata", "billing", "network"):
        set_down(live_reference_engine, system, False)
    _run(live_app, live_engine, SYNC_JOB)
    yield live_reference_engine
    for system in ("meterdata", "billing", "network"):
        set_down(live_reference_engine, system, False)


@pytest.fixture()
def officer(live_app: TestApp, live_engine: Engine) -> TestApp:
    with Session(live_engine) as session, session.begin():
        from hub.models.officer import Officer

        if session.scalar(select(Officer.id).where(Officer.username == "ee.audit")) is None:
            create_officer(session, "ee.audit", "Rakesh Meena", PASSWORD, ["dc_office_assistant"], ["DC-101"])
    browser = TestApp(live_app.app, extra_environ={"wsgi.url_scheme": "https"})
    token = CSRF.search(browser.get("/console/login").text)
    assert token is not None
    browser.post(
        "/console/login",
        {"username": "ee.audit", "password": PASSWORD, "csrf_token": token.group(1)},
        status=302,
    )
    return browser


@pytest.fixture()
def reader(live_client: Any) -> dict[str, str]:
    return dict(live_client(["energy:read"])["headers"])


def _month(live_app: TestApp, reader: dict[str, str]) -> dict[str, Any]:
    audits = live_app.get("/api/v1/energy/audits", headers=reader).json["audits"]
    return dict(next(a for a in audits if a["period"] == PERIOD))


def _queue(officer: TestApp, period: str) -> Any:
    page = officer.get("/console/energy")
    token = CSRF.search(page.text)
    assert token is not None
    return officer.post(
        "/console/energy/run", {"period": period, "csrf_token": token.group(1)}, status=302
    ).follow()


# -- the month computed independently, in plain Python over the raw rows -------------------------


def month_of(period: str) -> tuple[date, date]:
    """The first day of billing month ``YYYY-MM`` and of the month after it."""
    first = date(int(period[:4]), int(period[5:]), 1)
    return first, (first + timedelta(days=32)).replace(day=1)


def _readings_input(ref: Engine, period: str) -> dict[str, int | None]:
    """Energy into each metered node, or None when its readings do not bracket the month."""
    per_node: dict[str, list[Any]] = {}
    start, end = (midnight(day) for day in month_of(period))
    with ref.connect() as conn:
        for row in conn.execute(
            select(RefMdasReading).where(RefMdasReading.read_at >= start, RefMdasReading.read_at <= end)
        ):
            per_node.setdefault(row.node_code, []).append(row)
    found: dict[str, int | None] = {}
    for node, rows in per_node.items():
        meters: dict[str, list[Any]] = {}
        for r in sorted(rows, key=lambda r: (r.read_at, r.id)):
            meters.setdefault(r.meter_no, []).append(r)
        opens = sum(1 for r in rows if r.kind == "snapshot" and r.read_at == start)
        closes = sum(1 for r in rows if r.kind == "snapshot" and r.read_at == end)
        finals = sum(1 for r in rows if r.kind == "final")
        energy, ok = 0, opens == 1 and closes == 1 and len(meters) == finals + 1
        for series in meters.values():
            registers = [r.register_wh for r in series]
            if any(b < a for a, b in zip(registers, registers[1:], strict=False)):
                ok = False
            first = [r.register_wh for r in series if r.read_at == start or r.kind == "initial"]
            last = [r.register_wh for r in series if r.read_at == end or r.kind == "final"]
            if not first or not last:
                ok = False
                continue
            energy += max(last) - max(first)
        found[node] = energy if ok else None
    return found


def expected_month(ref: Engine, period: str = PERIOD) -> dict[tuple[str, str], dict[str, Any]]:
    """The month's audit rows computed here in plain Python from the reference systems' raw rows."""
    first, after = month_of(period)
    with ref.connect() as conn:
        nodes = {r.code: r for r in conn.execute(select(RefGisNode))}
        link = dict(conn.execute(select(RefGisLink.consumer_number, RefGisLink.dt_code)).tuples().all())
        category = dict(
            conn.execute(select(RefConsumer.consumer_number, RefConsumer.category)).tuples().all()
        )
        office = dict(conn.execute(select(RefConsumer.consumer_number, RefConsumer.dc_code)).tuples().all())
        parent = dict(conn.execute(select(RefOffice.code, RefOffice.parent_code)).tuples().all())
        ledger = conn.execute(
            select(RefLedgerEntry.consumer_number, RefLedgerEntry.kind, RefLedgerEntry.amount_paise).where(
                RefLedgerEntry.entry_date >= first, RefLedgerEntry.entry_date < after
            )
        ).all()
    sales: dict[str, list[int]] = {}
    for number, kind, paise in ledger:
        if kind == "bill":
            s = sales.setdefault(number, [0, 0, 0])
            s[0] += bill_units(category[number], Decimal(paise) / 100) * 1000
            s[1] += paise
        elif kind == "payment":
            sales.setdefault(number, [0, 0, 0])[2] -= paise
    inputs = _readings_input(ref, period)
    out: dict[tuple[str, str], dict[str, Any]] = {}

    def row(level: str, code: str) -> dict[str, Any]:
        return out.setdefault(
            (level, code),
            {
                "consumers": 0,
                "input_wh": None,
                "billed_wh": 0,
                "audited_billed_wh": 0,
                "billed_paise": 0,
                "collected_paise": 0,
                "nodes": 0,
                "nodes_with_input": 0,
            },
        )

    for code, node in nodes.items():
        if node.kind in ("dt", "feeder") and node.in_service:
            r = row(node.kind, code)
            r["nodes"] = 1 if node.meter_no else 0
            r["input_wh"] = inputs.get(code) if node.meter_no else None
            r["nodes_with_input"] = 1 if r["input_wh"] is not None else 0
    totals = [0, 0, 0, 0]
    for number, (wh, billed, collected) in sales.items():
        totals = [totals[0] + 1, totals[1] + wh, totals[2] + billed, totals[3] + collected]
        dt = link.get(number)
        if dt is None or dt not in nodes or nodes[dt].kind != "dt" or not nodes[dt].in_service:
            continue
        for level, code in (("dt", dt), ("feeder", nodes[dt].parent_code)):
            r = row(level, code)
            r["consumers"] += 1
            r["billed_wh"] += wh
            r["billed_paise"] += billed
            r["collected_paise"] += collected
    for (level, _code), r in out.items():
        if r["input_wh"] is not None:
            r["audited_billed_wh"] = r["billed_wh"]

    def dc_of_feeder(code: str) -> str:
        return str(nodes[code].office_code)

    def roll(child: str, level: str, up: Any) -> None:
        for (lvl, code), r in list(out.items()):
            if lvl != child:
                continue
            total = row(level, up(code))
            for key in (
                "consumers",
                "billed_wh",
                "audited_billed_wh",
                "billed_paise",
                "collected_paise",
                "nodes",
                "nodes_with_input",
            ):
                total[key] += r[key]
            if r["input_wh"] is not None:
                total["input_wh"] = (total["input_wh"] or 0) + r["input_wh"]

    roll("feeder", "dc", dc_of_feeder)
    # Billing's hierarchy: DC -> zone -> division -> circle (the audit skips the zone). A DC none of
    # whose consumers was billed this month is not in billing's answer: it hangs on the discom.
    billed_dcs = {office[number] for number in sales}
    for (level, code), r in list(out.items()):
        if level == "dc" and code not in billed_dcs:
            out.pop((level, code))
            out[("dc-orphan", code)] = r
    roll("dc", "division", lambda dc: str(parent[str(parent[dc])]))
    roll("division", "circle", lambda division: parent[division])
    discom = row("discom", DISCOM)
    roll("circle", "discom", lambda _circle: DISCOM)
    roll("dc-orphan", "discom", lambda _dc: DISCOM)
    for (level, code), r in list(out.items()):
        if level == "dc-orphan":
            out[("dc", code)] = out.pop((level, code))
    discom["consumers"], discom["billed_wh"], discom["billed_paise"], discom["collected_paise"] = totals
    return out


RESULT_KEYS = (
    "consumers",
    "input_wh",
    "billed_wh",
    "audited_billed_wh",
    "billed_paise",
    "collected_paise",
    "nodes",
    "nodes_with_input",
)


def test_the_demo_month_matches_a_computation_from_the_raw_rows(
    live_app: TestApp, live_engine: Engine, demo: Engine, officer: TestApp, reader: dict[str, str]
) -> None:
    queued = _queue(officer, PERIOD)
    assert "कतार" in queued.text and "queued" in queued.text
    _run(live_app, live_engine, AUDIT_JOB)
    expected = expected_month(demo)
    with live_engine.connect() as conn:
        got = {
            (r.level, r.code): {k: getattr(r, k) for k in RESULT_KEYS}
            for r in conn.execute(select(EnergyAuditResult).where(EnergyAuditResult.period == PERIOD))
        }
        audit = conn.execute(select(EnergyAudit).where(EnergyAudit.period == PERIOD)).one()
    assert audit.state == "computed" and audit.consumers == expected[("discom", DISCOM)]["consumers"]
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == value, key
    discom = expected[("discom", DISCOM)]
    # The demo's faults are there, and left out of the loss rather than guessed.
    assert 0 < discom["nodes_with_input"] < discom["nodes"]
    assert discom["audited_billed_wh"] < discom["billed_wh"]

    # Over REST: the ratios follow from the sums.
    answer = live_app.get(f"/api/v1/energy/audits/{PERIOD}/discom/{DISCOM}", headers=reader).json
    be = Decimal(discom["audited_billed_wh"]) / Decimal(discom["input_wh"])
    ce = Decimal(discom["collected_paise"]) / Decimal(discom["billed_paise"])
    assert Decimal(answer["billing_efficiency"]) == be.quantize(Decimal("0.0001"))
    assert Decimal(answer["collection_efficiency"]) == ce.quantize(Decimal("0.0001"))
    assert abs(Decimal(answer["atc_loss"]) - (1 - be * ce)) < Decimal("0.0002")
    assert Decimal(answer["input_kwh"]) * 1000 == discom["input_wh"]
    # (A small demo: most DTs have no consumer billed, so the loss is far above a real discom's.)
    loss = Decimal(discom["input_wh"] - discom["audited_billed_wh"]) / Decimal(discom["input_wh"])
    assert Decimal(answer["loss"]) == loss.quantize(Decimal("0.0001")) > 0
    # Circles, and the DCs none of whose consumers was billed (flagged: billing named no division).
    assert {c["level"] for c in answer["children"]} == {"circle", "dc"}
    orphan = next(c for c in answer["children"] if c["level"] == "dc")
    orphan_flags = live_app.get(f"/api/v1/energy/audits/{PERIOD}/dc/{orphan['code']}", headers=reader).json
    assert [f["flag"] for f in orphan_flags["flag_list"]] == ["office_unknown"]
    assert any(f["flag"] == "consumers_unmapped" for f in answer["flag_list"])
    # Down to a DT, one level at a time.
    node = answer
    for level in ("circle", "division", "dc", "feeder", "dt"):
        child = next(c for c in node["children"] if c["consumers"])
        assert child["level"] == level
        node = live_app.get(f"/api/v1/energy/audits/{PERIOD}/{level}/{child['code']}", headers=reader).json
        assert (
            node["code"] == child["code"]
            and node["consumers"] == expected[(level, child["code"])]["consumers"]
        )
    assert node["children"] == []
    # The month's offices are also the hierarchy officers' jurisdictions follow: every billed DC is
    # below its zone, division and circle as billing's own office table has them.
    from hub.models.office import OfficeLink

    with demo.connect() as conn:
        billing_parent = dict(conn.execute(select(RefOffice.code, RefOffice.parent_code)).tuples().all())
    with live_engine.connect() as conn:
        kept = dict(conn.execute(select(OfficeLink.code, OfficeLink.parent_code)).tuples().all())
        billed_dcs = set(
            conn.scalars(
                select(EnergyAuditResult.code).where(
                    EnergyAuditResult.period == PERIOD,
                    EnergyAuditResult.level == "dc",
                    EnergyAuditResult.parent_code != DISCOM,
                )
            )
        )
    assert billed_dcs and billed_dcs <= set(kept)
    assert all(kept[code] == billing_parent[code] for code in kept)
    # The job also audited last month on its own (the month before today's, whatever today is).
    months = {m["period"]: m for m in live_app.get("/api/v1/energy/audits", headers=reader).json["audits"]}
    assert months[PERIOD]["state"] == "computed" and months[PERIOD]["consumers"] == discom["consumers"]


def test_bad_readings_are_flagged_and_never_counted(
    live_app: TestApp, live_engine: Engine, demo: Engine, reader: dict[str, str]
) -> None:
    mdas = ReferenceMeterData(demo)
    with demo.begin() as conn:
        healthy = [
            code
            for code, n in conn.execute(
                select(RefMdasReading.node_code, RefMdasReading.id).where(
                    RefMdasReading.node_code.like("DT-%")
                )
            ).all()
        ]
        counts: dict[str, int] = {}
        for code in healthy:
            counts[code] = counts.get(code, 0) + 1
        flagged_already = {
            r.node_code for r in conn.execute(select(RefMdasReading).where(RefMdasReading.kind != "snapshot"))
        }
        missing, backwards, replaced = [
            c for c, n in sorted(counts.items()) if n == 2 and c not in flagged_already
        ][:3]
        # A missing closing snapshot.
        conn.execute(
            delete(RefMdasReading).where(RefMdasReading.node_code == missing, RefMdasReading.read_at == END)
        )
        # A register that goes backwards.
        opening = conn.execute(
            select(RefMdasReading.register_wh).where(
                RefMdasReading.node_code == backwards, RefMdasReading.read_at == START
            )
        ).scalar_one()
        conn.execute(
            update(RefMdasReading)
            .where(RefMdasReading.node_code == backwards, RefMdasReading.read_at == END)
            .values(register_wh=opening - 1)
        )
        # A meter replaced on the 12th, both readings recorded: exact, and still flagged.
        old_meter, old_open = conn.execute(
            select(RefMdasReading.meter_no, RefMdasReading.register_wh).where(
                RefMdasReading.node_code == replaced, RefMdasReading.read_at == START
            )
        ).one()
        conn.execute(
            delete(RefMdasReading).where(RefMdasReading.node_code == replaced, RefMdasReading.read_at == END)
        )
    swap = START + timedelta(days=11, hours=4)
    mdas.record(replaced, old_meter, swap, old_open + 1_000_000, ReadingKind.FINAL)
    mdas.record(replaced, "NEWMETER-7", swap, 20, ReadingKind.INITIAL)
    mdas.record(replaced, "NEWMETER-7", END, 20 + 2_500_000, ReadingKind.SNAPSHOT)
    # A reading of a node the network does not know is never counted anywhere.
    mdas.record("DT-999-9-99-999", "DM-999", END, 10**9, ReadingKind.SNAPSHOT)

    from hub.energy.service import run_audit
    from hub.lookup import process_service
    from hub.systems import Connectors

    connectors = process_service(live_app.app.registry, Connectors)
    run_audit(live_app.app.registry, connectors["meterdata"], connectors["billing"], PERIOD, "test")

    def node(code: str) -> dict[str, Any]:
        return dict(live_app.get(f"/api/v1/energy/audits/{PERIOD}/dt/{code}", headers=reader).json)

    m, b, r = node(missing), node(backwards), node(replaced)
    assert m["input_kwh"] is None and m["loss"] is None and m["atc_loss"] is None
    assert [f["flag"] for f in m["flag_list"]] == ["reading_missing"]
    assert b["input_kwh"] is None and [f["flag"] for f in b["flag_list"]] == ["reading_backwards"]
    assert Decimal(r["input_kwh"]) == Decimal("3500.000")
    assert [(f["flag"], f["count"]) for f in r["flag_list"]] == [("meter_replaced", 1)]
    # Their consumers' billing is kept out of the loss, but still billed and collected.
    assert m["audited_billed_kwh"] == "0.000" and b["audited_billed_kwh"] == "0.000"
    expected = expected_month(demo)
    with live_engine.connect() as conn:
        for level in ("dt", "feeder", "dc", "discom"):
            for row in conn.execute(
                select(EnergyAuditResult).where(
                    EnergyAuditResult.period == PERIOD, EnergyAuditResult.level == level
                )
            ):
                assert {k: getattr(row, k) for k in RESULT_KEYS} == expected[(level, row.code)], row.code


def test_a_consumer_moved_between_dts_is_flagged_on_both(
    live_app: TestApp, live_engine: Engine, demo: Engine, reader: dict[str, str]
) -> None:
    from hub.energy.service import run_audit
    from hub.lookup import process_service
    from hub.systems import Connectors

    connectors = process_service(live_app.app.registry, Connectors)
    waited_since = utcnow()
    run_audit(live_app.app.registry, connectors["meterdata"], connectors["billing"], PERIOD, "test")
    # A second worker that waited for the month's lock meanwhile does not compute it again.
    again = run_audit(
        live_app.app.registry,
        connectors["meterdata"],
        connectors["billing"],
        PERIOD,
        "other-worker",
        unless_computed_since=waited_since,
    )
    assert again is None
    with live_engine.connect() as conn:
        number, old_dt = conn.execute(
            select(EnergySale.consumer_number, EnergySale.dt_code)
            .where(EnergySale.period == PERIOD, EnergySale.dt_code.is_not(None))
            .order_by(EnergySale.consumer_number)
            .limit(1)
        ).one()
        new_dt = conn.scalar(
            select(NetworkNode.code)
            .where(NetworkNode.kind == "dt", NetworkNode.code != old_dt)
            .order_by(NetworkNode.code)
            .limit(1)
        )
    ReferenceNetwork(demo).link_consumer(number, new_dt)
    _run(live_app, live_engine, SYNC_JOB)
    # November's bill for the consumer, in billing's ledger.
    with demo.begin() as conn:
        conn.execute(
            insert(RefLedgerEntry).values(
                consumer_number=number,
                entry_date=date(2026, 11, 5),
                kind="bill",
                amount_paise=123_400,
                reference=f"BL{number}202611",
                posted_at=START + timedelta(days=36),
            )
        )
    run_audit(live_app.app.registry, connectors["meterdata"], connectors["billing"], "2026-11", "test")
    moved_in = live_app.get(f"/api/v1/energy/audits/2026-11/dt/{new_dt}", headers=reader).json
    moved_out = live_app.get(f"/api/v1/energy/audits/2026-11/dt/{old_dt}", headers=reader).json
    assert ("consumer_moved_in", 1) in [(f["flag"], f["count"]) for f in moved_in["flag_list"]]
    assert ("consumer_moved_out", 1) in [(f["flag"], f["count"]) for f in moved_out["flag_list"]]
    # No readings were taken for November in this demo: every node is flagged, none has an input.
    discom = live_app.get(f"/api/v1/energy/audits/2026-11/discom/{DISCOM}", headers=reader).json
    assert discom["input_kwh"] is None and discom["nodes_with_input"] == 0 and discom["consumers"] >= 1


def test_a_system_down_leaves_the_month_as_it_was(
    live_app: TestApp, live_engine: Engine, demo: Engine, officer: TestApp, reader: dict[str, str]
) -> None:
    _queue(officer, PERIOD)
    set_down(demo, "meterdata")
    _run(live_app, live_engine, AUDIT_JOB)
    month = _month(live_app, reader)
    assert month["state"] == "requested" and "meterdata" in month["last_error"]
    live_app.get(f"/api/v1/energy/audits/{PERIOD}/discom/{DISCOM}", headers=reader, status=404)
    page = officer.get("/console/energy")
    assert "meterdata" in page.text
    set_down(demo, "meterdata", False)
    set_down(demo, "billing")
    _run(live_app, live_engine, AUDIT_JOB)
    with live_engine.connect() as conn:
        assert conn.scalar(select(EnergySale.consumer_number).limit(1)) is None
        assert conn.scalar(select(EnergyReading.id).limit(1)) is None
    set_down(demo, "billing", False)
    _run(live_app, live_engine, AUDIT_JOB)
    assert _month(live_app, reader)["state"] == "computed"


def test_the_audit_waits_for_the_network_and_reads_its_feed_first(
    live_app: TestApp, live_engine: Engine, demo: Engine, officer: TestApp, reader: dict[str, str]
) -> None:
    # A hub whose network is not in yet (a fresh `make run`: the audit job may come before the sync).
    with live_engine.begin() as conn:
        for table in (NetworkFeed, ConsumerSupply, NetworkNode):
            conn.execute(delete(table))
    _queue(officer, PERIOD)
    set_down(demo, "network")
    _run(live_app, live_engine, AUDIT_JOB)
    month = _month(live_app, reader)
    assert month["state"] == "requested" and "network" in month["last_error"]
    live_app.get(f"/api/v1/energy/audits/{PERIOD}/discom/{DISCOM}", headers=reader, status=404)
    # The GIS answers: the audit reads its feed to the end, then computes on the whole network.
    set_down(demo, "network", False)
    _run(live_app, live_engine, AUDIT_JOB)
    assert _month(live_app, reader)["state"] == "computed"
    expected = expected_month(demo)
    with live_engine.connect() as conn:
        got = {
            (r.level, r.code): {k: getattr(r, k) for k in RESULT_KEYS}
            for r in conn.execute(select(EnergyAuditResult).where(EnergyAuditResult.period == PERIOD))
        }
    assert got == expected


def test_console_drills_down_and_exports_csv_and_a_signed_pdf(
    live_app: TestApp, live_engine: Engine, demo: Engine, officer: TestApp
) -> None:
    _queue(officer, PERIOD)
    _run(live_app, live_engine, AUDIT_JOB)
    # (The latest month is shown first; the job may have audited last month as well.)
    page = officer.get(f"/console/energy?period={PERIOD}")
    assert "<svg" in page.text and "AT&amp;C" in page.text and "डिस्कॉम" in page.text
    trail = []
    for level in ("circle", "division", "dc", "feeder", "dt"):
        link = re.search(
            rf'href="(/console/energy\?period={PERIOD}&amp;level={level}&amp;code=[^"]+)"', page.text
        )
        assert link is not None, level
        page = officer.get(link.group(1).replace("&amp;", "&"))
        trail.append(level)
        if level == "dc":
            dc_page = page
    assert "वितरण ट्रांसफार्मर" in page.text
    csv_link = re.search(r'href="(/console/energy/report\.csv\?[^"]+)"', dc_page.text)
    assert csv_link is not None
    exported = officer.get(csv_link.group(1).replace("&amp;", "&"))
    assert exported.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.body.decode("utf-8-sig"))))
    assert rows[0]["level"] == "dc" and {r["level"] for r in rows[1:]} == {"feeder"}
    with live_engine.connect() as conn:
        dc = conn.execute(
            select(EnergyAuditResult).where(
                EnergyAuditResult.period == PERIOD,
                EnergyAuditResult.level == "dc",
                EnergyAuditResult.code == rows[0]["code"],
            )
        ).one()
    assert Decimal(rows[0]["billed_rupees"]) == Decimal(dc.billed_paise) / 100
    assert int(rows[0]["consumers"]) == dc.consumers == sum(int(r["consumers"]) for r in rows[1:])
    pdf_link = re.search(r'href="(/console/energy/report\.pdf\?[^"]+)"', dc_page.text)
    assert pdf_link is not None
    pdf = officer.get(pdf_link.group(1).replace("&amp;", "&"))
    assert pdf.content_type == "application/pdf"
    signatures = PdfFileReader(io.BytesIO(pdf.body)).embedded_signatures
    assert len(signatures) == 1 and signatures[0].sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    # Signed by the hub's document key, chaining to its trust anchor, and intact.
    from asn1crypto import x509  # type: ignore[import-untyped]
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from hub.certificates.keys import DocumentKeys
    from hub.lookup import process_service

    keyring = process_service(live_app.app.registry, DocumentKeys).keyring
    roots = [x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in keyring.trust_anchors]
    status = validate_pdf_signature(
        signatures[0], ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    )
    assert status.intact and status.valid and status.trusted
    # The DC's public page, without signing in.
    public = TestApp(live_app.app).get(f"/energy-audit/dc/{dc.code}")
    assert "लाइन हानि" in public.text and "Revenue collected" in public.text and dc.code in public.text
    assert "<svg" in public.text


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/energy/audits/2026-13/discom/DISCOM",
        "/api/v1/energy/audits/2026-10/zone/ZON-1",
        "/api/v1/energy/audits/2026-10/dt/%E0%A4%A1%E0%A5%80%E0%A4%9F%E0%A5%80",
        "/api/v1/energy/audits/%27%3B%20DROP/dt/DT-1",
        "/api/v1/energy/audits/2026-10/dt/dt-lower",
    ],
)
def test_bad_input_over_rest_is_a_problem_naming_the_field(
    live_app: TestApp, reader: dict[str, str], path: str
) -> None:
    answer = live_app.get(path, headers=reader, status=400)
    assert answer.content_type == "application/problem+json"
    assert answer.json["code"] == "validation_failed" and answer.json["errors"]


def test_unknown_nodes_unauthorised_callers_and_bad_console_input(
    live_app: TestApp,
    live_engine: Engine,
    demo: Engine,
    officer: TestApp,
    reader: dict[str, str],
    live_client: Any,
) -> None:
    live_app.get(f"/api/v1/energy/audits/{PERIOD}/dt/DT-999-9-99-999", headers=reader, status=404)
    live_app.get(f"/api/v1/energy/audits/{PERIOD}/discom/{DISCOM}", status=401)
    other = live_client(["network:read"])["headers"]
    assert (
        live_app.get("/api/v1/energy/audits", headers=other, status=403).json["code"] == "insufficient_scope"
    )
    for period, says in (("2026-13", "YYYY-MM"), ("२०२६-१०", "YYYY-MM"), ("2099-01", "not ended")):
        page = _queue(officer, period)
        assert says in page.text
    # The form without its token changes nothing.
    officer.post("/console/energy/run", {"period": PERIOD}, status=302)
    with live_engine.connect() as conn:
        assert conn.scalar(select(EnergyAudit.period).limit(1)) is None
    TestApp(live_app.app).get("/console/energy", status=302)
    TestApp(live_app.app).get("/energy-audit/dc/DC-101", status=404)
    TestApp(live_app.app).get("/energy-audit/dc/%3Cscript%3E?period=2026-10", status=404)
    officer.get("/console/energy?period=2026-10&level=dt&code=DT-1", status=404)


def test_hub_admin_audits_a_month_and_shows_a_node(
    live_app: TestApp,
    live_database_url: str,
    live_reference_url: str,
    demo: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from hub.cli import main

    ini = tmp_path / "admin.ini"
    ini.write_text(
        "[app:main]\nuse = egg:discom-hub\n"
        f"hub.database_url = {live_database_url.replace('%', '%%')}\n"
        f"hub.reference.database_url = {live_reference_url.replace('%', '%%')}\n"
        "hub.secret_key = test-secret-key\n"
        "hub.billing.backend = connectors.billing.reference:ReferenceBilling\n"
        "hub.meterdata.backend = connectors.meterdata.reference:ReferenceMeterData\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    # Without the GIS the audit cannot place consumers on DTs: refused, nothing computed.
    assert main([str(ini), "energy", "audit", "--period", PERIOD]) == 2
    assert "hub.network.backend" in capsys.readouterr().err
    with ini.open("a", encoding="utf-8") as more:
        more.write("hub.network.backend = connectors.network.reference:ReferenceNetwork\n")
    capsys.readouterr()
    assert main([str(ini), "energy", "audit", "--period", "2099-01"]) == 2
    assert "not ended" in capsys.readouterr().err
    set_down(demo, "billing")
    assert main([str(ini), "energy", "audit", "--period", PERIOD]) == 1
    assert "nothing computed" in capsys.readouterr().err
    set_down(demo, "billing", False)
    assert main([str(ini), "energy", "audit", "--period", PERIOD]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["period"] == PERIOD and report["consumers"] > 800 and report["flags"] > 0
    assert main([str(ini), "energy", "show", "--period", PERIOD]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["level"] == "discom" and lines[0]["consumers"] == report["consumers"]
    assert {line["level"] for line in lines[1:]} <= {"circle", "dc"}
    assert main([str(ini), "energy", "show", "--period", PERIOD, "--level", "dt", "--code", "DT-0"]) == 1
