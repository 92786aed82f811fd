"""End-to-end: the hub served exactly as `make run` serves it, driven as its users drive it.

One hub per test session: `make run` on a free port with a data directory of its own (SQLite
file, or a PostgreSQL schema when HUB_TEST_DATABASE=postgresql), the web processes and
hub-worker together. Partners call it over HTTP; officers use the console in Chromium through
Playwright (Debian's `chromium`, installed by `make system-tools`). Screenshots go to
``test-artifacts/e2e/`` (or ``HUB_E2E_ARTIFACTS``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hub.db import make_engine
from tests.conftest import POSTGRES_URL, database_kind

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HUB_E2E_ARTIFACTS", ROOT / "test-artifacts" / "e2e"))
OFFICER_PASSWORD = "e2e-Officer-passw0rd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServedHub:
    url: str
    env: dict[str, str]
    database_url: str
    reference_url: str
    log: Path

    def admin(self, *args: str, env: dict[str, str] | None = None) -> str:
        """`hub-admin development.ini ...` against this hub's data, as an operator runs it."""
        done = subprocess.run(  # noqa: PLW1510 - the return code is asserted below
            [str(ROOT / ".venv" / "bin" / "hub-admin"), "development.ini", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (args, done.stderr.strip().splitlines()[-3:])
        return done.stdout

    def client(self, name: str, scopes: str, *extra: str) -> dict[str, Any]:
        """A partner client made by `hub-admin clients create`, with a token from /oauth/token."""
        made = json.loads(self.admin("clients", "create", "--name", name, "--scopes", scopes, *extra))
        basic = base64.b64encode(f"{made['client_id']}:{made['client_secret']}".encode()).decode()
        token = httpx.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
            timeout=10,
        )
        assert token.status_code == 200, token.text
        return {**made, "headers": {"Authorization": f"Bearer {token.json()['access_token']}"}}

    def officer(self, username: str, name: str, role: str, offices: str) -> str:
        self.admin(
            "officers",
            "create",
            "--username",
            username,
            "--name",
            name,
            "--role",
            role,
            "--offices",
            offices,
            env={"HUB_OFFICER_PASSWORD": OFFICER_PASSWORD},
        )
        return username

    def shift_case(self, subject_id: str, **columns: Any) -> None:
        """Time passes for one case: move its clocks as the days would have moved them."""
        from sqlalchemy import update

        from hub.models.workflow import WorkflowCase

        engine = make_engine(self.database_url, pool_size=1)
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(WorkflowCase).where(WorkflowCase.subject_id == subject_id).values(**columns)
                )
        finally:
            engine.dispose()

    def run_job_now(self, name: str) -> None:
        """Make hub-worker's periodic job ``name`` due now (its scheduler looks every few seconds)."""
        from sqlalchemy import update

        from hub.models.job import JobLease
        from hub.models.meta import utcnow

        engine = make_engine(self.database_url, pool_size=1)
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(JobLease).where(JobLease.name == name).values(leased_until=utcnow(), holder=None)
                )
        finally:
            engine.dispose()

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Read what the hub's database holds."""
        return _query(self.database_url, statement, params)

    def reference_sql(self, statement: str, **params: Any) -> list[Any]:
        """Read what an outside system holds (the reference SMS gateway's messages, a ledger):
        the reference systems' own store, beside the hub's database in DATA_DIR."""
        return _query(self.reference_url, statement, params)


def _query(url: str, statement: str, params: dict[str, Any]) -> list[Any]:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(statement), params))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def served_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHub]:
    port = _free_port()
    data = tmp_path_factory.mktemp("served")
    args = ["make", "-s", "run", f"PORT={port}", "HOST=127.0.0.1", f"DATA_DIR={data}", "DEMO_CONSUMERS=300"]
    schema = None
    if database_kind() == "postgresql":
        schema = "e_" + secrets.token_hex(6)
        admin = make_engine(POSTGRES_URL, pool_size=1)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        database_url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        args.append(f"DATABASE_URL={database_url}")
    else:
        database_url = f"sqlite:///{data}/hub.sqlite"
    # The Makefile puts the reference systems' store in DATA_DIR (see its DATA_ENV).
    reference_url = f"sqlite:///{data}/reference.sqlite"
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HUB_DATABASE_URL": database_url,
        "HUB_REFERENCE_DATABASE_URL": reference_url,
        "HUB_KEYS_DIR": str(data / "keys"),
        "HUB_QUEUE_SQLITE_PATH": str(data / "queue.sqlite"),
        "HUB_PUBLIC_URL": url,
        "HUB_OAUTH_ISSUER": url,
        "HUB_PAYMENT_CHECKOUT_URL": f"{url}/reference/pay",
        "HUB_PAYMENT_CALLBACK_URL": f"{url}/api/v1/connections/payments",
    }
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    (ARTIFACTS / database_kind()).mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / database_kind() / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"make run exited {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the hub did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield ServedHub(url, env, database_url, reference_url, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if schema is not None:
            admin = make_engine(POSTGRES_URL, pool_size=1)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Per module: Playwright's sync API runs an event loop in this thread while it is open, and
    # code under test elsewhere in the session calls asyncio.run (pyHanko), which refuses then.
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium is not None, "Debian's chromium is missing: run `make system-tools`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


class Screens:
    """Saves full-page screenshots named after the test and the step."""

    def __init__(self, page: Any, test_name: str) -> None:
        self.page = page
        self.directory = ARTIFACTS / database_kind()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.prefix = test_name
        self.count = 0

    def shot(self, step: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.prefix}-{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture()
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(
        locale="hi-IN", timezone_id="Asia/Kolkata", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.screens = Screens(page, request.node.name)
    yield page
    context.close()


def until(what: str, probe: Any, seconds: float = 90) -> Any:
    """What ``probe`` returns once it is truthy (polled every half second), as hub-worker gets to it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {seconds} s: {what}")


def sign_in(page: Any, hub: ServedHub, username: str) -> None:
    """An officer signs in to the console as they would."""
    page.goto(f"{hub.url}/console/login")
    page.fill("#username", username)
    page.fill("#password", OFFICER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/console")


def file_connection(hub: ServedHub) -> tuple[dict[str, Any], str, str]:
    """The single window files a metro LT industrial application; (its client, its id, our number)."""
    from tests.hub.connections.samples import lt_industrial_form, submission

    portal = hub.client("State single window", "connections:apply")
    sw_id = "SW-E2E-" + secrets.token_hex(4).upper()
    filed = httpx.post(
        hub.url + "/api/v1/connections/applications",
        json=submission(sw_id, lt_industrial_form()),
        headers=portal["headers"],
        timeout=30,
    )
    assert filed.status_code == 201, filed.text
    return portal, sw_id, str(filed.json()["application_no"])
