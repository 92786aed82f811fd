"""WhatsApp: the webhook against a bare view with the same signature check, and the monthly bill run.

Figures:

* ``POST /whatsapp/webhook`` (signature checked on the raw body, each consumer's message stored
  once and handed to the worker through the outbox, a flood limited per number) vs
  ``bare_whatsapp_app.py`` (the same signature check and JSON parse, the body kept with one
  INSERT+COMMIT on the same database), same granian command, alternated (>= 0.50).
  The bodies are ``--whatsapp-bodies`` distinct signed messages from as many numbers, taken in
  turn (after the last, they come round again as repeated deliveries, as the platform's retries do).
* The bill run over ``--whatsapp-consumers`` opted-in consumers (default 100,000; the issue's
  figure is 1,000,000) against the reference Cloud API's settings, paced at ``--whatsapp-mps``
  messages a second (the number's throughput): ``bench/whatsapp_run.py`` hands off in a
  process that is killed (SIGKILL) half way and started again; messages handed off per second
  (informational, against a bare INSERT of the same rows), the peak RSS of each process (a run
  over 200 MiB is refused), and a check that every consumer has exactly one message and one
  outbox row (nothing lost, nothing twice).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    VENV_BIN,
    BenchError,
    Contender,
    Figure,
    alternate,
    granian_server,
    hub_environment,
    redis_reachable,
    run_wrk,
    throughput_figure,
)

SECTION = "whatsapp"
SECRET = "bench-whatsapp-app-secret"
RSS_LIMIT_KIB = 200 * 1024
CYCLE = "2026-11"
SETTINGS = {
    "hub.whatsapp.backend": "connectors.whatsapp.reference:ReferenceWhatsApp",
    "hub.whatsapp.app_secret": SECRET,
    "hub.whatsapp.verify_token": "bench-verify",
    "hub.whatsapp.tier_per_day": "10000000",
    "hub.whatsapp.bill_page_size": "500",
    "hub.whatsapp.template.bill.name": "mpcz_monthly_bill",
    "hub.whatsapp.template.bill.parameters": "5",
    "hub.whatsapp.template.bill.document": "true",
    "hub.whatsapp.template.bill.sms": "whatsapp_bill",
    "hub.whatsapp.template.bill.sms_text": "MPCZ bill {2} for {1}: Rs {3} due {4}.",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--whatsapp-consumers", type=int, default=100_000, help="opted-in consumers in the bill run"
    )
    parser.add_argument(
        "--whatsapp-mps", type=int, default=1000, help="messages a second the number may send"
    )
    parser.add_argument("--whatsapp-bodies", type=int, default=20_000, help="distinct signed webhook bodies")


def _bodies(directory: Path, count: int) -> Path:
    """A wrk script taking ``count`` distinct signed message webhooks in turn."""
    from connectors.whatsapp.wire import message_webhook, sign, text_entry

    now = datetime.now(UTC)
    data = directory / "webhooks.tsv"
    with data.open("w") as f:
        for n in range(count):
            wa_id = f"9170{n:08d}"
            body = message_webhook(
                "106540352242922", [text_entry(wa_id, f"wamid.BENCH{n:010d}", "बिल दिखाओ", now)]
            )
            f.write(sign(SECRET, body) + "\t" + body.decode() + "\n")
    script = directory / "webhooks.lua"
    script.write_text(
        "local items = {}\n"
        f"for line in io.lines({json.dumps(str(data))}) do\n"
        "  local tab = line:find('\\t')\n"
        "  items[#items + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}\n"
        "end\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  local item = items[(n % #items) + 1]\n"
        '  return wrk.format("POST", nil, {["Content-Type"] = "application/json", '
        '["X-Hub-Signature-256"] = item[1]}, item[2])\n'
        "end\n"
    )
    return script


def run(args: argparse.Namespace) -> list[Figure]:
    extra = dict(SETTINGS)
    extra["hub.whatsapp.messages_per_second"] = str(args.whatsapp_mps)
    if args.postgres and redis_reachable("redis://127.0.0.1:6379/12"):
        extra["hub.redis_url"] = "redis://127.0.0.1:6379/12"  # the task queue on Redis, as production
    figures: list[Figure] = []
    with ExitStack() as stack:
        env = stack.enter_context(
            hub_environment(postgres=args.postgres, ratelimit=args.ratelimit, extra_settings=extra)
        )
        engine = env.engine()
        stack.callback(engine.dispose)
        from sqlalchemy import text

        with engine.begin() as conn:
            serial = "BIGSERIAL" if env.kind == "postgresql" else "INTEGER"
            conn.execute(
                text(f"CREATE TABLE bench_bare_insert (id {serial} PRIMARY KEY, body TEXT NOT NULL)")
            )
        hub = stack.enter_context(
            granian_server(
                "hub", "hub.wsgi:application", env=env.server_env(), ready_path="/healthz", log_dir=env.root
            )
        )
        bare = stack.enter_context(
            granian_server(
                "bare-whatsapp",
                "bench.bare_whatsapp_app:application",
                env={"HUB_BENCH_WHATSAPP_SECRET": SECRET, "HUB_BENCH_DATABASE_URL": env.database_url},
                ready_path="/bare/whatsapp",
                log_dir=env.root,
            )
        )
        script = _bodies(env.root, args.whatsapp_bodies)
        webhook = Contender(
            "POST /whatsapp/webhook",
            lambda s: run_wrk(hub.url("/whatsapp/webhook"), s, script=script, connections=4),
        )
        baseline = Contender(
            "bare view, same signature check",
            lambda s: run_wrk(bare.url("/bare/whatsapp"), s, script=script, connections=4),
        )
        results = alternate([webhook, baseline], rounds=args.rounds, seconds=args.seconds)
        figures.append(
            throughput_figure(
                SECTION,
                "WhatsApp webhook (signed, each message stored once and queued for the chatbot)",
                results[webhook.name],
                baseline.name,
                results[baseline.name],
                target=0.5,
                details={
                    "database": env.kind,
                    "load": f"wrk -t1 -c4 -d{args.seconds:g}s",
                    "bodies": args.whatsapp_bodies,
                },
            )
        )
        stack.close()  # the servers go before the run's processes start
    figures.append(_bill_run(args, extra))
    return figures


def _load_subscriptions(engine: Any, count: int) -> None:
    from sqlalchemy import text

    now = datetime.now(UTC)
    chunk = 20_000
    with engine.begin() as conn:
        for start in range(0, count, chunk):
            numbers = [(f"9180{n:08d}", f"{n:012d}") for n in range(start, min(count, start + chunk))]
            conn.execute(
                text(
                    "INSERT INTO whatsapp_numbers (wa_id, consent, consent_at, consent_how, consent_source) "
                    "VALUES (:w, 'opted_in', :at, 'portal', 'bench')"
                ),
                [{"w": w, "at": now} for w, _ in numbers],
            )
            conn.execute(
                text(
                    "INSERT INTO whatsapp_subscriptions (consumer_number, wa_id, subscribed_at) VALUES (:c, :w, :at)"
                ),
                [{"c": c, "w": w, "at": now} for w, c in numbers],
            )


def _child(env: Any, log: Path) -> subprocess.Popen[str]:
    python = VENV_BIN / "python"
    return subprocess.Popen(
        [
            str(python if python.exists() else sys.executable),
            str(ROOT / "bench" / "whatsapp_run.py"),
            str(env.ini),
            CYCLE,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,
    )


def _bill_run(args: argparse.Namespace, extra: dict[str, str]) -> Figure:
    from sqlalchemy import text

    count = int(args.whatsapp_consumers)
    with ExitStack() as stack:
        env = stack.enter_context(
            hub_environment(postgres=args.postgres, ratelimit=args.ratelimit, extra_settings=extra)
        )
        engine = env.engine()
        stack.callback(engine.dispose)
        _load_subscriptions(engine, count)
        with engine.begin() as conn:
            # As a database that has lived with these tables would know them (autovacuum's statistics).
            conn.execute(text("ANALYZE whatsapp_numbers"))
            conn.execute(text("ANALYZE whatsapp_subscriptions"))
        runs: list[dict[str, Any]] = []
        # First process: killed once half the consumers are handed off (mid-page, as a crash is).
        first = _child(env, env.root / "run-1.log")
        last: dict[str, Any] = {}
        assert first.stdout is not None
        for line in first.stdout:
            last = json.loads(line)
            print(f"  run 1: {last['handed_off']:,} handed off, {last['maxrss_kib'] // 1024} MiB", flush=True)
            if last["handed_off"] >= count // 2 or last["state"] != "running":
                os.killpg(first.pid, signal.SIGKILL)
                break
        first.wait(timeout=60)
        runs.append(last)
        second = _child(env, env.root / "run-2.log")
        assert second.stdout is not None
        for line in second.stdout:
            last = json.loads(line)
            print(f"  run 2: {last['handed_off']:,} handed off, {last['maxrss_kib'] // 1024} MiB", flush=True)
        if second.wait(timeout=3600) != 0:
            raise BenchError("the resumed bill run failed: " + (env.root / "run-2.log").read_text()[-2000:])
        runs.append(last)
        with engine.connect() as conn:
            rows, consumers, outbox, handed = conn.execute(
                text(
                    "SELECT (SELECT COUNT(*) FROM whatsapp_outbound WHERE cycle = :c), "
                    "(SELECT COUNT(DISTINCT consumer_number) FROM whatsapp_outbound WHERE cycle = :c), "
                    "(SELECT COUNT(*) FROM outbox_messages WHERE kind = 'whatsapp.bill'), "
                    "(SELECT handed_off FROM whatsapp_bill_runs WHERE cycle = :c)"
                ),
                {"c": CYCLE},
            ).one()
        if not rows == consumers == outbox == handed == count:
            raise BenchError(
                f"after the restart: {rows} messages for {consumers} consumers, {outbox} outbox rows, "
                f"run says {handed}; expected {count} of each"
            )
        seconds = sum(r["seconds"] for r in runs)
        rate = count / seconds
        peak = max(r["maxrss_kib"] for r in runs)
        if peak > RSS_LIMIT_KIB:
            raise BenchError(f"the bill run peaked at {peak // 1024} MiB (limit {RSS_LIMIT_KIB // 1024} MiB)")
        bare_rate = _bare_insert(engine, min(count, 50_000))
    print(
        f"  {count:,} consumers, killed at {runs[0]['handed_off']:,} and resumed: each exactly once; "
        f"peak RSS {[r['maxrss_kib'] // 1024 for r in runs]} MiB",
        flush=True,
    )
    return Figure(
        SECTION,
        f"bill run: messages handed off ({count:,} consumers, paced at {args.whatsapp_mps}/s, killed and resumed)",
        rate,
        "msg/s",
        "bare INSERT of the same rows",
        bare_rate,
        target=None,
        samples=[rate],
        baseline_samples=[bare_rate],
        details={
            "peak_rss_mib": [round(r["maxrss_kib"] / 1024, 1) for r in runs],
            "killed_at": runs[0]["handed_off"],
            "database": env.kind,
            "messages_per_second_configured": args.whatsapp_mps,
        },
    )


def _bare_insert(engine: Any, count: int) -> float:
    """Rows a second for the bare work of a hand-off: the outbound row and the outbox row, executemany."""
    from sqlalchemy import text

    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, count, 500):
            rows = [
                {"k": f"bare:{n}", "c": f"{n:012d}", "w": f"9180{n:08d}", "at": now}
                for n in range(start, min(count, start + 500))
            ]
            conn.execute(
                text(
                    "INSERT INTO whatsapp_outbound (key, purpose, wa_id, cycle, consumer_number, status, created_at) "
                    "VALUES (:k, 'bill', :w, 'bare', :c, 'queued', :at)"
                ),
                rows,
            )
            conn.execute(
                text(
                    "INSERT INTO outbox_messages (kind, payload, status, attempts, next_attempt_at, created_at) "
                    "VALUES ('bare', '{}', 'pending', 0, :at, :at)"
                ),
                [{"at": now} for _ in rows],
            )
    return count / (time.perf_counter() - started)
