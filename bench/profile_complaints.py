"""Where a complaint registration's time goes: ``POST /api/v1/complaints/callcentre``, in-process.

    .venv/bin/python bench/profile_complaints.py [--requests 500] [--top 25] [--postgres]

No server and no load generator (as ``profile_platform.py``): the hub's WSGI app is called
directly, a new ticket each request. Prints the SQL statements one registration sends (to the
hub's database and to billing's, counted with an SQLAlchemy event listener on every engine), the
milliseconds per registration, then cProfile's top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_complaints import SETTINGS
from bench.common import hub_environment
from bench.profile_platform import call, in_process_hub, print_profile

PATH = "/api/v1/complaints/callcentre"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()

    from sqlalchemy import event, text
    from sqlalchemy.engine import Engine

    from connectors.demo import generate_demo_data
    from connectors.reference_db import open_reference_store

    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split())[:110])

    # SQLite: billing's reference store in its own file, as `make run` has it.
    with hub_environment(
        postgres=args.postgres, extra_settings=SETTINGS, reference_in_database=args.postgres
    ) as env:
        reference = open_reference_store(env.settings["hub.reference.database_url"])
        generate_demo_data(reference, consumers=200, seed=18)
        with reference.connect() as conn:
            consumers = list(
                conn.execute(text("SELECT consumer_number FROM ref_consumer ORDER BY 1 LIMIT 50")).scalars()
            )
        reference.dispose()
        stack = contextlib.ExitStack()
        hub, token = stack.enter_context(in_process_hub(env, "bench: profile", "complaints:callcentre"))
        headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        n = 0

        def register() -> None:
            nonlocal n
            n += 1
            body = {
                "ticket_id": f"T{secrets.token_hex(4)}-{n}",
                "consumer_number": consumers[n % len(consumers)],
                "complaint_type": "supply_failure",
                "description": "no supply since morning",
            }
            status, answer = call(hub, "POST", PATH, headers, json.dumps(body).encode())
            if not status.startswith("201"):
                print(status, answer[:2000], flush=True)
                raise SystemExit(1)

        for _ in range(20):
            register()
        event.listen(Engine, "before_cursor_execute", count)
        register()
        event.remove(Engine, "before_cursor_execute", count)
        print(f"SQL statements in one registration ({env.kind}): {len(statements)}")
        for statement, times in Counter(statements).items():
            print(f"  {times} x {statement}")

        started = time.perf_counter()
        for _ in range(args.requests):
            register()
        ms = (time.perf_counter() - started) / args.requests * 1000
        print(f"in-process, one thread, {args.requests} registrations: {ms:.2f} ms each")
        print_profile(register, args.requests, f"{args.requests} registrations", args.top)
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
