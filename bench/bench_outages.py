"""Outage notices: an outage on a substation supplying ``--outages-consumers`` consumers (default
100,000), every notice handed to the outbox, next to a bare bulk INSERT of the same outbox rows.

Data: a synthetic network in the throwaway hub's own tables, two substations (the one that fails
with ``--outages-consumers`` consumers, 20 feeders, a DT per 40 consumers; another a tenth its
size that must not be told), every consumer with a mobile, one in three with an e-mail address.

Contender: ``OutageService.open`` for an unplanned outage on the big substation in a subprocess,
one committed transaction (its peak RSS reported), timed once the process is as a running hub's is
(SQLAlchemy's mappers configured, a connection in the pool, as the baseline's engine has): the recursive CTE of the consumers below, one
``INSERT ... SELECT`` into ``outage_notices`` (unique key, ``ON CONFLICT DO NOTHING``) and one into
``outbox_messages`` per channel. The same run on the small substation gives the RSS at a tenth of
the consumers: memory must stay flat (the difference is reported and bounded).

Baseline: the same rows the contender must write, copied beforehand into staging tables: the
notice rows (the unique key that makes "once per consumer, group, channel, notice" hold) and the
outbox rows (kind, payload, status, due, created), inserted by one ``INSERT ... SELECT`` each and
committed. Target ratio (contender seconds / baseline seconds) <= 2. An informational figure
sets the same contender against the outbox rows alone (no notice rows: no exactly-once key).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import Any

from bench.common import ROOT, VENV_BIN, BenchError, Figure, hub_environment, median

SECTION = "outages"
# Peak RSS may differ between a tenth and all of the consumers by at most this much.
RSS_GROWTH_LIMIT_KIB = 40 * 1024
CONSUMERS_PER_DT = 40
FEEDERS = 20

CONTENDER = """
import json, resource, sys, time
from datetime import timedelta
from hub.db import make_engine
from hub.models.meta import utcnow
from hub.outages.service import NewOutage, OutageService, OutageSettings, UNPLANNED
from hub.db import standalone_registry
from hub.outbox import unit_of_work
from sqlalchemy.orm import configure_mappers
engine = make_engine(sys.argv[1], pool_size=2)
service = OutageService({}, OutageSettings(24, (21, 0), (8, 0)))
# As a running hub process is (and as the baseline's engine is): mappers configured, a connection pooled.
configure_mappers()
with engine.connect():
    pass
new = NewOutage(sys.argv[2], UNPLANNED, utcnow() - timedelta(minutes=1), None, "Bench", "बेंच", "officer", "bench")
started = time.perf_counter()
with unit_of_work(standalone_registry(engine)) as session:
    outage, fan_out = service.open(session, new)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "sent": fan_out.sent,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--outages-consumers", type=int, default=100_000, help="consumers below the substation that fails"
    )


def build_network(engine: Any, consumers: int) -> None:
    """Two substations (SS-BIG with ``consumers``, SS-SMALL with a tenth), feeders, DTs, contacts."""
    from sqlalchemy import insert

    from hub.models.meta import utcnow
    from hub.models.network import ConsumerSupply, NetworkNode
    from hub.models.outage import ConsumerContact

    now = utcnow()
    nodes: list[dict[str, Any]] = []
    supply: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []

    def node(code: str, kind: str, parent: str | None) -> None:
        nodes.append(
            {
                "code": code, "kind": kind, "parent_code": parent, "office_code": "DC-BENCH",
                "name_en": code, "name_hi": code, "meter_no": None, "capacity_kva": None,
                "in_service": True, "seq": 1, "updated_at": now,
            }
        )  # fmt: skip

    serial = 0
    for substation, count in (("SS-BIG", consumers), ("SS-SMALL", max(consumers // 10, 1))):
        node(substation, "substation", None)
        dts = max(count // CONSUMERS_PER_DT, FEEDERS)
        for f in range(FEEDERS):
            node(f"{substation}-F{f:02d}", "feeder", substation)
        for d in range(dts):
            node(f"{substation}-DT{d:05d}", "dt", f"{substation}-F{d % FEEDERS:02d}")
        for i in range(count):
            serial += 1
            number = f"{serial:010d}"
            supply.append(
                {
                    "consumer_number": number,
                    "dt_code": f"{substation}-DT{i % dts:05d}",
                    "seq": 1,
                    "updated_at": now,
                }
            )
            contacts.append(
                {
                    "consumer_number": number,
                    "mobile": f"9{serial:09d}",
                    "email": f"c{number}@mail.example" if serial % 3 == 0 else None,
                    "note": None,
                    "updated_at": now,
                }
            )
    with engine.begin() as conn:
        for model, rows in ((NetworkNode, nodes), (ConsumerSupply, supply), (ConsumerContact, contacts)):
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(model), rows[start : start + 10_000])


def _clear(engine: Any) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        for table in ("outage_notices", "outages", "outbox_messages"):
            conn.execute(text(f"DELETE FROM {table}"))


def _contender(database_url: str, node: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-c", CONTENDER, database_url, node],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"outage fan-out failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _bare(engine: Any, with_notices: bool) -> float:
    from sqlalchemy import text

    started = time.perf_counter()
    with engine.begin() as conn:
        if with_notices:
            conn.execute(
                text(
                    "INSERT INTO outage_notices (consumer_number, group_id, channel, notice, outage_id, batch, "
                    "created_at) SELECT consumer_number, group_id, channel, notice, outage_id, batch, created_at "
                    "FROM bench_notice_rows"
                )
            )
        conn.execute(
            text(
                "INSERT INTO outbox_messages (kind, payload, status, attempts, next_attempt_at, created_at) "
                "SELECT kind, payload, status, attempts, next_attempt_at, created_at FROM bench_outage_rows"
            )
        )
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> list[Figure]:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    consumers = int(args.outages_consumers)
    with ExitStack() as stack:
        env = stack.enter_context(hub_environment(postgres=args.postgres, ratelimit="database"))
        engine = env.engine()
        stack.callback(engine.dispose)
        build_network(engine, consumers)
        expected = {"sms": consumers, "email": sum(1 for s in range(1, consumers + 1) if s % 3 == 0)}

        first = _contender(env.database_url, "SS-BIG")
        if first["sent"] != expected:
            raise BenchError(f"the fan-out told {first['sent']}, expected {expected}")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE bench_outage_rows AS SELECT kind, payload, status, attempts, next_attempt_at, "
                    "created_at FROM outbox_messages"
                )
            )
            conn.execute(text("CREATE TABLE bench_notice_rows AS SELECT * FROM outage_notices"))
        _clear(engine)
        small = _contender(env.database_url, "SS-SMALL")
        _clear(engine)

        samples: list[float] = []
        bare_samples: list[float] = []
        outbox_only: list[float] = []
        rss: list[int] = []
        for round_no in range(args.rounds):
            # Alternated: baseline first in odd rounds.
            order = ("bare", "outbox", "hub") if round_no % 2 else ("hub", "outbox", "bare")
            for who in order:
                if who == "hub":
                    result = _contender(env.database_url, "SS-BIG")
                    if result["sent"] != expected:
                        raise BenchError(f"the fan-out told {result['sent']}, expected {expected}")
                    samples.append(float(result["seconds"]))
                    rss.append(int(result["maxrss_kib"]))
                elif who == "bare":
                    bare_samples.append(_bare(engine, with_notices=True))
                else:
                    outbox_only.append(_bare(engine, with_notices=False))
                _clear(engine)
            print(
                f"  round {round_no + 1}/{args.rounds}: hub {samples[-1]:.2f} s, bare {bare_samples[-1]:.2f} s "
                f"(outbox rows alone {outbox_only[-1]:.2f} s), "
                f"ratio {samples[-1] / bare_samples[-1]:.2f}, peak RSS {rss[-1] / 1024:.0f} MiB",
                flush=True,
            )
        growth = max(rss) - int(small["maxrss_kib"])
        if growth > RSS_GROWTH_LIMIT_KIB:
            raise BenchError(
                f"peak RSS grew by {growth // 1024} MiB from {consumers // 10:,} to {consumers:,} consumers"
            )
        rows = expected["sms"] + expected["email"]
        return [
            Figure(
                SECTION,
                f"outage on a substation of {consumers:,} consumers: {rows:,} notices to the outbox",
                median(samples),
                "s",
                "bare INSERT ... SELECT of the same notice and outbox rows",
                median(bare_samples),
                target=2.0,
                comparison="<=",
                samples=samples,
                baseline_samples=bare_samples,
                details={
                    "database": env.kind,
                    "peak_rss_mib": [round(r / 1024, 1) for r in rss],
                    "peak_rss_mib_at_a_tenth": round(int(small["maxrss_kib"]) / 1024, 1),
                },
            ),
            Figure(
                SECTION,
                f"the same outage, against the outbox rows alone ({rows:,})",
                median(samples),
                "s",
                "bare INSERT ... SELECT of the same outbox rows, no notice rows",
                median(outbox_only),
                comparison="<=",
                samples=samples,
                baseline_samples=outbox_only,
            ),
        ]
