"""Fixtures for the SOAP layer: the test EchoService on the real app, in WebTest and on a live server.

``testapp`` is overridden here, so the platform's ``make_client`` fixture
creates (rolled-back) clients against the SOAP app. WS-Security tests use
``committed_client``: the nonce store writes on its own connection, which on
SQLite would wait for the test's open write transaction.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
import transaction
from pyramid.router import Router
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from certs.keys import KeyRing
from certs.wssecurity import message_signer
from hub import make_config
from hub.api import ClientStatus
from hub.auth.clients import create_client
from hub.crypto import soap_password_box
from hub.lookup import process_service
from hub.models import PartnerClient
from hub.models.soap import SoapNonce
from hub.soap.service import MessageSigner
from tests.hub.soap.echo_service import add_echo_service


@pytest.fixture(scope="session")
def soap_keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    keyring, _created = KeyRing.ensure_development(tmp_path_factory.mktemp("soap-keys"))
    return keyring


def build_soap_app(engine: Engine, settings: dict[str, Any], keyring: KeyRing, **overrides: Any) -> Router:
    config = make_config({}, **{**settings, **overrides, "hub.test_engine": engine})
    add_echo_service(config)

    config.register_service(MessageSigner(message_signer(keyring).sign), MessageSigner)
    return config.make_wsgi_app()


@pytest.fixture(scope="session")
def soap_app(engine: Engine, app_settings: dict[str, Any], soap_keyring: KeyRing) -> Router:
    return build_soap_app(engine, app_settings, soap_keyring)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class CommittedClients:
    """Partner clients committed for real (seen by other connections), deleted afterwards."""

    def __init__(self, engine: Engine, app: Router, base_url: str | None = None) -> None:
        self.engine = engine
        self.app = app
        self.registry = app.registry
        self.base_url = base_url
        self.created: list[str] = []

    def __call__(self, scopes: list[str]) -> dict[str, Any]:
        with Session(self.engine) as session:
            made = create_client(
                session,
                "soap test client",
                scopes,
                secret_box=soap_password_box(self.registry.settings),
                soap=True,
            )
            session.commit()
        self.created.append(made.client_id)
        result: dict[str, Any] = {
            "client_id": made.client_id,
            "client_secret": made.client_secret,
            "soap_password": made.soap_password,
        }
        if self.base_url is not None:
            response = httpx.post(
                self.base_url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(made.client_id, made.client_secret),
                timeout=5,
            )
            response.raise_for_status()
            result["token"] = response.json()["access_token"]
        else:
            # Through the app in its own unit of work (the token endpoint may write).
            response = TestApp(self.app).post(
                "/oauth/token",
                {"grant_type": "client_credentials"},
                headers={"Authorization": basic_auth(made.client_id, made.client_secret)},
            )
            result["token"] = response.json["access_token"]
        result["headers"] = {"Authorization": "Bearer " + result["token"]}
        return result

    def revoke(self, client_id: str) -> None:
        from hub.auth.clients import revoke_client

        with Session(self.engine) as session:
            assert revoke_client(session, client_id)
            session.commit()
        process_service(self.registry, ClientStatus).invalidate()

    def cleanup(self) -> None:
        if not self.created:
            return
        with self.engine.begin() as conn:
            conn.execute(delete(SoapNonce).where(SoapNonce.client_id.in_(self.created)))
            conn.execute(delete(PartnerClient).where(PartnerClient.client_id.in_(self.created)))
        process_service(self.registry, ClientStatus).invalidate()


@pytest.fixture()
def committed_client(engine: Engine, soap_app: Router) -> Iterator[CommittedClients]:
    clients = CommittedClients(engine, soap_app)
    yield clients
    clients.cleanup()


@pytest.fixture(scope="module")
def shared_partner(engine: Engine, soap_app: Router) -> Iterator[dict[str, Any]]:
    """One committed ``hub:ping`` client with a bearer token and a SOAP password, per module.

    Creating a client costs two Argon2 runs; most hostile tests only need someone valid.
    """
    clients = CommittedClients(engine, soap_app)
    yield clients(["hub:ping"])
    clients.cleanup()


@pytest.fixture()
def testapp(
    soap_app: Router,
    committed_client: CommittedClients,
    app_session: Session,
    tm: transaction.TransactionManager,
) -> TestApp:
    """The SOAP app, pyramid_tm and all; the request's writes are rolled back after the test.

    Depends on ``committed_client`` first, so its cleanup runs after the test's
    transaction has been rolled back (SQLite allows one writer).
    """
    return TestApp(soap_app, extra_environ={"hub.dbsession": app_session, "tm.manager": tm})


# ----------------------------------------------------------------- live server for zeep


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture(scope="session")
def live_soap(
    engine: Engine, app_settings: dict[str, Any], soap_keyring: KeyRing
) -> Iterator[tuple[str, Router]]:
    """The SOAP app on a threaded wsgiref server at 127.0.0.1, its WSDL naming that address."""

    def not_ready(environ: Any, start_response: Any) -> list[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"starting"]

    server = make_server(
        "127.0.0.1", 0, not_ready, server_class=ThreadingWSGIServer, handler_class=_QuietHandler
    )
    base_url = f"http://127.0.0.1:{server.server_port}"
    app = build_soap_app(engine, app_settings, soap_keyring, **{"hub.public_url": base_url})
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, name="soap-live-server", daemon=True)
    thread.start()
    yield base_url, app
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture()
def live_client(engine: Engine, live_soap: tuple[str, Router]) -> Iterator[CommittedClients]:
    base_url, app = live_soap
    clients = CommittedClients(engine, app, base_url)
    yield clients
    clients.cleanup()
