"""KYC figures: exportKycRecords vs a bare SQL fetch serialised to NDJSON, the export's peak memory,
and getKycRecords with 1,000 ids vs the bare Pyramid view.

On PostgreSQL (``--postgres``), with ``--kyc-rows`` KYC records (default 1,000,000; pass e.g.
100000 for a quick run) loaded with COPY into the throwaway hub schema, one person per
connection, 90 % of them consenting for the bench's scheme.

* **export rows/s**: ``GET /api/v1/kyc/export?purpose=...`` streamed through granian (the hub as
  served: audit entries per chunk, consent checked in the query, policy projection) against, in
  the same run and alternated, a bare psycopg fetch of the same rows (same SELECT, server-side
  cursor) serialised to NDJSON in this process. Target >= 0.50.
* **export peak memory**: the highest VmHWM (peak resident set) of the granian worker processes
  over the exports (counters reset when the exports start, so a start-up transient is not the
  figure; it is in the details), in MB, against the 200 MB budget (cost figure, target <= 1.0 of it).
* **getKycRecords**: wrk POSTs of 1,000 consumer numbers vs the bare view (informational: a
  1,000-record lookup, with its 1,000 disclosure entries, is not a constant JSON answer).

Usage: ``.venv/bin/python bench/run.py --only kyc --postgres [--kyc-rows 100000]``
"""

from __future__ import annotations

import argparse
import json
import random
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Contender,
    Figure,
    SkipSection,
    alternate,
    fetch_token,
    hub_and_bare,
    hub_environment,
    median,
    post_script,
    run_wrk,
    throughput_figure,
)

SECTION = "kyc"
SCHEME = "ladli-behna"
FIELDS = (
    "consumer_number,holder_name_en,holder_name_hi,samagra_id,mobile,bank_account,ifsc,kyc_status,kyc_date"
)
MEMORY_BUDGET_MB = 200.0
NAMES_HI = ("सुनीता देवी वर्मा", "रामेश्वर प्रसाद द्विवेदी", "प्रिया यादव", "किरण शर्मा")
NAMES_EN = ("Sunita Devi Verma", "Rameshwar Prasad Dwivedi", "Priya Yadav", "Kiran Sharma")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kyc-rows", type=int, default=1_000_000, help="KYC records to load (default 1,000,000)"
    )
    parser.add_argument(
        "--kyc-chunk", type=int, default=2000, help="export chunk size (hub.kyc_api.export_chunk)"
    )


def _load(database_url: str, secret_key: str, rows: int) -> int:
    """COPY ``rows`` KYC records and consents for 90 % of them; returns the consenting count."""
    import psycopg

    from hub.kycstore import bank_account_mac, bank_box

    box = bank_box(secret_key)
    # Distinct ciphertexts are costly to make (Fernet per row); 1,000 of them, cycled, decrypt alike.
    accounts = [f"5010{i:010d}" for i in range(1000)]
    ciphers = [box.encrypt(a) for a in accounts]
    macs = [bank_account_mac(a, secret_key) for a in accounts]
    now = datetime.now(UTC)
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    consenting = 0
    with psycopg.connect(conninfo) as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY kyc_records (id, consumer_number, holder_name_en, holder_name_hi, samagra_id, mobile, "
                "bank_account_enc, bank_account_last4, bank_account_mac, ifsc, status, kyc_date, source, origin, "
                "source_updated_at, created_at, updated_at) FROM STDIN"
            ) as copy:
                for i in range(1, rows + 1):
                    k = i % 1000
                    copy.write_row(
                        (
                            i,
                            f"{1_100_000_000 + i}",
                            NAMES_EN[i % 4],
                            NAMES_HI[i % 4],
                            f"{100_000_000 + i}",
                            f"9{i:09d}",
                            ciphers[k],
                            accounts[k][-4:],
                            macs[k],
                            "SBIN0001234",
                            "complete",
                            date(2026, 10, 2),
                            "sync",
                            "ekyc",
                            now,
                            now,
                            now,
                        )
                    )
            expires = now + timedelta(days=365)
            with cur.copy(
                "COPY kyc_consents (id, samagra_id, purpose, mobile, challenge_id, given_via_client, given_at, "
                "expires_at) FROM STDIN"
            ) as copy:
                for i in range(1, rows + 1):
                    if i % 10 == 0:
                        continue
                    consenting += 1
                    copy.write_row(
                        (i, f"{100_000_000 + i}", SCHEME, f"9{i:09d}", f"bench_{i}", "c_portal", now, expires)
                    )
            cur.execute("SELECT setval(pg_get_serial_sequence('kyc_records', 'id'), %s)", (rows,))
            cur.execute("SELECT setval(pg_get_serial_sequence('kyc_consents', 'id'), %s)", (rows,))
        conn.commit()
        conn.execute("ANALYZE kyc_records")
        conn.execute("ANALYZE kyc_consents")
    return consenting


def _bare_ndjson(database_url: str, chunk: int) -> tuple[int, float]:
    """The same rows, same SELECT (consent checked), a server-side cursor, serialised to NDJSON."""
    import psycopg

    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    started = time.perf_counter()
    count = 0
    size = 0
    dumps = json.dumps
    with psycopg.connect(conninfo) as conn, conn.cursor(name="bare_export") as cur:
        cur.itersize = chunk
        cur.execute(
            "SELECT r.consumer_number, r.holder_name_en, r.holder_name_hi, r.samagra_id, r.mobile, "
            "r.bank_account_last4, r.ifsc, r.status, r.kyc_date FROM kyc_records r WHERE EXISTS ("
            "SELECT 1 FROM kyc_consents c WHERE c.samagra_id = r.samagra_id AND c.purpose = %s "
            "AND c.withdrawn_at IS NULL AND c.expires_at > now()) ORDER BY r.id",
            (SCHEME,),
        )
        for row in cur:
            line = dumps(
                {
                    "consumer_number": row[0],
                    "holder_name_en": row[1],
                    "holder_name_hi": row[2],
                    "samagra_id": row[3],
                    "mobile": row[4],
                    "bank_account": "XXXXXX" + row[5],
                    "ifsc": row[6],
                    "kyc_status": row[7],
                    "kyc_date": row[8].isoformat(),
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            size += len(line.encode("utf-8")) + 1
            count += 1
    return count, time.perf_counter() - started


def _export(url: str, token: str) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    with (
        httpx.Client(timeout=httpx.Timeout(600.0, connect=5.0)) as client,
        client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        if response.status_code != 200:
            raise RuntimeError(f"export answered {response.status_code}: {response.read()[:300]!r}")
        for line in response.iter_lines():
            if line.startswith('{"consumer_number"'):
                count += 1
    return count, time.perf_counter() - started


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for child in children.get(current, []):
            found.append(child)
            todo.append(child)
    return found


def _status_mb(pids: list[int], field: str) -> float:
    """The largest ``field`` (VmHWM: peak resident set, VmRSS: resident now) of ``pids``, in MB."""
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def _peak_rss_mb(pids: list[int]) -> float:
    return _status_mb(pids, "VmHWM")


def _reset_peak_rss(pids: list[int]) -> None:
    """Start the workers' peak-RSS counters afresh (Linux: "5" to /proc/<pid>/clear_refs).

    Start-up has a transient of its own that has nothing to do with exports
    (hub.console.officers computes an argon2 hash at import: 64 MB allocated
    and freed), which would otherwise be the figure. The export's figure is
    the peak resident set while exporting: the worker's whole resident memory
    (app, libraries, pools) plus whatever the export adds.
    """
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError as exc:
            raise RuntimeError(f"cannot reset the peak RSS of worker {pid}: {exc}") from exc


def run(args: argparse.Namespace) -> list[Figure | dict[str, Any]]:
    if not args.postgres:
        raise SkipSection("KYC measures on PostgreSQL: pass --postgres")
    rows = int(args.kyc_rows)
    chunk = int(args.kyc_chunk)
    figures: list[Figure | dict[str, Any]] = []
    with ExitStack() as stack:
        env = stack.enter_context(
            hub_environment(
                postgres=True,
                ratelimit=args.ratelimit,
                extra_settings={
                    "hub.kyc_api.export_chunk": str(chunk),
                    "hub.kyc_api.exports_per_minute": "1000",
                    "hub.kyc_api.ids_per_minute": "1000000000",
                    "hub.kyc_api.absent_min_sample": "1000000000",
                },
            )
        )
        started = time.perf_counter()
        consenting = _load(env.database_url, env.settings["hub.secret_key"], rows)
        print(
            f"  loaded {rows:,} KYC records, {consenting:,} consenting, in {time.perf_counter() - started:.1f}s"
        )
        client_id, secret = env.create_client("bench: DBT scheme", ["kyc:read", "kyc:export"], [SCHEME])
        from sqlalchemy.orm import Session

        from hub.kyc.policy import set_policy

        engine = env.engine()
        with Session(engine) as session, session.begin():
            set_policy(session, client_id, SCHEME, FIELDS)
        engine.dispose()
        hub, bare = hub_and_bare(stack, env)
        token = fetch_token(hub, client_id, secret, "kyc:read kyc:export")
        workers = _descendants(hub.proc.pid)
        startup_peak = _peak_rss_mb(workers)
        rss_before = _status_mb(workers, "VmRSS")
        _reset_peak_rss(workers)

        export_rates: list[float] = []
        bare_rates: list[float] = []
        export_url = hub.url(f"/api/v1/kyc/export?purpose={SCHEME}&format=ndjson")
        for round_no in range(max(1, args.rounds)):
            order = ("export", "bare") if round_no % 2 == 0 else ("bare", "export")
            for which in order:
                if which == "export":
                    count, seconds = _export(export_url, token)
                    export_rates.append(count / seconds)
                else:
                    count, seconds = _bare_ndjson(env.database_url, chunk)
                    bare_rates.append(count / seconds)
                if count != consenting:
                    raise RuntimeError(f"{which} returned {count:,} rows, expected {consenting:,}")
                print(f"  round {round_no + 1} {which}: {count / seconds:,.0f} rows/s ({seconds:.1f}s)")
        hub.check_healthy()
        peak = _peak_rss_mb(workers)
        figures.append(
            Figure(
                SECTION,
                f"exportKycRecords NDJSON ({consenting:,} rows, masked account, audited per chunk)",
                median(export_rates),
                "rows/s",
                "bare SQL fetch + NDJSON (same rows, same process count 1)",
                median(bare_rates),
                target=0.5,
                samples=export_rates,
                baseline_samples=bare_rates,
                details={"rows": rows, "consenting": consenting, "chunk": chunk},
            )
        )
        figures.append(
            Figure(
                SECTION,
                "exportKycRecords peak RSS of a granian worker",
                peak,
                "MB",
                "memory budget",
                MEMORY_BUDGET_MB,
                target=1.0,
                comparison="<=",
                details={
                    "rss_before_exports_mb": rss_before,
                    "startup_peak_rss_mb": startup_peak,
                    "workers": len(workers),
                },
            )
        )

        rng = random.Random(7)
        ids = [f"{1_100_000_000 + rng.randrange(1, rows + 1)}" for _ in range(1000)]
        body = json.dumps({"purpose": SCHEME, "consumer_numbers": ids}).encode()
        script = post_script(env.root, body, "application/json", {"Authorization": f"Bearer {token}"})
        lookup = Contender(
            "getKycRecords 1,000 ids",
            lambda s: run_wrk(hub.url("/api/v1/kyc/records/lookup"), s, script=script, connections=2),
        )
        base = Contender("bare Pyramid view", lambda s: run_wrk(bare.url("/bare"), s, connections=2))
        # No warm-up slice: one 1,000-id answer can take longer than the 1 s warm-up window.
        runs = alternate([lookup, base], rounds=args.rounds, seconds=max(5.0, args.seconds), warmup=0)
        figure = throughput_figure(
            SECTION, lookup.name, runs[lookup.name], base.name, runs[base.name], target=None
        )
        figure.details["ids_per_second"] = figure.value * 1000
        figures.append(figure)
    return figures
