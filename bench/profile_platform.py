"""Where a protected request's time goes: the hub's /api/v1/ping against the bare view, in-process.

    .venv/bin/python bench/profile_platform.py [--requests 20000] [--top 25] [--postgres]

No server and no load generator: both WSGI apps are called directly with the
same environ granian would pass, so the difference per request is the hub's own
code. Prints microseconds per request for each app, then cProfile's top
functions (own time and cumulative) for the hub.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import HubEnv, basic_auth, hub_environment, token_request_body

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "6543",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)) if body else "",
    }
    for key, value in headers.items():
        name = key.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            env["CONTENT_TYPE"] = value
        else:
            env["HTTP_" + name] = value
    return env


def call(
    app: WsgiApp, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[str, bytes]:
    status: list[str] = []

    def start_response(s: str, _headers: list[tuple[str, str]], _exc: Any = None) -> None:
        status.append(s)

    chunks = app(environ(method, path, headers, body), start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return status[0], data


@contextlib.contextmanager
def in_process_hub(env: HubEnv, client_name: str, scope: str) -> Iterator[tuple[WsgiApp, str]]:
    """The hub's WSGI app in this process, and a bearer token of a new client holding ``scope``.

    Its log records and access lines go where granian's would (a file in ``env.root``),
    not to the terminal the profile is printed on.
    """
    import logging

    from pyramid.paster import get_app

    client_id, secret = env.create_client(client_name, [scope])
    hub: WsgiApp = get_app(str(env.ini), "main")
    with open(env.root / "profile.log", "w") as log_file, contextlib.redirect_stderr(log_file):
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(log_file)
        status, body = call(
            hub,
            "POST",
            "/oauth/token",
            {
                "Authorization": basic_auth(client_id, secret),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            token_request_body(scope),
        )
        assert status.startswith("200"), (status, body)
        yield hub, json.loads(body)["access_token"]


def print_profile(
    action: Callable[[], object], count: int, label: str, top: int, timer: Callable[[], float] | None = None
) -> None:
    """Run ``action`` ``count`` times under cProfile; print its top functions by own and cumulative time.

    ``timer``: cProfile's clock (default wall time); ``time.thread_time`` leaves out the waits on
    the database, which otherwise hide the Python work around them."""
    profiler = cProfile.Profile(timer) if timer is not None else cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        action()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n== cProfile, {label}, sorted by {order} (times are totals over all calls)")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:20000])


def per_request_us(app: WsgiApp, path: str, headers: dict[str, str], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call(app, "GET", path, headers)
    return (time.perf_counter() - started) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--ratelimit", choices=("auto", "redis", "database"), default="auto")
    parser.add_argument(
        "--access-log", choices=("on", "off"), default="on", help="hub.access_log (production: on)"
    )
    args = parser.parse_args()

    with hub_environment(
        postgres=args.postgres,
        ratelimit=args.ratelimit,
        extra_settings={"hub.access_log": "true" if args.access_log == "on" else "false"},
    ) as env:
        stack = contextlib.ExitStack()
        hub, token = stack.enter_context(in_process_hub(env, "bench: profile", "hub:ping"))
        from bench.bare_app import application as bare

        auth = {"Authorization": "Bearer " + token}
        status, body = call(hub, "GET", "/api/v1/ping", auth)
        assert status.startswith("200"), (status, body)

        n = args.requests
        per_request_us(hub, "/api/v1/ping", auth, 2000)
        per_request_us(bare, "/bare", {}, 2000)
        hub_us = min(per_request_us(hub, "/api/v1/ping", auth, n) for _ in range(3))
        bare_us = min(per_request_us(bare, "/bare", {}, n) for _ in range(3))
        print(
            f"in-process, one thread, {n} requests, best of 3 (database {env.kind}, "
            f"rate-limit counters in {env.ratelimit_store}, access log {args.access_log}):"
        )
        print(f"  hub GET /api/v1/ping: {hub_us:7.1f} us/request")
        print(f"  bare Pyramid view:    {bare_us:7.1f} us/request")
        print(f"  ratio (bare / hub):   {bare_us / hub_us:.2f}   hub's own cost: {hub_us - bare_us:.1f} us")

        print_profile(lambda: call(hub, "GET", "/api/v1/ping", auth), n, f"{n} requests", args.top)
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
