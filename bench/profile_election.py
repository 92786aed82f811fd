"""Where a verification's time goes: REST and SOAP verifyCertificate and a 1,000-item batch, in-process.

    .venv/bin/python bench/profile_election.py [--rows 200000] [--requests 5000] [--profile rest|soap|batch]
        [--profile-clock wall|thread]

PostgreSQL with ``--rows`` synthetic certificates (bench_election's loader),
served as production.ini serves (one path: the registry row read and the log
row written in the request's transaction). No server and no load generator:
the WSGI apps are called directly (bench/profile_platform.py's ``call``), so
the figures are the hub's own CPU per request. Prints thread-CPU microseconds
per request for the bare verify view (bench/bare_verify_app.py: the same
SELECT, INSERT and COMMIT), REST single, SOAP single and one SOAP batch, then,
with ``--profile``, cProfile's top functions for that operation.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_election import (
    SOAP_ACTION,
    batch_soap,
    code_for,
    load_certificates,
    number_for,
    single_soap,
)
from bench.common import hub_environment
from bench.profile_platform import call, in_process_hub, print_profile


def thread_us(action: Callable[[], object], n: int, rounds: int = 7) -> float:
    """Best of ``rounds``: thread CPU microseconds per call of ``action`` (the best round is the
    one least disturbed by whatever else the two cores were doing)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        for _ in range(n):
            action()
        best = min(best, (time.thread_time() - started) / n * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--batches", type=int, default=2, help="batches per round")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds; the best of each counts")
    parser.add_argument("--profile", choices=("rest", "soap", "batch"), default=None)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--profile-clock",
        choices=("wall", "thread"),
        default="wall",
        help="cProfile's clock: thread CPU leaves out the waits on PostgreSQL",
    )
    args = parser.parse_args()

    with hub_environment(
        postgres=True, extra_settings={"hub.ratelimit.public_per_minute": "1000000000"}
    ) as env:
        engine = env.engine()
        try:
            load_certificates(engine, args.rows)
        finally:
            engine.dispose()
        stack = contextlib.ExitStack()
        hub, token = stack.enter_context(
            in_process_hub(env, "bench: profile election", "certificates:verify")
        )
        os.environ["BENCH_DATABASE_URL"] = env.database_url
        from bench.bare_verify_app import application as bare

        rng = random.Random(5)
        rows = args.rows
        # The questions are made before the clock starts (building one costs the harness
        # ~7 µs, which is no part of the hub's answer); 4,096 random certificates, in turn.
        serials = [rng.randint(1, rows) for _ in range(4096)]
        rest_bodies = itertools.cycle(
            [json.dumps({"number": number_for(s), "code": code_for(s)}).encode() for s in serials]
        )
        bare_bodies = itertools.cycle(
            [json.dumps({"number": number_for(s), "code": code_for(s)}).encode() for s in serials]
        )
        soap_bodies = itertools.cycle([single_soap(number_for(s), code_for(s)).encode() for s in serials])
        rest_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        soap_headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": SOAP_ACTION + "VerifyCertificate",
        }

        def rest() -> None:
            status, body = call(hub, "POST", "/api/v1/certificates/verify", rest_headers, next(rest_bodies))
            assert status.startswith("200") and b'"valid"' in body, (status, body[:300])

        def soap() -> None:
            status, body = call(hub, "POST", "/soap/election", soap_headers, next(soap_bodies))
            assert status.startswith("200") and b">valid<" in body, (status, body[:300])

        batch_body = batch_soap([rng.randint(1, rows) for _ in range(1000)]).encode()

        def batch() -> None:
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": SOAP_ACTION + "VerifyCertificates",
            }
            status, body = call(hub, "POST", "/soap/election", headers, batch_body)
            assert status.startswith("200") and body.count(b">valid<") == 1000, (status, body[:300])

        def bare_view() -> None:
            status, body = call(
                bare, "POST", "/bare/verify", {"Content-Type": "application/json"}, next(bare_bodies)
            )
            assert status.startswith("200") and b'"valid"' in body, (status, body[:300])

        for action in (rest, soap, bare_view):
            thread_us(action, 200)
        n = args.requests
        # Interleaved, short rounds: whatever else the two cores do disturbs all four alike.
        bare_us = rest_us = soap_us = batch_us = float("inf")
        for _ in range(args.rounds):
            bare_us = min(bare_us, thread_us(bare_view, n, rounds=1))
            rest_us = min(rest_us, thread_us(rest, n, rounds=1))
            soap_us = min(soap_us, thread_us(soap, n, rounds=1))
            batch_us = min(batch_us, thread_us(batch, args.batches, rounds=1))
        print(
            f"in-process thread CPU, best of {args.rounds} interleaved rounds, PostgreSQL with "
            f"{rows:,} certificates:"
        )
        print(f"  bare SELECT+INSERT+COMMIT: {bare_us:8.1f} us")
        print(f"  REST verifyCertificate:    {rest_us:8.1f} us   bare/REST {bare_us / rest_us:.2f}")
        print(f"  SOAP VerifyCertificate:    {soap_us:8.1f} us   REST/SOAP {rest_us / soap_us:.2f}")
        print(f"  SOAP 1,000-item batch:     {batch_us:8.1f} us   batch/SOAP {batch_us / soap_us:.1f}x")

        if args.profile:
            action, count = {"rest": (rest, n), "soap": (soap, n), "batch": (batch, args.batches)}[
                args.profile
            ]
            timer = time.thread_time if args.profile_clock == "thread" else None
            print_profile(action, count, f"{count} x {args.profile}", args.top, timer)
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
