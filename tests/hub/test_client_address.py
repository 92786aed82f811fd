"""Which address a request comes from: REMOTE_ADDR, and X-Forwarded-For only from the hub's own proxies.

The per-address limit of public verification, the verification log and the access log all
use that one address. Each test sends from an address of its own: the rate-limit counters
live in a Redis every test session shares.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import transaction
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from hub import main
from hub.models import DocumentVerification
from hub.request import client_address
from hub.settings import as_networks
from tests.hub.addresses import new_address, within_one_window
from tests.hub.documents_fixtures import issue

LIMIT = 3


@pytest.fixture(scope="module")
def app_with(engine: Engine, app_settings: dict[str, Any]) -> Callable[..., Any]:
    made: dict[str, Any] = {}

    def build(trusted_proxies: str = "") -> Any:
        if trusted_proxies not in made:
            made[trusted_proxies] = main(
                {},
                **app_settings,
                **{
                    "hub.test_engine": engine,
                    "hub.ratelimit.public_per_minute": str(LIMIT),
                    "hub.trusted_proxies": trusted_proxies,
                    "hub.access_log": "true",
                },
            )
        return made[trusted_proxies]

    return build


def _verify(app: TestApp, number: str, code: str, forwarded: str) -> Any:
    return app.post_json(
        "/api/v1/certificates/verify",
        {"number": number, "code": code},
        headers={"X-Forwarded-For": forwarded},
        expect_errors=True,
    )


def test_forged_forwarded_addresses_do_not_get_past_the_per_address_limit(
    app_with: Callable[..., Any], app_session: Session, tm: transaction.TransactionManager, dbsession: Session
) -> None:
    real = new_address()
    app = TestApp(
        app_with(), extra_environ={"hub.dbsession": app_session, "tm.manager": tm, "REMOTE_ADDR": real}
    )
    issued = issue(dbsession, app.app.registry)
    within_one_window()
    statuses = [
        _verify(app, issued.record.number, issued.verification_code, f"192.0.2.{i}").status_int
        for i in range(LIMIT + 2)
    ]
    assert statuses == [200] * LIMIT + [429, 429]
    verifiers = set(
        dbsession.execute(
            select(DocumentVerification.verifier).where(
                DocumentVerification.number_given == issued.record.number
            )
        ).scalars()
    )
    assert verifiers == {f"ip:{real}"}


def test_a_trusted_proxy_forwards_the_client_address(
    app_with: Callable[..., Any],
    app_session: Session,
    tm: transaction.TransactionManager,
    dbsession: Session,
    capsys: Any,
) -> None:
    proxy = new_address()
    app = TestApp(
        app_with(f"{proxy} 172.16.0.0/12"),
        extra_environ={"hub.dbsession": app_session, "tm.manager": tm, "REMOTE_ADDR": proxy},
    )
    issued = issue(dbsession, app.app.registry)
    clients = [new_address() for _ in range(2 * LIMIT + 1)]
    capsys.readouterr()
    # What the client wrote itself (left), the client as our proxies saw it, then our own proxy chain.
    statuses = [
        _verify(
            app, issued.record.number, issued.verification_code, f"198.51.100.9, {client}, 172.16.4.4"
        ).status_int
        for client in clients
    ]
    assert statuses == [200] * len(clients)  # each client has its own allowance
    verifiers = set(
        dbsession.execute(
            select(DocumentVerification.verifier).where(
                DocumentVerification.number_given == issued.record.number
            )
        ).scalars()
    )
    assert verifiers == {f"ip:{client}" for client in clients}
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"hub.access"' in line]
    assert [line["client"] for line in lines] == clients


def test_the_access_log_stores_the_sender_not_a_forged_address(
    app_with: Callable[..., Any], capsys: Any
) -> None:
    real = new_address()
    app = TestApp(app_with(), extra_environ={"REMOTE_ADDR": real})
    capsys.readouterr()
    app.get("/healthz", headers={"X-Forwarded-For": "192.0.2.1"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"hub.access"' in line]
    assert [line["client"] for line in lines] == [real]


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("10.0.0.5", "1.2.3.4", "10.0.0.5"),  # not a proxy of ours: the header is the client's word
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("127.0.0.1", "9.9.9.9, 1.2.3.4", "1.2.3.4"),
        ("127.0.0.1", "9.9.9.9, 1.2.3.4, 172.16.0.2", "1.2.3.4"),
        ("127.0.0.1", "172.16.0.3, 172.16.0.2", "172.16.0.3"),  # all ours: the farthest
        ("127.0.0.1", "1.2.3.4, not-an-address", "127.0.0.1"),
        ("127.0.0.1", "9.9.9.9, not-an-address, 172.16.0.2", "172.16.0.2"),
        ("127.0.0.1", " 2001:DB8::1 ", "2001:db8::1"),
    ],
)
def test_forwarded_addresses_are_read_from_the_right(remote: str, forwarded: str, expected: str) -> None:
    trusted = as_networks("127.0.0.1, 172.16.0.0/12")
    environ = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(environ, trusted) == expected
