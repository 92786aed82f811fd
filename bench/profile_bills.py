"""Where a payment notification's time goes: ``POST /api/v1/bills/payments/portal``, in-process.

    .venv/bin/python bench/profile_bills.py [--requests 500] [--top 25] [--postgres]

No server and no load generator (as ``profile_platform.py``): the hub's WSGI app is called
directly, a new transaction each request. Prints the SQL statements one notification sends
(counted with an SQLAlchemy event listener on every engine), the milliseconds per notification,
then cProfile's top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_bills import SETTINGS
from bench.common import hub_environment
from bench.profile_platform import call, in_process_hub, print_profile

PATH = "/api/v1/bills/payments/portal"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split())[:110])

    with hub_environment(postgres=args.postgres, extra_settings=SETTINGS) as env:
        stack = contextlib.ExitStack()
        hub, token = stack.enter_context(in_process_hub(env, "bench: profile", "bills:portal"))
        headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        paid_at = datetime.now(UTC).replace(microsecond=0).isoformat()
        n = 0

        def notify() -> None:
            nonlocal n
            n += 1
            body = {
                "cs_txn_no": f"PROFILE-{n}",
                "ivrs_no": f"{1000000000 + n % 5000}",
                "amount_paise": 10000,
                "txn_datetime": paid_at,
            }
            status, answer = call(hub, "POST", PATH, headers, json.dumps(body).encode())
            if not status.startswith("202"):
                print(status, answer[:2000], flush=True)
                raise SystemExit(1)

        for _ in range(20):
            notify()
        event.listen(Engine, "before_cursor_execute", count)
        notify()
        event.remove(Engine, "before_cursor_execute", count)
        print(f"SQL statements in one notification ({env.kind}): {len(statements)}")
        for statement, times in Counter(statements).items():
            print(f"  {times} x {statement}")

        started = time.perf_counter()
        for _ in range(args.requests):
            notify()
        ms = (time.perf_counter() - started) / args.requests * 1000
        print(f"in-process, one thread, {args.requests} notifications: {ms:.2f} ms each")
        print_profile(notify, args.requests, f"{args.requests} notifications", args.top)
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
