"""The platform figure: a protected JSON endpoint next to a bare Pyramid view, same granian server.

``GET /api/v1/ping`` with a valid bearer token (scope ``hub:ping``) walks the
whole request path every API view pays for: request-id tween, pyramid_tm,
body cap, JWT validation, client status, rate limiter, JSON renderer, access
log. The baseline is bench/bare_app.py served by the same granian command.
Target: the hub answers at least 60% of the bare view's requests/s.

The token endpoint (client credentials with an argon2-hashed secret) is
measured too, for information: it is deliberately expensive per call and
partners cache their tokens for the token's lifetime.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BenchError,
    Contender,
    Figure,
    alternate,
    basic_auth,
    common_arguments,
    http_json,
    hub_and_bare,
    hub_environment,
    post_script,
    run_wrk,
    throughput_figure,
    token_request_body,
)

SECTION = "platform"
TARGET_SHARE_OF_BARE = 0.60
# Each token costs an argon2 verification (~0.1-0.3 s of CPU): 16 connections
# would only queue behind each other into wrk's timeout.
TOKEN_CONNECTIONS = 2


def run(args: argparse.Namespace) -> list[Figure]:
    figures: list[Figure] = []
    with ExitStack() as stack:
        env = stack.enter_context(hub_environment(postgres=args.postgres, ratelimit=args.ratelimit))
        client_id, client_secret = env.create_client("bench: platform", ["hub:ping"])
        hub, bare = hub_and_bare(stack, env)
        from bench.common import fetch_token

        token = fetch_token(hub, client_id, client_secret, "hub:ping")
        auth = {"Authorization": f"Bearer {token}"}
        status, body = http_json("GET", hub.url("/api/v1/ping"), headers=auth)
        if status != 200:
            raise BenchError(f"/api/v1/ping with a fresh token answered {status}: {body}")
        print(
            f"  hub on {env.kind}, rate-limit counters in {env.ratelimit_store}; "
            f"wrk -t1 -c16 -d{args.seconds:g}s, {args.rounds} alternated rounds",
            flush=True,
        )

        ping = Contender(
            "hub GET /api/v1/ping (bearer)", lambda s: run_wrk(hub.url("/api/v1/ping"), s, headers=auth)
        )
        baseline = Contender("bare Pyramid view", lambda s: run_wrk(bare.url("/bare"), s))
        results = alternate([ping, baseline], rounds=args.rounds, seconds=args.seconds)
        hub.check_healthy()
        bare.check_healthy()
        setting = {
            "database": env.kind,
            "ratelimit_store": env.ratelimit_store,
            "server": "granian --interface wsgi --workers 2",
            "load": f"wrk -t1 -c16 -d{args.seconds:g}s --latency",
        }
        figures.append(
            throughput_figure(
                SECTION,
                "protected GET /api/v1/ping",
                results[ping.name],
                "bare Pyramid view",
                results[baseline.name],
                target=TARGET_SHARE_OF_BARE,
                details=setting,
            )
        )

        if not args.skip_token:
            script = post_script(
                env.root,
                token_request_body("hub:ping"),
                "application/x-www-form-urlencoded",
                {"Authorization": basic_auth(client_id, client_secret)},
            )
            token_run = Contender(
                "hub POST /oauth/token",
                lambda s: run_wrk(hub.url("/oauth/token"), s, script=script, connections=TOKEN_CONNECTIONS),
            )
            token_results = alternate([token_run], rounds=1, seconds=args.seconds, warmup=0)
            figures.append(
                throughput_figure(
                    SECTION,
                    "token endpoint POST /oauth/token",
                    token_results[token_run.name],
                    "bare Pyramid view",
                    results[baseline.name],
                    target=None,
                    details={
                        **setting,
                        "load": f"wrk -t1 -c{TOKEN_CONNECTIONS} -d{args.seconds:g}s --latency",
                        "note": "argon2 secret check per call; partners reuse tokens",
                    },
                )
            )
    return figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-token", action="store_true", help="do not measure POST /oauth/token")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    common_arguments(parser)
    add_arguments(parser)
    for figure in run(parser.parse_args()):
        print(figure.line())
