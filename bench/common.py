"""Shared machinery of ``make bench``: throwaway hubs, granian servers, wrk, figures.

Every section measures a contender against a baseline *in the same run, on the
same server settings*, alternating the two so that noise (the load generator
shares the cores with the server) hits both. Everything talks to 127.0.0.1 only
and every run has a bounded duration.

A section (``bench/bench_<name>.py``) exposes ``run(args) -> list[Figure | dict]``;
see bench/README.md for the contract.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
POSTGRES_URL = os.environ.get("HUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HUB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

# wrk's shape for every HTTP figure: one thread, 16 connections.
WRK_THREADS = 1
WRK_CONNECTIONS = 16
GRANIAN_WORKERS = 2
# Threads per worker, as `make run` and production.ini serve. granian's WSGI default is
# backpressure/2 (256 here): dozens of threads per process contending for one GIL, which
# costs every request that waits on SQLite, PostgreSQL or Redis a GIL hand-off. The
# contender and its baseline always run with the same value.
GRANIAN_BLOCKING_THREADS = int(os.environ.get("HUB_BENCH_BLOCKING_THREADS", "16"))
# Clients the bench creates must never meet their rate limit: the limiter still
# runs on every request (its cost is part of the figure), it just always says yes.
UNLIMITED_PER_MINUTE = 1_000_000_000

warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


class BenchError(RuntimeError):
    """The bench cannot measure (missing tool, server did not start, errors under load)."""


class SkipSection(Exception):
    """Raised by a section that cannot run here (e.g. needs --postgres); the reason is printed."""


# --------------------------------------------------------------------------- figures


Comparison = Literal[">=", "<="]


@dataclass
class Figure:
    """One line of the bench: a contender next to its baseline, their ratio and the target.

    ``ratio`` is value / baseline_value. ``target`` is the bound the issue sets
    on the ratio (``comparison`` ">=" for shares of a baseline, "<=" for cost
    multiples such as "a 1,000-item batch costs at most 20x one item"); None
    for informational figures.
    """

    section: str
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    target: float | None = None
    comparison: Comparison = ">="
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # A ratio the section computed itself (e.g. median of per-document ratios, or cost
    # over cost where value and baseline are rates); otherwise value / baseline_value.
    reported_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.reported_ratio is not None:
            return self.reported_ratio
        if self.baseline_value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value

    @property
    def passed(self) -> bool | None:
        ratio = self.ratio
        if self.target is None or ratio is None:
            return None
        return ratio >= self.target if self.comparison == ">=" else ratio <= self.target

    def line(self) -> str:
        text = f"{self.name}: {fmt(self.value)} {self.unit}"
        if self.baseline_name is not None and self.baseline_value is not None:
            text += f" | baseline {self.baseline_name}: {fmt(self.baseline_value)}"
            ratio = self.ratio
            text += f" | ratio {ratio:.2f}" if ratio is not None else " | ratio n/a"
            if self.target is not None:
                verdict = (
                    "ok" if self.passed else "BELOW TARGET" if self.comparison == ">=" else "OVER TARGET"
                )
                text += f" (target {self.comparison} {self.target:.2f}: {verdict})"
            else:
                text += " (informational)"
        return text

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        out["passed"] = self.passed
        return out

    @classmethod
    def from_dict(cls, section: str, data: Mapping[str, Any]) -> Figure:
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.setdefault("section", section)
        return cls(**kwargs)


def fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4g}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop_process_group(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # granian's workers are in the same group: make sure none outlive the master.
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so every ``finally`` (server stop, schema drop) runs.

    SIGINT gets Python's own handler back too: a shell starting the bench in
    the background leaves SIGINT ignored, and Ctrl-C must still stop it cleanly.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def _exit(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)


@dataclass
class Server:
    name: str
    base_url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    workers: int = GRANIAN_WORKERS

    def url(self, path: str) -> str:
        return self.base_url + path

    def check_healthy(self) -> None:
        """Raise unless the server still runs every worker it started with.

        granian does not respawn a worker that dies (no --respawn-failed-workers):
        a hub measured on one worker against a bare view on two would be a lie.
        """
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        if self.proc.poll() is not None or "Unexpected exit from worker" in log:
            raise BenchError(f"{self.name}: a granian worker died:\n{self.log_tail()}")

    def started_workers(self) -> int:
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return len(set(re.findall(r"Started worker-(\d+)", log)))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def granian_server(
    name: str,
    app: str,
    *,
    env: Mapping[str, str] | None = None,
    workers: int = GRANIAN_WORKERS,
    ready_path: str = "/",
    log_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> Iterator[Server]:
    """Serve ``app`` (``module:attribute``) with granian's WSGI interface on a free loopback port.

    The server runs in its own process group and is stopped (TERM, then KILL)
    when the block ends, whatever ends it: exception, Ctrl-C or SystemExit.
    """
    granian = VENV_BIN / "granian"
    if not granian.exists():
        raise BenchError(f"{granian} not found: run `make setup` first")
    port = free_port()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="hub-bench-log-"))
    log_path = log_dir / f"{name}.log"
    cmd = [
        str(granian),
        "--interface",
        "wsgi",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(GRANIAN_BLOCKING_THREADS),
        "--no-access-log",
        *extra_args,
        app,
    ]
    full_env = {**os.environ, **(env or {})}
    # The repo root first, so `bench.bare_app` and `hub` import from this checkout.
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full_env.get("PYTHONPATH", "")) if p)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name, f"http://{HOST}:{port}", proc, log_path, workers)
    try:
        _wait_until_serving(server, ready_path, startup_timeout)
        yield server
    finally:
        stop_process_group(proc)


@contextmanager
def hub_worker(ini: Path, log_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``hub-worker <ini>`` (outbox delivery and periodic jobs), as production runs it beside the web
    processes, in its own process group; stopped (TERM, then KILL) when the block ends."""
    with open(log_dir / "worker.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.worker", str(ini)],
            cwd=ROOT,
            # The ini says everything: no HUB_* override from the caller's environment.
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
                "PYTHONPATH": str(ROOT),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_process_group(proc, grace=15.0)


def hub_and_bare(stack: ExitStack, env: HubEnv) -> tuple[Server, Server]:
    """The throwaway hub as served and the bare Pyramid view, on the same granian command, until ``stack`` ends."""
    hub = stack.enter_context(
        granian_server(
            "hub", "hub.wsgi:application", env=env.server_env(), ready_path="/healthz", log_dir=env.root
        )
    )
    bare = stack.enter_context(
        granian_server("bare", "bench.bare_app:application", ready_path="/bare", log_dir=env.root)
    )
    return hub, bare


def _wait_until_serving(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(
                f"{server.name}: granian exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url(path), timeout=2) as resp:
                answered = resp.status < 500
        except urllib.error.HTTPError as exc:
            answered = exc.code < 500
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            answered, last_error = False, str(exc)
        # One worker answering is not enough: wait until every worker has loaded the app.
        if answered:
            server.check_healthy()
            if server.started_workers() >= server.workers:
                return
            last_error = f"{server.started_workers()} of {server.workers} workers started"
        time.sleep(0.2)
    raise BenchError(
        f"{server.name}: not serving {path} after {timeout:.0f}s ({last_error})\n{server.log_tail()}"
    )


# --------------------------------------------------------------------------- HTTP helpers


def http_json(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """One request to the bench's own loopback server; returns (status, decoded JSON or text)."""
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"the bench talks to {HOST} only, not {url}")
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def fetch_token(server: Server, client_id: str, client_secret: str, scope: str) -> str:
    """An access token from the hub's token endpoint (client credentials, client_secret_basic)."""
    status, data = http_json(
        "POST",
        server.url("/oauth/token"),
        body=token_request_body(scope),
        headers={
            "Authorization": basic_auth(client_id, client_secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    if status != 200 or not isinstance(data, dict) or "access_token" not in data:
        raise BenchError(f"token endpoint answered {status}: {data}")
    return str(data["access_token"])


def basic_auth(client_id: str, client_secret: str) -> str:
    pair = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def token_request_body(scope: str) -> bytes:
    return urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}).encode()


# --------------------------------------------------------------------------- throwaway hub


@dataclass
class HubEnv:
    """A migrated hub database and an ini pointing at it, in a temp dir removed at the end."""

    root: Path
    ini: Path
    database_url: str
    kind: Literal["sqlite", "postgresql"]
    ratelimit_store: str
    settings: dict[str, str]

    def server_env(self) -> dict[str, str]:
        return {"HUB_INI": str(self.ini)}

    def engine(self, pool_size: int = 2) -> Any:
        from hub.db import make_engine

        return make_engine(self.database_url, pool_size=pool_size)

    def create_client(
        self,
        name: str,
        scopes: Iterable[str],
        purposes: Iterable[str] = (),
        rate_per_minute: int = UNLIMITED_PER_MINUTE,
    ) -> tuple[str, str]:
        """A partner client in the hub's database; returns (client_id, client_secret)."""
        from sqlalchemy.orm import Session

        from hub.auth.clients import create_client

        engine = self.engine()
        try:
            with Session(engine) as session, session.begin():
                created = create_client(
                    session, name, list(scopes), list(purposes), rate_per_minute=rate_per_minute
                )
        finally:
            engine.dispose()
        return created.client_id, created.client_secret


def redis_reachable(url: str = REDIS_URL) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def empty_redis_database(url: str) -> None:
    """Empty the bench's own Redis database at ``url`` (a number no deployment uses)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=1)
    try:
        client.flushdb()
    finally:
        client.close()


def _ini_value(value: str) -> str:
    # PasteDeploy reads the ini with interpolation: a literal % is written %%.
    return value.replace("%", "%%")


@contextmanager
def hub_environment(
    *,
    postgres: bool = False,
    ratelimit: str = "auto",
    extra_settings: Mapping[str, str] | None = None,
    reference_in_database: bool = False,
) -> Iterator[HubEnv]:
    """A throwaway hub: temp dir, ini, database migrated with Alembic.

    SQLite file in the temp dir by default; with ``postgres`` a fresh schema in
    the ``test`` database (search_path via libpq options), dropped at the end.
    Rate-limit counters go to Redis when it answers on 127.0.0.1 (as in
    production), else to the database; ``ratelimit`` ("redis"/"database") forces one.
    The ini mirrors production.ini's request path: JSON logs and the access log on, written every 0.5 s.
    """
    from sqlalchemy import text

    from hub.db import make_engine
    from hub.migrate import upgrade

    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="hub-bench-"))
        stack.callback(shutil.rmtree, root, True)
        kind: Literal["sqlite", "postgresql"]
        if postgres:
            kind = "postgresql"
            schema = "bench_" + secrets.token_hex(6)
            admin = make_engine(POSTGRES_URL, pool_size=1)
            stack.callback(admin.dispose)
            try:
                with admin.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            except Exception as exc:
                raise BenchError(f"PostgreSQL at {POSTGRES_URL} not usable: {exc}") from exc

            def _drop() -> None:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

            stack.callback(_drop)
            database_url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        else:
            kind = "sqlite"
            database_url = f"sqlite:///{root / 'hub.sqlite'}"

        if ratelimit == "auto":
            ratelimit = "redis" if redis_reachable() else "database"
        settings = {
            "hub.database_url": database_url,
            "hub.database_pool_size": "16",
            "hub.secret_key": "bench-" + secrets.token_hex(16),
            "hub.keys_dir": str(root / "keys"),
            "hub.queue.sqlite_path": str(root / "queue.sqlite"),
            # The reference systems' own store, as `make run` has it; or the hub's database, for a
            # section that loads bulk reference data next to the hub's (one PostgreSQL schema).
            "hub.reference.database_url": database_url
            if reference_in_database
            else f"sqlite:///{root / 'reference.sqlite'}",
            "hub.public_url": "http://127.0.0.1:6543",
            "hub.oauth.issuer": "http://127.0.0.1:6543",
            "hub.log_json": "true",
            "hub.access_log": "true",
            "hub.ratelimit.redis_url": REDIS_URL if ratelimit == "redis" else "",
            **(extra_settings or {}),
        }
        queue_url = settings.get("hub.redis_url", "")
        if queue_url:
            # The throwaway hub's task queue is throwaway too: tasks an earlier run left behind
            # (ids of a schema since dropped, or of messages this run reuses) would otherwise be
            # taken by this run's worker before its own.
            empty_redis_database(queue_url)
            stack.callback(empty_redis_database, queue_url)
        ini = root / "bench.ini"
        lines = ["[app:main]", "use = egg:discom-hub"]
        lines += [f"{k} = {_ini_value(v)}" for k, v in settings.items()]
        ini.write_text("\n".join(lines) + "\n")
        upgrade(database_url)
        _first_start(ini)
        yield HubEnv(root, ini, database_url, kind, ratelimit, settings)


def _first_start(ini: Path) -> None:
    """Load the app once, alone, before granian starts its workers.

    A hub's first start creates its token signing key and development CA;
    two workers doing that at the same moment on a fresh SQLite database race
    ("database is locked") and one dies. A deployment migrates and starts once
    before scaling out; the bench does the same, in a separate process so this
    one keeps no app state.
    """
    code = "import sys; from pyramid.paster import get_app; get_app(sys.argv[1], 'main')"
    python = VENV_BIN / "python"
    done = subprocess.run(
        [str(python if python.exists() else sys.executable), "-c", code, str(ini)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"the hub does not start with {ini}:\n{done.stderr[-3000:]}")


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    duration_s: float
    latency_ms: dict[str, float]
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def clean(self) -> bool:
        return self.requests > 0 and self.non_2xx == 0 and not any(self.socket_errors.values())


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        print(
            "bench: wrk (HTTP load generator) is not installed.\n"
            "  Debian/Ubuntu: sudo apt-get install wrk\n"
            "  macOS:         brew install wrk",
            file=sys.stderr,
        )
        raise SystemExit(3)
    return path


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", output, re.M)
    if rps is None or total is None:
        raise BenchError(f"cannot read wrk output:\n{output}")
    latency: dict[str, float] = {}
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.M):
        latency[f"p{pct}"] = _to_ms(value)
    avg = re.search(r"^\s+Latency\s+(\S+)", output, re.M)
    if avg:
        latency["avg"] = _to_ms(avg.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True))
        if errors
        else {}
    )
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        duration_s=_to_ms(total.group(2) + total.group(3)) / 1000,
        latency_ms=latency,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=socket_errors,
    )


def run_wrk(
    url: str,
    seconds: float,
    *,
    headers: Mapping[str, str] | None = None,
    script: Path | None = None,
    connections: int = WRK_CONNECTIONS,
    threads: int = WRK_THREADS,
    allow_errors: bool = False,
) -> WrkResult:
    """``wrk -t1 -c16 -d<seconds>s --latency`` against a loopback URL.

    Non-2xx answers or socket errors make the run invalid (BenchError) unless
    ``allow_errors``: a fast 401 or 429 must never pass for throughput.
    """
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"the bench talks to {HOST} only, not {url}")
    wrk = require_wrk()
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    cmd += ["--timeout", "5s"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    result = parse_wrk(done.stdout)
    if not allow_errors and not result.clean:
        raise BenchError(
            f"{url}: {result.requests} answers, {result.non_2xx} of them non-2xx, "
            f"socket errors {result.socket_errors} "
            "(the figure would be meaningless)"
        )
    return result


def post_script(
    directory: Path, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
) -> Path:
    """A wrk Lua script sending ``body`` as a POST; the body is read from a file (binary-safe)."""
    body_path = directory / f"body-{secrets.token_hex(4)}.bin"
    body_path.write_bytes(body)
    script = directory / f"post-{secrets.token_hex(4)}.lua"
    header_lines = "".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}\n" for k, v in (headers or {}).items()
    )
    script.write_text(
        f'local f = assert(io.open({_lua_string(str(body_path))}, "rb"))\n'
        "wrk.body = f:read('*a')\n"
        "f:close()\n"
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = {_lua_string(content_type)}\n' + header_lines
    )
    return script


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for printable text


# --------------------------------------------------------------------------- alternation


@dataclass
class Contender:
    """A named load run: ``measure(seconds)`` returns one WrkResult."""

    name: str
    measure: Callable[[float], WrkResult]


def alternate(
    contenders: Sequence[Contender], *, rounds: int, seconds: float, warmup: float = 1.0
) -> dict[str, list[WrkResult]]:
    """Warm every contender up, then run them in turn ``rounds`` times (A B A B ...)."""
    results: dict[str, list[WrkResult]] = {c.name: [] for c in contenders}
    if warmup > 0:
        for c in contenders:
            c.measure(warmup)
    for round_no in range(rounds):
        # Swap the order each round so neither side always runs on a just-cooled machine.
        ordered = contenders if round_no % 2 == 0 else list(reversed(contenders))
        for c in ordered:
            result = c.measure(seconds)
            results[c.name].append(result)
            print(
                f"  round {round_no + 1}/{rounds} {c.name}: {result.requests_per_second:,.0f} req/s, "
                f"p50 {result.latency_ms.get('p50', float('nan')):.2f} ms, "
                f"p99 {result.latency_ms.get('p99', float('nan')):.2f} ms",
                flush=True,
            )
    return results


def throughput_figure(
    section: str,
    name: str,
    contender: Sequence[WrkResult],
    baseline_name: str,
    baseline: Sequence[WrkResult],
    *,
    target: float | None,
    details: Mapping[str, Any] | None = None,
) -> Figure:
    """Median requests/s of a contender against the median of its baseline."""

    def latencies(runs: Sequence[WrkResult]) -> dict[str, float]:
        keys = sorted({k for r in runs for k in r.latency_ms})
        return {k: median([r.latency_ms[k] for r in runs if k in r.latency_ms]) for k in keys}

    return Figure(
        section=section,
        name=name,
        value=median([r.requests_per_second for r in contender]),
        unit="req/s",
        baseline_name=baseline_name,
        baseline_value=median([r.requests_per_second for r in baseline]),
        target=target,
        samples=[r.requests_per_second for r in contender],
        baseline_samples=[r.requests_per_second for r in baseline],
        details={
            "latency_ms": latencies(contender),
            "baseline_latency_ms": latencies(baseline),
            **(details or {}),
        },
    )


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every section understands (run.py passes them on as ``args``)."""
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds per figure (default 3)")
    parser.add_argument("--postgres", action="store_true", help="use PostgreSQL (127.0.0.1:5432/test)")
    parser.add_argument(
        "--ratelimit",
        choices=("auto", "redis", "database"),
        default="auto",
        help="where rate-limit counters live (auto: Redis when it answers, as in production)",
    )
