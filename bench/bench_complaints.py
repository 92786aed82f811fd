"""Complaints: the office dashboard over 1,000,000 complaints against the bare SQL doing the same work.

The contender is ``hub.complaints.dashboard.dashboard`` (the code the console page and its CSV run:
two grouped queries built with SQLAlchemy, their rows laid out in Python); the baseline is the
same two aggregates written by hand and run on the same connection pool with
``conn.exec_driver_sql``. Alternated rounds, median; target: the hub at most 2x the bare SQL.

Complaints are made in the database (``generate_series``): 1,000,000 across 40 distribution
centres, a fifth still open, a tenth resolved late with compensation. The dashboard is asked for
all 40 offices (a circle's view, the widest one).

    .venv/bin/python bench/run.py --postgres --only complaints

Intake: ``POST /api/v1/complaints/callcentre`` (a new ticket each request: billing asked for the
consumer's office, complaint and case written, SMS queued) against the bare Pyramid view doing one
INSERT and COMMIT, wrk alternated; target: the hub at least 0.5 of the bare view.

Not measured here (see the closing note of issue 18): the escalation sweep over 1,000,000 open
complaints.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    BenchError,
    Contender,
    Figure,
    SkipSection,
    alternate,
    fetch_token,
    granian_server,
    http_json,
    hub_environment,
    median,
    run_wrk,
    throughput_figure,
)

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


SETTINGS = {
    "hub.billing.backend": "connectors.billing.reference:ReferenceBilling",
    "hub.sms.backend": "connectors.sms.reference:ReferenceSms",
    "hub.sms.sender_id": "MPCZED",
    "hub.sms.entity_id": "1101000000000000001",
    "hub.sms.template.complaint_registered.id": "1107000000000000021",
    "hub.sms.template.complaint_update.id": "1107000000000000022",
    "hub.sms.template.complaint_resolved.id": "1107000000000000023",
    "hub.sms.template.complaint_compensation.id": "1107000000000000024",
}


def _intake_script(directory: Path, consumers: list[str], token: str | None) -> Path:
    run = secrets.token_hex(4)
    lines = [
        "local consumers = {" + ",".join(json.dumps(c) for c in consumers) + "}",
        "local n = 0",
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        *([f'wrk.headers["Authorization"] = "Bearer {token}"'] if token else []),
        "request = function()",
        "  n = n + 1",
        "  local c = consumers[(n % #consumers) + 1]",
        f'  local body = \'{{"ticket_id":"T{run}-\' .. n .. \'","consumer_number":"\' .. c .. '
        '\'","complaint_type":"supply_failure","description":"no supply since morning"}\'',
        "  return wrk.format(nil, nil, nil, body)",
        "end",
    ]
    path = directory / f"complaints-{run}{'-auth' if token else ''}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def _intake(args: argparse.Namespace) -> Figure:
    from sqlalchemy import text

    from connectors.demo import generate_demo_data
    from connectors.reference_db import create_reference_schema

    with ExitStack() as stack:
        env = stack.enter_context(
            hub_environment(
                postgres=True, ratelimit=args.ratelimit, extra_settings=SETTINGS, reference_in_database=True
            )
        )
        engine = env.engine()
        stack.callback(engine.dispose)
        create_reference_schema(engine)
        generate_demo_data(engine, consumers=200, seed=18)
        with engine.begin() as conn:
            consumers = list(
                conn.execute(text("SELECT consumer_number FROM ref_consumer ORDER BY 1 LIMIT 50")).scalars()
            )
            conn.execute(
                text("CREATE TABLE bench_bare_insert (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)")
            )
        client_id, secret = env.create_client("bench: 1912 call centre", ["complaints:callcentre"])
        hub = stack.enter_context(
            granian_server(
                "hub", "hub.wsgi:application", env=env.server_env(), ready_path="/healthz", log_dir=env.root
            )
        )
        bare = stack.enter_context(
            granian_server(
                "bare-insert",
                "bench.bare_insert_app:application",
                env={"HUB_BENCH_DATABASE_URL": env.database_url},
                ready_path="/bare-insert",
                log_dir=env.root,
            )
        )
        token = fetch_token(hub, client_id, secret, "complaints:callcentre")
        probe = {
            "ticket_id": "T-BENCH-PROBE",
            "consumer_number": consumers[0],
            "complaint_type": "supply_failure",
            "description": "probe",
        }
        status, body = http_json(
            "POST",
            hub.url("/api/v1/complaints/callcentre"),
            body=json.dumps(probe).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if status != 201:
            raise BenchError(f"complaint intake answered {status}: {body}")
        intake = Contender(
            "complaint intake",
            lambda s: run_wrk(
                hub.url("/api/v1/complaints/callcentre"),
                s,
                script=_intake_script(env.root, consumers, token),
                connections=4,
            ),
        )
        baseline = Contender(
            "bare INSERT+COMMIT view",
            lambda s: run_wrk(
                bare.url("/bare-insert"), s, script=_intake_script(env.root, consumers, None), connections=4
            ),
        )
        results = alternate([intake, baseline], rounds=args.rounds, seconds=args.seconds)
        with engine.connect() as conn:
            written = conn.execute(text("SELECT count(*) FROM complaints")).scalar_one()
        if written < 2:
            raise BenchError("the intake run registered no complaint")
        return throughput_figure(
            SECTION,
            "complaints registered from the call centre (billing asked, case opened, SMS queued)",
            results[intake.name],
            baseline.name,
            results[baseline.name],
            target=0.5,
            details={"database": env.kind, "load": f"wrk -t1 -c4 -d{args.seconds:g}s", "registered": written},
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--complaints-dashboard-rows",
        type=int,
        default=COMPLAINTS,
        help="complaints made for the dashboard figure",
    )


def run(args: argparse.Namespace) -> list[Figure]:
    if not args.postgres:
        raise SkipSection("the dashboard is measured on PostgreSQL: run with --postgres")
    sys.path.insert(0, str(ROOT))
    from datetime import timedelta

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from hub.complaints.dashboard import dashboard

    figures = [_intake(args)]
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
                            shown = dashboard(session, OFFICES, now)
                        hub_samples.append(time.perf_counter() - t)
                        checked = shown
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
        *figures,
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
        ),
    ]
