"""The monthly energy audit over a discom-sized month on PostgreSQL, next to the bare SQL doing the same sums.

Data (generated in the hub's database with ``generate_series``, as the audit's import leaves it):
``--energy-consumers`` connections billed in the month (default 5,000,000), ``--energy-feeders``
11 kV feeders (default 7,000) and ``--energy-dts`` DTs (default 100,000) on them, 15 feeders per
distribution centre, 8 DCs per division, 5 divisions per circle; the feeder and DT meters'
opening and closing snapshots, with about 1 % missing a snapshot, 0.5 % replaced mid-month and
0.3 % going backwards; 0.4 % of connections on no DT and 0.1 % moved since last month.

Contender: :func:`hub.energy.service.compute` (flags, DT, feeder, DC, division, circle and
discom rows written to ``energy_audit_results``, committed).

Baseline: one plain SQL statement doing the same sums (per-node input from the opening and
closing registers, sales per DT, DTs to feeders to DCs to divisions to circles, the discom's
totals), fetched by the client: no flags, no checks on the readings, nothing written.

Both alternate ``--rounds`` times on the same data; the figure is the contender's median
seconds, the target a cost multiple of at most 2x. The import (reading the MDAS and billing
through their connectors) is not part of either: it is I/O against outside systems.

Run as a section of ``make bench`` (``run(args)``, always on PostgreSQL) or alone::

    .venv/bin/python bench/bench_energy.py --energy-consumers 500000 --energy-feeders 700 --energy-dts 10000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, common_arguments, hub_environment, median

SECTION = "energy"
PERIOD = "2026-10"
START = "2026-09-30 18:30:00+00"
SWAP = "2026-10-14 22:30:00+00"
END = "2026-10-31 18:30:00+00"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--energy-consumers", type=int, default=5_000_000, help="connections billed in the month"
    )
    parser.add_argument("--energy-feeders", type=int, default=7_000, help="11 kV feeders")
    parser.add_argument("--energy-dts", type=int, default=100_000, help="distribution transformers")


GENERATE = [
    # Feeders: 5 per substation, 15 per DC.
    """INSERT INTO network_nodes (code, kind, parent_code, office_code, name_en, name_hi, meter_no,
           capacity_kva, in_service, seq, updated_at)
       SELECT 'FDR-' || i, 'feeder', 'SS-' || (i / 5), 'DC-' || (i / 15), '11 kV Feeder ' || i,
              '11 केवी फीडर ' || i, 'FM-' || i, NULL, true, i, now()
       FROM generate_series(0, :feeders - 1) AS i""",
    """INSERT INTO network_nodes (code, kind, parent_code, office_code, name_en, name_hi, meter_no,
           capacity_kva, in_service, seq, updated_at)
       SELECT 'DT-' || j, 'dt', 'FDR-' || (j % :feeders), 'DC-' || ((j % :feeders) / 15), 'DT ' || j,
              'वितरण ट्रांसफार्मर ' || j, 'DM-' || j, 100, true, :feeders + j, now()
       FROM generate_series(0, :dts - 1) AS j""",
    """INSERT INTO network_consumers (consumer_number, dt_code, seq, updated_at)
       SELECT lpad(i::text, 10, '0'), CASE WHEN i % 250 = 0 THEN NULL ELSE 'DT-' || (i % :dts) END, i, now()
       FROM generate_series(1, :consumers) AS i""",
    """INSERT INTO energy_sales (period, consumer_number, units, billed_paise, collected_paise, dt_code, moved_from)
       SELECT :period, lpad(i::text, 10, '0'), 40 + i % 220, (40 + i % 220) * 760,
              CASE WHEN i % 10 = 0 THEN 0 ELSE (40 + i % 220) * 760 END,
              CASE WHEN i % 250 = 0 THEN NULL ELSE 'DT-' || (i % :dts) END,
              CASE WHEN i % 1000 = 1 THEN 'DT-' || ((i + 1) % :dts) END
       FROM generate_series(1, :consumers) AS i""",
    """INSERT INTO energy_offices (period, dc_code, division_code, circle_code)
       SELECT :period, 'DC-' || d, 'DIV-' || (d / 8), 'CIR-' || (d / 40)
       FROM generate_series(0, (:feeders - 1) / 15) AS d""",
    # Opening snapshots of every metered node (feeders and DTs), registers from 1e6 up.
    """INSERT INTO energy_readings (period, node_code, meter_no, read_at, register_wh, kind, position)
       SELECT :period, code, meter_no, CAST(:start AS timestamptz), 1000000 + seq * 7, 'snapshot', 'open'
       FROM network_nodes""",
    # Closing snapshots: 1 % missing, 0.3 % backwards, 0.5 % replaced (closed by the new meter).
    """INSERT INTO energy_readings (period, node_code, meter_no, read_at, register_wh, kind, position)
       SELECT :period, code, CASE WHEN seq % 200 = 3 THEN meter_no || 'R' ELSE meter_no END,
              CAST(:end AS timestamptz),
              CASE WHEN seq % 333 = 5 THEN 1000000 + seq * 7 - 10
                   WHEN seq % 200 = 3 THEN 4000000
                   ELSE 1000000 + seq * 7 + (CASE WHEN kind = 'dt' THEN 9000000 ELSE 130000000 END) END,
              'snapshot', 'close'
       FROM network_nodes WHERE seq % 100 <> 7""",
    """INSERT INTO energy_readings (period, node_code, meter_no, read_at, register_wh, kind, position)
       SELECT :period, code, meter_no, CAST(:swap AS timestamptz), 1000000 + seq * 7 + 5000000, 'final', 'inside'
       FROM network_nodes WHERE seq % 200 = 3""",
    """INSERT INTO energy_readings (period, node_code, meter_no, read_at, register_wh, kind, position)
       SELECT :period, code, meter_no || 'R', CAST(:swap AS timestamptz), 0, 'initial', 'inside'
       FROM network_nodes WHERE seq % 200 = 3""",
]

BARE = """
WITH inp AS (
    SELECT node_code,
           max(register_wh) FILTER (WHERE position = 'close') - max(register_wh) FILTER (WHERE position = 'open') AS wh
    FROM energy_readings WHERE period = :period GROUP BY node_code
), sold AS (
    SELECT dt_code, count(*) AS c, sum(units) AS u, sum(billed_paise) AS b, sum(collected_paise) AS k
    FROM energy_sales WHERE period = :period GROUP BY dt_code
), dts AS (
    SELECT n.code, n.parent_code, coalesce(s.c, 0) AS c, coalesce(s.u, 0) * 1000 AS wh_billed,
           coalesce(s.b, 0) AS b, coalesce(s.k, 0) AS k, i.wh
    FROM network_nodes n LEFT JOIN sold s ON s.dt_code = n.code LEFT JOIN inp i ON i.node_code = n.code
    WHERE n.kind = 'dt'
), feeders AS (
    SELECT f.code, f.office_code, sum(d.c) AS c, sum(d.wh_billed) AS wh_billed, sum(d.b) AS b, sum(d.k) AS k, i.wh
    FROM network_nodes f LEFT JOIN dts d ON d.parent_code = f.code LEFT JOIN inp i ON i.node_code = f.code
    WHERE f.kind = 'feeder' GROUP BY f.code, f.office_code, i.wh
), dcs AS (
    SELECT office_code AS code, sum(c) AS c, sum(wh_billed) AS wh_billed, sum(b) AS b, sum(k) AS k, sum(wh) AS wh
    FROM feeders GROUP BY office_code
), divisions AS (
    SELECT o.division_code AS code, sum(c) AS c, sum(wh_billed) AS wh_billed, sum(b) AS b, sum(k) AS k, sum(wh) AS wh
    FROM dcs JOIN energy_offices o ON o.period = :period AND o.dc_code = dcs.code GROUP BY o.division_code
), circles AS (
    SELECT o.circle_code AS code, sum(c) AS c, sum(wh_billed) AS wh_billed, sum(b) AS b, sum(k) AS k, sum(wh) AS wh
    FROM divisions JOIN (SELECT DISTINCT division_code, circle_code FROM energy_offices WHERE period = :period) o
      ON o.division_code = divisions.code GROUP BY o.circle_code
), total AS (
    SELECT count(*) AS c, sum(units) * 1000 AS wh_billed, sum(billed_paise) AS b, sum(collected_paise) AS k
    FROM energy_sales WHERE period = :period
)
SELECT 'dt', code, c, wh_billed, b, k, wh FROM dts
UNION ALL SELECT 'feeder', code, c, wh_billed, b, k, wh FROM feeders
UNION ALL SELECT 'dc', code, c, wh_billed, b, k, wh FROM dcs
UNION ALL SELECT 'division', code, c, wh_billed, b, k, wh FROM divisions
UNION ALL SELECT 'circle', code, c, wh_billed, b, k, wh FROM circles
UNION ALL SELECT 'discom', 'DISCOM', c, wh_billed, b, k, (SELECT sum(wh) FROM circles) FROM total
"""


def run(args: argparse.Namespace) -> list[Figure]:
    from sqlalchemy import func, select, text
    from sqlalchemy.orm import Session

    from hub.energy.service import compute
    from hub.models.energy import EnergyAuditResult

    consumers = int(getattr(args, "energy_consumers", 5_000_000))
    feeders = int(getattr(args, "energy_feeders", 7_000))
    dts = int(getattr(args, "energy_dts", 100_000))
    rounds = max(1, int(getattr(args, "rounds", 3)))
    contender: list[float] = []
    baseline: list[float] = []
    with hub_environment(postgres=True, ratelimit="database") as env:
        engine = env.engine(pool_size=2)
        params = {
            "feeders": feeders,
            "dts": dts,
            "consumers": consumers,
            "period": PERIOD,
            "start": START,
            "end": END,
            "swap": SWAP,
        }
        began = time.perf_counter()
        with engine.begin() as conn:
            for statement in GENERATE:
                conn.execute(text(statement), params)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        print(
            f"  PostgreSQL; {consumers:,} consumers, {feeders:,} feeders, {dts:,} DTs generated in "
            f"{time.perf_counter() - began:.0f} s; {rounds} alternated rounds",
            flush=True,
        )
        rows = 0
        for index in range(rounds):
            started = time.perf_counter()
            with Session(engine) as session, session.begin():
                compute(session, PERIOD)
            contender.append(time.perf_counter() - started)
            with engine.connect() as conn:
                rows = int(conn.scalar(select(func.count()).select_from(EnergyAuditResult.__table__)) or 0)
            started = time.perf_counter()
            with engine.connect() as conn:
                bare_rows = len(conn.execute(text(BARE), {"period": PERIOD}).all())
            baseline.append(time.perf_counter() - started)
            print(
                f"  round {index + 1}/{rounds}: audit {contender[-1]:.2f} s ({rows:,} result rows), "
                f"bare aggregation {baseline[-1]:.2f} s ({bare_rows:,} rows)",
                flush=True,
            )
        engine.dispose()
    return [
        Figure(
            section=SECTION,
            name=f"monthly energy audit ({consumers:,} consumers, {feeders:,} feeders, {dts:,} DTs, PostgreSQL)",
            value=median(contender),
            unit="s",
            baseline_name="bare SQL aggregation of the same sums",
            baseline_value=median(baseline),
            target=2.0,
            comparison="<=",
            samples=contender,
            baseline_samples=baseline,
            details={"consumers": consumers, "feeders": feeders, "dts": dts, "result_rows": rows},
        )
    ]


def main_cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    common_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args(argv)
    for figure in run(args):
        print(figure.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main_cli())
