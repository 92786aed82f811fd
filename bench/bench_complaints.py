"""Complaints: intake against a bare INSERT view; the escalation sweep and the office dashboard over
1,000,000 rows against the bare SQL doing the same work.

    .venv/bin/python bench/run.py --only complaints                 # intake, SQLite
    .venv/bin/python bench/run.py --postgres --only complaints      # intake, sweep, dashboard
    ... --complaints-parts sweep --complaints-sweep-cases 1000000   # one figure, its size

Intake: ``POST /api/v1/complaints/callcentre`` (a new ticket each request: billing asked for the
consumer's office, complaint and case written, SMS queued) against the bare Pyramid view doing one
INSERT and COMMIT, wrk alternated; target: the hub at least 0.5 of the bare view. The outbox's task
queue is on Redis when one answers on 127.0.0.1:6379 (database 11), as production.ini has it.
``bench/profile_complaints.py`` counts one registration's SQL statements and profiles it in-process.

Escalation sweep: 1,000,000 open complaints of every type with their cases (``generate_series``),
one in 50 past its level's time limit (20,000, a backlog of a few hours), at levels 0-2 (some at
their last level: recorded, nobody texted). The contender is ``WorkflowRegistry.escalate_overdue``
called until nothing is overdue, in batches of 5,000 as the periodic job takes them (breaches,
events, audit entries, the complaints' levels, the SMS in the outbox); the baseline is one
hand-written data-modifying CTE per batch doing the same updates and inserts, with the audit entries
chained in Python and COPYed. Each round is timed to the end of its work and rolled back, so every
round finds the same cases; alternated rounds, median; both must escalate and text the same
number; target: the hub at most 2x the bare SQL.

Dashboard: ``hub.complaints.dashboard.dashboard`` (the code the console page and its CSV run: two
grouped queries built with SQLAlchemy, their rows laid out in Python) against the same two
aggregates written by hand and run on the same connection pool with ``conn.exec_driver_sql``.
1,000,000 complaints across 40 distribution centres, a fifth still open, a tenth resolved late with
compensation; all 40 offices asked for (a circle's view, the widest one). Alternated rounds,
median; target: the hub at most 2x the bare SQL.
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
    redis_reachable,
    run_wrk,
    throughput_figure,
)

SECTION = "complaints"
QUEUE_REDIS_URL = "redis://127.0.0.1:6379/11"
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
    from connectors.reference_db import open_reference_store

    extra = dict(SETTINGS)
    if redis_reachable(QUEUE_REDIS_URL):
        extra["hub.redis_url"] = QUEUE_REDIS_URL  # the task queue on Redis, as production.ini has it
    with ExitStack() as stack:
        env = stack.enter_context(
            hub_environment(
                postgres=args.postgres,
                ratelimit=args.ratelimit,
                extra_settings=extra,
                # SQLite: billing's reference store in its own file, as `make run` has it (in the
                # hub's file its reads would take the hub's one write lock).
                reference_in_database=args.postgres,
            )
        )
        engine = env.engine()
        stack.callback(engine.dispose)
        reference = open_reference_store(env.settings["hub.reference.database_url"])
        stack.callback(reference.dispose)
        generate_demo_data(reference, consumers=200, seed=18)
        with reference.connect() as conn:
            consumers = list(
                conn.execute(text("SELECT consumer_number FROM ref_consumer ORDER BY 1 LIMIT 50")).scalars()
            )
        with engine.begin() as conn:
            serial = "BIGSERIAL" if env.kind == "postgresql" else "INTEGER"
            conn.execute(
                text(f"CREATE TABLE bench_bare_insert (id {serial} PRIMARY KEY, body TEXT NOT NULL)")
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


SWEEP_CASES = 1_000_000
SWEEP_OVERDUE_EVERY = 50  # one case in 50 overdue: 20,000 of 1,000,000, a backlog of a few hours
SWEEP_BATCH = 5000  # escalate_overdue's default: the periodic job's batch

# 1,000,000 open complaints of every type, each with its case at level 0, 1 or 2 (a
# transformer failure at level 2 is at its last level: a lapse there is recorded, nobody texted).
SWEEP_FILL = """
INSERT INTO complaints (complaint_no, channel, client_id, ticket_id, request_digest, filed_by,
    consumer_number, mobile, complaint_type, description, office_code, state, level, sop_due_at,
    registered_at, reopen_count)
SELECT lpad(g::text, 13, '0'), 'callcentre', 'bench', 'T' || g, md5(g::text), 'bench',
    lpad((g %% 500000)::text, 10, '0'), '98' || lpad((g %% 100000000)::text, 8, '0'),
    (%(types)s::text[])[1 + g %% %(type_count)s], 'bench', 'DC-B' || lpad((g %% 40)::text, 3, '0'), 'open',
    g %% 3, now() + interval '4 hours', now() - interval '1 minute' * (g %% 600), 0
FROM generate_series(1, %(n)s) AS g
"""
SWEEP_CASES_FILL = """
INSERT INTO workflow_cases (workflow, version, subject_type, subject_id, office_code, state,
    state_entered_at, due_at, assigned_role, escalation_level, statutory_due_at, paused_seconds,
    created_at, event_count)
SELECT 'complaint.' || p.complaint_type, %(version)s, 'complaint', p.complaint_no, p.office_code, 'open',
    p.registered_at,
    CASE WHEN p.id %% %(every)s = 0 THEN now() - interval '1 minute' * (1 + p.id %% 300)
         ELSE now() + interval '1 minute' * (1 + p.id %% 6000) END,
    m.role, p.level, p.sop_due_at, 0, p.registered_at, 1
FROM complaints p JOIN (VALUES %(roles)s) AS m (type, level, role)
    ON m.type = p.complaint_type AND m.level = p.level
"""

# The same work by hand, per batch: lock the earliest overdue cases, hand each up (capped at its
# last level), a breach and an event each, the complaints' levels, an SMS where the holder changed;
# the audit entries are chained in Python below (their hashes cannot be computed in SQL).
BARE_SWEEP = """
WITH due AS (
    SELECT id, assigned_role AS role, due_at AS lapsed FROM workflow_cases
    WHERE due_at < %(now)s AND closed_at IS NULL ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), m (workflow, from_level, target, last_level, hours, holder_en, holder_hi) AS (VALUES {levels}),
moved AS (
    UPDATE workflow_cases c SET escalation_level = least(c.escalation_level + 1, m.last_level),
        event_count = c.event_count + 1, assigned_role = m.target,
        due_at = %(now)s + m.hours * interval '1 hour'
    FROM due, m WHERE c.id = due.id AND m.workflow = c.workflow AND m.from_level = c.escalation_level
    RETURNING c.id, c.workflow, c.subject_type, c.subject_id, c.state, c.assigned_role, c.event_count,
        c.escalation_level, due.role, due.lapsed, m.holder_en, m.holder_hi
), breaches AS (
    INSERT INTO workflow_breaches (case_id, state, role, due_at, detected_at, escalated_to)
    SELECT id, state, role, lapsed, %(now)s, assigned_role FROM moved
), events AS (
    INSERT INTO workflow_events (case_id, seq, at, action, from_state, to_state, actor, role, reason, data)
    SELECT id, event_count, %(now)s, 'escalate', state, state, 'system', 'system', 'time limit passed',
        json_build_object('escalated_to', assigned_role) FROM moved
), told AS (
    UPDATE complaints p SET level = moved.escalation_level FROM moved
    WHERE p.complaint_no = moved.subject_id AND p.level <> moved.escalation_level
    RETURNING p.complaint_no, p.mobile, moved.holder_en, moved.holder_hi
), sms AS (
    INSERT INTO outbox_messages (kind, key, payload, status, attempts, next_attempt_at, created_at)
    SELECT 'sms', 'complaint:' || complaint_no, json_build_object('mobile', mobile, 'text',
        'शिकायत ' || complaint_no || ': ' || holder_hi || ' को भेजी गई। Complaint ' || complaint_no
        || ' is now with the ' || holder_en || '. -MPCZED', 'template', 'complaint_update'),
        'pending', 0, %(now)s, %(now)s FROM told
)
SELECT workflow, subject_type, subject_id, state, assigned_role FROM moved ORDER BY id
"""


def _levels_values(standards: Any) -> tuple[str, str]:
    """(role of each type at each level, for the fill; the bare sweep's level table), as SQL VALUES."""
    from hub.complaints.service import ROLE_NAMES

    roles, levels = [], []
    for kind in standards.types.values():
        last = len(kind.levels) - 1
        for level, role in enumerate(kind.levels):
            roles.append(f"('{kind.code}', {level}, '{role}')")
            target = kind.levels[min(level + 1, last)]
            en, hi = ROLE_NAMES[target]
            levels.append(
                f"('{kind.workflow}', {level}, '{target}', {last}, {kind.level_hours}::float8, '{en}', '{hi}')"
            )
    return ", ".join(roles), ", ".join(levels)


def _bare_audit(conn: Any, rows: list[Any]) -> None:
    """The sweep's audit entries, chained, by hand: the chain's lock, its head, one COPY."""
    from hub.audit import GENESIS_HASH, canonical_data, entry_hash

    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(key)s)", {"key": 0x6175646974})
    head = conn.exec_driver_sql("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").first()
    seq, prev = (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1]))
    at = datetime.now(UTC)
    lines = []
    for workflow, subject_type, subject_id, state, target in rows:
        seq += 1
        data = canonical_data(
            {"from": state, "to": state, "reason": "time limit passed", "escalated_to": target}
        )
        digest = entry_hash(
            prev,
            seq=seq,
            at=at,
            actor="system",
            action=f"{workflow}.escalate",
            subject_type=subject_type,
            subject_id=subject_id,
            data_json=data,
        )
        lines.append(
            (seq, at, "system", f"{workflow}.escalate", subject_type, subject_id, data, prev, digest)
        )
        prev = digest
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(
        "COPY audit_log (seq, at, actor, action, subject_type, subject_id, data_json, prev_hash, hash) FROM STDIN"
    ) as copy:
        for line in lines:
            copy.write_row(line)


def _sweep(args: argparse.Namespace) -> Figure:
    from pyramid.paster import get_app
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from hub.complaints.service import ComplaintService
    from hub.lookup import process_service
    from hub.models.workflow import WorkflowBreach
    from hub.workflow import WorkflowRegistry

    cases = int(getattr(args, "complaints_sweep_cases", SWEEP_CASES))
    with hub_environment(postgres=True, ratelimit="database", extra_settings=SETTINGS) as env:
        app = get_app(str(env.ini), "main")
        standards = process_service(app.registry, ComplaintService).standards
        flows = process_service(app.registry, WorkflowRegistry)
        roles, levels = _levels_values(standards)
        engine = env.engine()
        try:
            started = time.perf_counter()
            with engine.begin() as conn:
                types = list(standards.types)
                conn.exec_driver_sql(SWEEP_FILL, {"types": types, "type_count": len(types), "n": cases})
                conn.exec_driver_sql(
                    SWEEP_CASES_FILL.replace("%(roles)s", roles),
                    {"version": standards.version, "every": SWEEP_OVERDUE_EVERY},
                )
                conn.exec_driver_sql("ANALYZE complaints")
                conn.exec_driver_sql("ANALYZE workflow_cases")
                overdue = conn.exec_driver_sql(
                    "SELECT count(*) FROM workflow_cases WHERE due_at < now() AND closed_at IS NULL"
                ).scalar_one()
            print(
                f"  {cases:,} open complaints and cases made in {time.perf_counter() - started:.1f} s, "
                f"{overdue:,} overdue",
                flush=True,
            )
            bare_sql = BARE_SWEEP.replace("{levels}", levels)
            hub_samples: list[float] = []
            bare_samples: list[float] = []
            done: dict[str, tuple[int, int]] = {}
            for round_no in range(args.rounds):
                for order in ("hub", "bare") if round_no % 2 == 0 else ("bare", "hub"):
                    now = datetime.now(UTC)
                    # Timed to the end of the work; rolled back, so every round finds the same cases.
                    if order == "hub":
                        with Session(engine) as session:
                            t = time.perf_counter()
                            escalated = 0
                            while batch := flows.escalate_overdue(session, now, limit=SWEEP_BATCH):
                                escalated += len(batch)
                            hub_samples.append(time.perf_counter() - t)
                            texts = session.execute(
                                text("SELECT count(*) FROM outbox_messages WHERE created_at >= :now"),
                                {"now": now},
                            ).scalar_one()
                            done["hub"] = (escalated, texts)
                            session.rollback()
                    else:
                        with engine.connect() as conn:
                            t = time.perf_counter()
                            escalated = 0
                            while rows := conn.exec_driver_sql(
                                bare_sql, {"now": now, "limit": SWEEP_BATCH}
                            ).all():
                                _bare_audit(conn, rows)
                                escalated += len(rows)
                            bare_samples.append(time.perf_counter() - t)
                            texts = conn.exec_driver_sql(
                                "SELECT count(*) FROM outbox_messages WHERE created_at >= %(now)s",
                                {"now": now},
                            ).scalar_one()
                            done["bare"] = (escalated, texts)
                            conn.rollback()
                print(
                    f"  round {round_no + 1}/{args.rounds}: sweep {hub_samples[-1] * 1000:,.0f} ms, "
                    f"bare SQL {bare_samples[-1] * 1000:,.0f} ms ({done['hub'][0]:,} escalated, "
                    f"{done['hub'][1]:,} texted)",
                    flush=True,
                )
            # The contender did the same work as the bare SQL.
            if done["hub"] != done["bare"] or done["hub"][0] != overdue:
                raise BenchError(f"the sweep's escalations and SMS differ from the bare SQL's: {done}")
            with Session(engine) as session:
                if session.query(WorkflowBreach).count():
                    raise BenchError("a round's work was committed")
        finally:
            engine.dispose()
    hub_s, bare_s = median(hub_samples), median(bare_samples)
    return Figure(
        SECTION,
        f"escalation sweep over {cases:,} open complaints ({overdue:,} overdue)",
        hub_s * 1000,
        "ms",
        "bare SQL: one data-modifying CTE a batch, audit chained and COPYed",
        bare_s * 1000,
        target=2.0,
        comparison="<=",
        samples=[x * 1000 for x in hub_samples],
        baseline_samples=[x * 1000 for x in bare_samples],
        details={"database": "postgresql", "cases": cases, "overdue": overdue, "batch": SWEEP_BATCH},
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--complaints-parts",
        default="intake,dashboard,sweep",
        help="which complaints figures to measure (comma-separated: intake, dashboard, sweep)",
    )
    parser.add_argument(
        "--complaints-sweep-cases",
        type=int,
        default=SWEEP_CASES,
        help="open complaints (and cases) made for the escalation sweep figure",
    )
    parser.add_argument(
        "--complaints-dashboard-rows",
        type=int,
        default=COMPLAINTS,
        help="complaints made for the dashboard figure",
    )


def run(args: argparse.Namespace) -> list[Figure]:
    sys.path.insert(0, str(ROOT))
    parts = set(str(getattr(args, "complaints_parts", "intake,dashboard,sweep")).split(","))
    figures = [_intake(args)] if "intake" in parts else []
    if not args.postgres:
        if not figures:
            raise SkipSection("the dashboard and the sweep are measured on PostgreSQL: run with --postgres")
        print("  the dashboard and the sweep are measured on PostgreSQL only (--postgres)", flush=True)
        return figures
    if "sweep" in parts:
        figures.append(_sweep(args))
    if "dashboard" in parts:
        figures.append(_dashboard(args))
    return figures


def _dashboard(args: argparse.Namespace) -> Figure:
    from datetime import timedelta

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from hub.complaints.dashboard import dashboard

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
    return Figure(
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
