"""Bills and payments: notifications accepted per second next to a bare INSERT+COMMIT view, the
posting rate of a real ``hub-worker``, and reconciliation of a settlement file next to bare SQL.

Notifications: wrk posts the citizen-services portal's payment advice (₹1 against one of the demo
consumers that owe, a new transaction id per request), so each request validates, records the
payment once under its unique key, audits it and writes the posting's outbox row, committed.
Baseline: ``bench.bare_insert_app`` on the same granian command inserting the same body into a
one-column table of the same database, alternated.

Posting: the payments accepted above, posted to the reference billing by ``hub-worker`` (decide,
post; the SMS, ``meters.payment_posted`` and receipt rows queued); informational, next to one thread
calling billing's ``post_payment`` directly.

Reconciliation: ``--bills-reconcile-lines`` (default 100,000; the issue's figure is 1,000,000)
posted payments and their ledger postings bulk-loaded, a settlement file with as many lines
(1% amounts differ, 1% missing in the hub), reconciled by ``Reconciler.run`` in a subprocess (its
peak RSS reported) next to the bare SQL doing the same match: COPY the file into a table and one
join counting matches and differences.

Reconnection: a second throwaway hub served with ``hub-worker`` beside it, the reference billing
and head-end in its schema, demo data with enough disconnected smart meters; portal notifications
at ``--bills-reconnect-rate`` a second, each paying all one of those consumers owes; p50 and p99 of
the time from the hub recording a payment to the head-end receiving its connect command.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    VENV_BIN,
    BenchError,
    Contender,
    Figure,
    SkipSection,
    alternate,
    fetch_token,
    granian_server,
    http_json,
    hub_environment,
    hub_worker,
    redis_reachable,
    run_wrk,
    throughput_figure,
)

SECTION = "bills"
FIGURES = ("notifications", "posting", "reconciliation", "reconnection")
# The reconciler's peak RSS, whatever the file's size (interpreter, SQLAlchemy, one chunk).
RECONCILE_RSS_LIMIT_KIB = 200 * 1024
SETTINGS = {
    "hub.billing.backend": "connectors.billing.reference:ReferenceBilling",
    "hub.sms.backend": "connectors.sms.reference:ReferenceSms",
    "hub.sms.sender_id": "MPCZED",
    "hub.sms.entity_id": "1101000000000000001",
    "hub.sms.template.payment_receipt.id": "1107000000000000007",
    "hub.payment.backend": "connectors.payment.reference:ReferencePayment",
    "hub.payment.callback_secret": "bench-payment-callback-secret",
    # The task queue on Redis, as production runs it.
    "hub.redis_url": "redis://127.0.0.1:6379/12",
    "hub.outbox.workers": "4",
    "hub.outbox.sweep_seconds": "2",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bills-reconcile-lines", type=int, default=100_000, help="settlement lines to reconcile"
    )
    parser.add_argument("--bills-post", type=int, default=500, help="payments hub-worker posts")
    parser.add_argument(
        "--bills-reconnect-rate",
        type=float,
        default=100.0,
        help="payments a second clearing a disconnected smart meter's dues",
    )
    parser.add_argument(
        "--bills-reconnect-seconds", type=float, default=5.0, help="seconds the reconnection load is sent for"
    )
    parser.add_argument(
        "--bills-figures",
        default=",".join(FIGURES),
        help="the bills figures to measure, comma-separated (posting needs notifications): "
        + ", ".join(FIGURES),
    )


def _figures(args: argparse.Namespace) -> set[str]:
    chosen = {f.strip() for f in str(args.bills_figures).split(",") if f.strip()}
    unknown = chosen - set(FIGURES)
    if unknown:
        raise BenchError(
            f"--bills-figures: no figure {', '.join(sorted(unknown))} (there are {', '.join(FIGURES)})"
        )
    return chosen


def _script(directory: Path, consumers: list[str]) -> Path:
    run = secrets.token_hex(4)
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    lines = [
        "local consumers = {" + ",".join(json.dumps(c) for c in consumers) + "}",
        "local n = 0",
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        "request = function()",
        "  n = n + 1",
        "  local c = consumers[(n % #consumers) + 1]",
        f'  local body = \'{{"cs_txn_no":"B{run}-\' .. n .. \'","ivrs_no":"\' .. c .. '
        f'\'","amount_paise":100,"txn_datetime":"{now}"}}\'',
        "  return wrk.format(nil, nil, nil, body)",
        "end",
    ]
    path = directory / f"bills-{run}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def _with_token(script: Path, token: str) -> Path:
    text = script.read_text()
    out = script.with_name(script.stem + "-auth.lua")
    out.write_text(
        text.replace(
            'wrk.method = "POST"', f'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer {token}"'
        )
    )
    return out


def run(args: argparse.Namespace) -> list[Figure]:
    chosen = _figures(args)
    if not args.postgres:
        raise SkipSection("payments are write-bound: run with --postgres")
    if not redis_reachable(SETTINGS["hub.redis_url"]):
        raise SkipSection("the task queue is measured on Redis; none answers on 127.0.0.1:6379")
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select, text

    from connectors.demo import generate_demo_data
    from connectors.reference_db import create_reference_schema
    from hub.models.bills import BillPayment

    figures: list[Figure] = []
    with ExitStack() as stack:
        env = stack.enter_context(
            hub_environment(
                postgres=True, ratelimit=args.ratelimit, extra_settings=SETTINGS, reference_in_database=True
            )
        )
        engine = env.engine()
        stack.callback(engine.dispose)
        create_reference_schema(engine)
        generate_demo_data(engine, consumers=400, seed=11)
        with engine.begin() as conn:
            owing = list(
                conn.execute(
                    text(
                        "SELECT l.consumer_number FROM ref_ledger_entry l JOIN ref_consumer c "
                        "ON c.consumer_number = l.consumer_number WHERE c.connection_status <> "
                        "'permanently_disconnected' GROUP BY l.consumer_number "
                        "HAVING SUM(l.amount_paise) > 200000 ORDER BY l.consumer_number LIMIT 50"
                    )
                ).scalars()
            )
            conn.execute(
                text("CREATE TABLE bench_bare_insert (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)")
            )
        if not owing:
            raise BenchError("the demo data has no consumer owing more than ₹2,000")
        if "notifications" in chosen:
            client_id, secret = env.create_client("bench: portal", ["bills:portal"])
            hub = stack.enter_context(
                granian_server(
                    "hub",
                    "hub.wsgi:application",
                    env=env.server_env(),
                    ready_path="/healthz",
                    log_dir=env.root,
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
            token = fetch_token(hub, client_id, secret, "bills:portal")
            probe = {
                "cs_txn_no": "BENCH-PROBE",
                "ivrs_no": owing[0],
                "amount_paise": 100,
                "txn_datetime": datetime.now(UTC).isoformat(),
            }
            status, body = http_json(
                "POST",
                hub.url("/api/v1/bills/payments/portal"),
                body=json.dumps(probe).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            if status != 202:
                raise BenchError(f"notifyPortalPayment answered {status}: {body}")
            script = _script(env.root, owing)
            notify = Contender(
                "notifyPortalPayment",
                lambda s: run_wrk(
                    hub.url("/api/v1/bills/payments/portal"),
                    s,
                    script=_with_token(script, token),
                    connections=4,
                ),
            )
            baseline = Contender(
                "bare INSERT+COMMIT view",
                lambda s: run_wrk(bare.url("/bare-insert"), s, script=script, connections=4),
            )
            results = alternate([notify, baseline], rounds=args.rounds, seconds=args.seconds)
            figures.append(
                throughput_figure(
                    SECTION,
                    "payment notifications accepted (recorded once, posting queued)",
                    results[notify.name],
                    baseline.name,
                    results[baseline.name],
                    target=0.5,
                    details={"database": env.kind, "load": f"wrk -t1 -c4 -d{args.seconds:g}s"},
                )
            )
        if "notifications" in chosen and "posting" in chosen:
            figures.append(_posting(args, env, engine, owing, select, BillPayment))
        if "reconciliation" in chosen:
            figures.append(_reconciliation(args, env, engine))
    if "reconnection" in chosen:
        figures.append(_reconnection(args))
    return figures


def _posting(
    args: argparse.Namespace, env: Any, engine: Any, owing: list[str], select: Any, payment: Any
) -> Figure:
    from sqlalchemy import func, text

    from connectors.billing.reference import ReferenceBilling

    with engine.begin() as conn:
        accepted = conn.execute(
            select(func.count()).select_from(payment).where(payment.state == "accepted")
        ).scalar_one()
    count = min(int(args.bills_post), int(accepted))
    # Only ``count`` payments wait for the worker: the rest are set aside (not measured).
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE outbox_messages SET status = 'parked' WHERE kind = 'bills.post_payment' AND id NOT IN "
                "(SELECT id FROM outbox_messages WHERE kind = 'bills.post_payment' ORDER BY id LIMIT :n)"
            ),
            {"n": count},
        )
    billing = ReferenceBilling(engine)
    started = time.perf_counter()
    paid_at = datetime.now(UTC)
    for i in range(count):
        billing.post_payment(owing[i % len(owing)], Decimal("0.01"), f"BENCH-DIRECT-{i}", paid_at, "bench")
    direct_rate = count / (time.perf_counter() - started)
    with hub_worker(env.ini, env.root):
        started = time.perf_counter()
        deadline = started + 300
        while time.perf_counter() < deadline:
            with engine.connect() as conn:
                posted = conn.execute(
                    select(func.count()).select_from(payment).where(payment.state == "posted")
                ).scalar_one()
            if posted >= count:
                break
            time.sleep(0.1)
        else:
            raise BenchError(f"hub-worker posted {posted} of {count} payments in 300 s")
        worker_rate = count / (time.perf_counter() - started)
    return Figure(
        SECTION,
        "payments posted by hub-worker (decide, post; SMS, meters and receipt rows queued)",
        worker_rate,
        "payments/s",
        "one thread calling billing's post_payment directly",
        direct_rate,
        details={"payments": count, "worker_threads": SETTINGS["hub.outbox.workers"]},
    )


def reconciliation_data(engine: Any, root: Path, lines: int, day: str) -> Path:
    """``lines`` posted payments of channel bbps on ``day`` with their ledger postings, and a
    settlement file of as many lines (1% amounts differ, 1% missing in the hub)."""
    from sqlalchemy import text

    settlement = root / "settlement.csv"
    with engine.begin() as conn:
        driver = conn.connection.driver_connection
        with driver.cursor() as cur:
            with cur.copy(
                "COPY bill_payments (channel, transaction_id, consumer_number, amount, paid_at, paid_on, "
                "received_at, received_from, state, billing_reference, posted_to, details) FROM STDIN"
            ) as copy:
                for i in range(lines):
                    copy.write(
                        f"bbps\tR{i:09d}\t1019990020\t{100 + i % 900}.00\t{day} 10:00:00+05:30\t{day}\t"
                        f"{day} 10:00:01+05:30\tbench\tposted\tHUB-bbps-R{i:09d}\t1019990020\t{{}}\n"
                    )
            with cur.copy(
                "COPY ref_ledger_entry (consumer_number, entry_date, kind, amount_paise, reference, posted_at) "
                "FROM STDIN"
            ) as copy:
                for i in range(lines):
                    copy.write(
                        f"1019990020\t{day}\tpayment\t{-(100 + i % 900) * 100}\tHUB-bbps-R{i:09d}\t{day} 10:00:02+05:30\n"
                    )
    with open(settlement, "w") as out:
        out.write("transaction_id,amount,paid_on\n")
        for i in range(lines):
            amount = 100 + i % 900 + (1 if i % 100 == 7 else 0)
            txn = f"X{i:09d}" if i % 100 == 13 else f"R{i:09d}"
            out.write(f"{txn},{amount}.00,{day}\n")
    with engine.begin() as conn:
        conn.execute(text("ANALYZE bill_payments"))
        conn.execute(text("ANALYZE ref_ledger_entry"))
    return settlement


def _reconciliation(args: argparse.Namespace, env: Any, engine: Any) -> Figure:
    from sqlalchemy import text

    lines = int(args.bills_reconcile_lines)
    day = "2026-11-30"
    settlement = reconciliation_data(engine, env.root, lines, day)
    code = (
        "import sys, json, resource, time; from datetime import date\n"
        "from hub.db import make_engine\n"
        "from hub.bills.reconciliation import Reconciler\n"
        "from connectors.billing.reference import ReferenceBilling\n"
        "engine = make_engine(sys.argv[1], pool_size=2)\n"
        "day = date.fromisoformat(sys.argv[3])\n"
        # Warmed as a running hub-worker is (and as the baseline's engine is): mappers configured,
        # a connection in the pool.
        "from sqlalchemy.orm import configure_mappers; configure_mappers()\n"
        "engine.connect().close()\n"
        "t = time.perf_counter()\n"
        "with open(sys.argv[2]) as f:\n"
        "    run_id = Reconciler(engine).run('bbps', day, sys.argv[2], f, ReferenceBilling(engine).payments_posted_tsv(day), 'bench')\n"
        "elapsed = time.perf_counter() - t\n"
        "print(json.dumps({'seconds': elapsed, 'run_id': run_id, 'maxrss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n"
    )
    python = str(VENV_BIN / "python")
    samples: list[float] = []
    bare_samples: list[float] = []
    rss: list[int] = []
    counts: dict[str, Any] = {}
    for round_no in range(args.rounds):
        done = subprocess.run(
            [python, "-c", code, env.database_url, str(settlement), day],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"reconciliation failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        samples.append(lines / result["seconds"])
        rss.append(int(result["maxrss_kib"]))
        with engine.connect() as conn:
            counts = dict(
                conn.execute(
                    text("SELECT counts FROM bill_reconciliation_runs WHERE id = :id"),
                    {"id": result["run_id"]},
                ).scalar_one()
            )
        bare_samples.append(lines / _bare_sql(engine, settlement, day))
        print(
            f"  round {round_no + 1}/{args.rounds}: hub {samples[-1]:,.0f} lines/s, bare {bare_samples[-1]:,.0f} "
            f"lines/s, ratio {samples[-1] / bare_samples[-1]:.2f}, reconciler peak RSS {rss[-1] / 1024:.0f} MiB",
            flush=True,
        )
    from bench.common import median

    # Flat memory: the reconciler holds a chunk, never the file; its peak RSS must not grow with it.
    if max(rss) > RECONCILE_RSS_LIMIT_KIB:
        raise BenchError(
            f"reconciliation peaked at {max(rss) // 1024} MiB (limit {RECONCILE_RSS_LIMIT_KIB // 1024} MiB)"
        )
    expected_differ = sum(1 for i in range(lines) if i % 100 == 7)
    if counts.get("amount_differs") != expected_differ:
        raise BenchError(f"reconciliation counted {counts}, expected {expected_differ} amounts differing")
    return Figure(
        SECTION,
        f"settlement lines reconciled ({lines:,} lines: file, hub payments, billing ledger)",
        median(samples),
        "lines/s",
        "bare SQL: COPY the file, one join",
        median(bare_samples),
        target=0.5,
        samples=samples,
        baseline_samples=bare_samples,
        details={"peak_rss_mib": [round(r / 1024, 1) for r in rss], "counts": counts},
    )


def _bare_sql(engine: Any, settlement: Path, day: str) -> float:
    """Seconds for the bare match: COPY the file into a table, join it with payments and ledger."""
    from sqlalchemy import text

    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TEMP TABLE bare_settlement (transaction_id TEXT, amount NUMERIC, paid_on DATE)")
        )
        driver = conn.connection.driver_connection
        with (
            driver.cursor() as cur,
            cur.copy("COPY bare_settlement FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            open(settlement, "rb") as f,
        ):
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        conn.execute(
            text(
                "SELECT COUNT(*) FILTER (WHERE p.id IS NULL), COUNT(*) FILTER (WHERE p.amount <> s.amount), "
                "COUNT(*) FILTER (WHERE l.id IS NULL) FROM bare_settlement s "
                "LEFT JOIN bill_payments p ON p.channel = 'bbps' AND p.transaction_id = s.transaction_id "
                "LEFT JOIN ref_ledger_entry l ON l.reference = p.billing_reference"
            )
        ).one()
        conn.execute(text("DROP TABLE bare_settlement"))
    return time.perf_counter() - started


# The reference head-end as `make run` has it, holding its notifications (the figure ends when the
# command reaches the head-end, not when the meter confirms it).
RECONNECT_SETTINGS = {
    **SETTINGS,
    "hub.headend.backend": "connectors.headend.reference:ReferenceHeadEnd",
    "hub.headend.callback": "hold",
    "hub.headend.notification_secret": "bench-headend-secret",
    "hub.meters.notification_secret": "bench-headend-secret",
    "hub.sms.template.meter_reconnected.id": "1107000000000000008",
}
# Disconnected smart meters that switch remotely: about one connection in a hundred of the demo data.
DEMO_CONSUMERS_PER_DISCONNECTED_SMART = 120


def _reconnection(args: argparse.Namespace) -> Figure:
    """Payment to reconnect command at the head-end, with hub-worker running, at a steady rate.

    Each payment is a portal notification paying all a disconnected smart-meter consumer owes (one
    payment per consumer); the latency of one is from the hub's recording of the payment
    (``bill_payments.received_at``) to the head-end's receipt of its connect command
    (``ref_hes_command.requested_at``), both stamped on this machine's clock.
    """
    import http.client
    import threading
    import urllib.parse

    from sqlalchemy import text

    from bench.common import median
    from connectors.demo import generate_demo_data
    from connectors.reference_db import create_reference_schema

    rate = float(args.bills_reconnect_rate)
    count = max(1, int(rate * float(args.bills_reconnect_seconds)))
    with ExitStack() as stack:
        env = stack.enter_context(
            hub_environment(
                postgres=True,
                ratelimit=args.ratelimit,
                extra_settings=RECONNECT_SETTINGS,
                reference_in_database=True,
            )
        )
        engine = env.engine()
        stack.callback(engine.dispose)
        create_reference_schema(engine)
        generate_demo_data(
            engine, consumers=max(2_000, count * DEMO_CONSUMERS_PER_DISCONNECTED_SMART), seed=13
        )
        with engine.begin() as conn:
            owing = [
                (str(number), int(dues))
                for number, dues in conn.execute(
                    text(
                        "SELECT c.consumer_number, SUM(l.amount_paise) FROM ref_consumer c "
                        "JOIN ref_meter m ON m.consumer_number = c.consumer_number "
                        "JOIN ref_hes_meter h ON h.meter_no = m.meter_number "
                        "JOIN ref_ledger_entry l ON l.consumer_number = c.consumer_number "
                        "WHERE c.connection_status = 'disconnected' AND m.meter_type = 'smart' "
                        "AND m.supply = 'disconnected' AND h.remote_switch AND h.communicating "
                        "AND h.simulate = 'normal' GROUP BY c.consumer_number HAVING SUM(l.amount_paise) > 0 "
                        "ORDER BY c.consumer_number"
                    )
                )
            ]
        if len(owing) < count:
            raise BenchError(
                f"the demo data has {len(owing)} disconnected smart meters owing, {count} needed"
            )
        owing = owing[:count]
        client_id, secret = env.create_client("bench: portal", ["bills:portal"])
        hub = stack.enter_context(
            granian_server(
                "hub", "hub.wsgi:application", env=env.server_env(), ready_path="/healthz", log_dir=env.root
            )
        )
        token = fetch_token(hub, client_id, secret, "bills:portal")
        stack.enter_context(hub_worker(env.ini, env.root))
        url = urllib.parse.urlsplit(hub.url("/api/v1/bills/payments/portal"))
        run = secrets.token_hex(4)
        paid_at = datetime.now(UTC).replace(microsecond=0).isoformat()
        refused: list[str] = []
        started = time.perf_counter() + 0.5
        next_index = iter(range(count))
        lock = threading.Lock()

        def sender() -> None:
            conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    break
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                number, dues = owing[i]
                body = json.dumps(
                    {
                        "cs_txn_no": f"RC{run}-{i}",
                        "ivrs_no": number,
                        "amount_paise": dues,
                        "txn_datetime": paid_at,
                    }
                )
                conn.request(
                    "POST",
                    url.path,
                    body=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                answer = conn.getresponse()
                answer.read()
                if answer.status != 202:
                    refused.append(f"{answer.status} for {number}")
            conn.close()

        threads = [threading.Thread(target=sender, daemon=True) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        sent_rate = count / (time.perf_counter() - started)
        if refused:
            raise BenchError(f"{len(refused)} notifications refused, e.g. {refused[:3]}")
        query = text(
            "SELECT EXTRACT(EPOCH FROM h.requested_at - p.received_at) FROM bill_payments p "
            "JOIN ref_hes_command h ON h.transaction_id = 'RC-' || p.consumer_number || '-' || p.id || '.1' "
            "WHERE p.transaction_id LIKE :run"
        )
        deadline = time.perf_counter() + 120
        latencies: list[float] = []
        while time.perf_counter() < deadline:
            with engine.connect() as conn:
                latencies = sorted(float(v) for v in conn.execute(query, {"run": f"RC{run}-%"}).scalars())
            if len(latencies) >= count:
                break
            time.sleep(0.5)
        if len(latencies) < count:
            with engine.connect() as conn:
                states = dict(
                    conn.execute(
                        text(
                            "SELECT state, COUNT(*) FROM bill_payments WHERE transaction_id LIKE :run GROUP BY state"
                        ),
                        {"run": f"RC{run}-%"},
                    ).all()
                )
            raise BenchError(
                f"{len(latencies)} of {count} reconnect commands reached the head-end in 120 s ({states})"
            )
    p50 = median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(
        f"  reconnection: {count} payments at {sent_rate:.0f}/s, command at the head-end p50 {p50:.2f} s, "
        f"p99 {p99:.2f} s, max {latencies[-1]:.2f} s",
        flush=True,
    )
    return Figure(
        SECTION,
        f"payment to reconnect command at the head-end, p99 ({count} payments at {sent_rate:.0f}/s)",
        p99,
        "s",
        "target",
        5.0,
        target=1.0,
        comparison="<=",
        details={
            "p50_s": round(p50, 3),
            "p99_s": round(p99, 3),
            "max_s": round(latencies[-1], 3),
            "payments": count,
            "sent_per_second": round(sent_rate, 1),
            "worker_threads": SETTINGS["hub.outbox.workers"],
        },
    )
