"""Complaints: the office dashboard over 1,000,000 complaints against the bare SQL doing the same work.

The contender is ``hub.console.dashboard.dashboard`` (the code the console page and its CSV run:
two grouped queries built with SQLAlchemy, their rows laid out in Python); the baseline is the
same two aggregates written by hand and run on the same connection pool with
``conn.exec_driver_sql``. Alternated rounds, median; target: the hub at most 2x the bare SQL.

Complaints are made in the database (``generate_series``): 1,000,000 across 40 distribution
centres, a fifth still open, a tenth resolved late with compensation. The dashboard is asked for
all 40 offices (a circle's view, the widest one).

    .venv/bin/python bench/run.py --postgres --only complaints

Not measured here (see the closing note of issue 18): complaint intake against a bare INSERT view,
and the escalation sweep over 1,000,000 open complaints.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import ROOT, Figure, SkipSection, hub_environment, median

SECTION = "complaints"
COMPLAINTS = 1_000_000
OFFICES = [f"DC-B{n:03d}" for n in range(40)]

FILL = """
INSERT INTO complaints (complaint_no, channel, client_id, ticket_id, request_digest, filed_by,
    consumer_number, mobile, complaint_type, description, office_code, state, level, sop_due_at,
    registered_at, resolved_at, action_taken, reopen_count, compensation_amount, compensation_receipt)
SELECT lpad(g::text, 13, '0'), 'callcentre', 'bench', 'T' || g, md5(g::text), 'bench',
    lpad((g % 500000)::text, 10, '0'), '98' || lpad((g % 100000000)::text, 8, '0'),
    (ARRAY['supply_failure','line_breakdown','transformer_failure','meter','billing'])[1 + g % 5],
    'bench', 'DC-B' || lpad((g % 40)::text, 3, '0'),
    CASE WHEN g % 5 = 0 THEN 'open' ELSE 'resolved' END, (g % 7) % 3,
    now() - make_interval(hours => (g % 2000)) + interval '24 hours',
    now() - make_interval(hours => (g % 2000)),
    CASE WHEN g % 5 = 0 THEN NULL
         WHEN g % 10 = 1 THEN now() - make_interval(hours => (g % 2000)) + interval '48 hours'
         ELSE now() - make_interval(hours => (g % 2000)) + interval '2 hours' END,
    NULL, 0,
    CASE WHEN g % 10 = 1 THEN 50 END, CASE WHEN g % 10 = 1 THEN 'R' || g END
FROM generate_series(1, :n) AS g
"""

# The same work by hand: pendency by age bucket and level, then the per-standard totals.
BARE_PENDENCY = """
SELECT CASE WHEN registered_at > %(t4)s THEN 0 WHEN registered_at > %(t24)s THEN 1
            WHEN registered_at > %(t72)s THEN 2 WHEN registered_at > %(t168)s THEN 3 ELSE 4 END AS bucket,
       level, count(*)
FROM complaints WHERE resolved_at IS NULL AND office_code = ANY(%(offices)s) GROUP BY 1, 2
"""
BARE_STANDARDS = """
SELECT complaint_type, count(*),
       count(*) FILTER (WHERE resolved_at IS NULL),
       count(*) FILTER (WHERE resolved_at IS NOT NULL AND resolved_at <= sop_due_at),
       count(*) FILTER (WHERE resolved_at IS NOT NULL AND resolved_at > sop_due_at),
       count(*) FILTER (WHERE resolved_at IS NULL AND sop_due_at < %(now)s),
       count(*) FILTER (WHERE compensation_receipt IS NOT NULL),
       coalesce(sum(compensation_amount) FILTER (WHERE compensation_receipt IS NOT NULL), 0)
FROM complaints WHERE office_code = ANY(%(offices)s) GROUP BY complaint_type ORDER BY complaint_type
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--complaints-dashboard-rows", type=int, default=COMPLAINTS, help="complaints made for the dashboard figure"
    )


def run(args: argparse.Namespace) -> list[Figure]:
    if not args.postgres:
        raise SkipSection("the dashboard is measured on PostgreSQL: run with --postgres")
    sys.path.insert(0, str(ROOT))
    from datetime import timedelta

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from hub.console.dashboard import dashboard

    rows = int(getattr(args, "complaints_dashboard_rows", COMPLAINTS))
    with hub_environment(postgres=True, ratelimit="database") as env:
        engine = env.engine()
        try:
            started = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(text(FILL), {"n": rows})
                conn.exec_driver_sql("ANALYZE complaints")
            print(f"  {rows:,} complaints made in {time.perf_counter() - started:.1f} s", flush=True)
            hub_samples: list[float] = []
            bare_samples: list[float] = []
            checked: Any = None
            for round_no in range(args.rounds):
                for order in ("hub", "bare") if round_no % 2 == 0 else ("bare", "hub"):
                    now = datetime.now(UTC)
                    t = time.perf_counter()
                    if order == "hub":
                        with Session(engine) as session:
                            figures = dashboard(session, OFFICES, now)
                        hub_samples.append(time.perf_counter() - t)
                        checked = figures
                    else:
                        params = {
                            "now": now,
                            "offices": OFFICES,
                            **{f"t{h}": now - timedelta(hours=h) for h in (4, 24, 72, 168)},
                        }
                        with engine.connect() as conn:
                            pendency = conn.exec_driver_sql(BARE_PENDENCY, params).all()
                            standards = conn.exec_driver_sql(BARE_STANDARDS, params).all()
                        bare_samples.append(time.perf_counter() - t)
                print(
                    f"  round {round_no + 1}/{args.rounds}: dashboard {hub_samples[-1] * 1000:,.0f} ms, "
                    f"bare SQL {bare_samples[-1] * 1000:,.0f} ms",
                    flush=True,
                )
            # The contender did the work: its totals are the bare SQL's.
            assert checked is not None
            if checked.open_total != sum(r[2] for r in pendency) or [s.total for s in checked.standards] != [
                r[1] for r in standards
            ]:
                raise RuntimeError("the dashboard's totals differ from the bare SQL's")
        finally:
            engine.dispose()
    hub_s, bare_s = median(hub_samples), median(bare_samples)
    return [
        Figure(
            SECTION,
            f"office dashboard over {rows:,} complaints (40 offices)",
            hub_s * 1000,
            "ms",
            "bare SQL: the same two GROUP BY queries",
            bare_s * 1000,
            target=2.0,
            comparison="<=",
            samples=[s * 1000 for s in hub_samples],
            baseline_samples=[s * 1000 for s in bare_samples],
            details={"database": "postgresql", "complaints": rows},
        )
    ]
