"""LIVE-mode harness for new connections: real commits, the fake single window, a real HTTP server.

Per module: a database (tests/conftest.py live mode), the fake portal
verifying our JWS callbacks, a document host on the allow-list and one off
it, the hub on a threaded wsgiref server (zeep reads our WSDL from it), and
the reference billing/payment systems with the discom's offices.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from connectors.billing.tables import RefOffice
from connectors.demo import office_hierarchy
from hub.connections.service import ConnectionService
from hub.lookup import process_service, registered
from hub.models.connection import ConnectionApplication
from hub.models.meta import utcnow
from hub.models.outbox import OutboxMessage
from hub.outbox import OutboxDeliverer, OutboxHandlers, deliverer_from_settings
from hub.systems import Connectors
from tests.connectors.fake_singlewindow import FakeSingleWindow
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer
from tests.hub.live_server import ThreadingServer

PAYMENT_SECRET = "connections-test-payment-secret"
JWS_KID = "hub-sw-test-1"


@pytest.fixture(scope="module")
def sw_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeySet]:
    key = ECKey.generate_key("P-256", parameters={"kid": JWS_KID})
    path = tmp_path_factory.mktemp("swkey") / "sw.pem"
    path.write_bytes(key.as_pem(private=True))
    return path, KeySet([ECKey.import_key(key.as_dict(private=False), {"kid": JWS_KID})])


@pytest.fixture(scope="module")
def portal(sw_key: tuple[Path, KeySet]) -> Iterator[FakeSingleWindow]:
    with FakeSingleWindow(jwks=sw_key[1]) as fake:
        yield fake


class DocumentHost:
    """Serves files by path; counts every request (the allow-list test wants zero on the other host)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.server = FakeServer(self._handle)

    def _handle(self, request: FakeRequest) -> FakeResponse:
        body = self.files.get(request.path)
        if body is None:
            return FakeResponse.json(404, {"error": "not found"})
        return FakeResponse(200, body, {"Content-Type": "application/pdf"})

    @property
    def requests(self) -> list[FakeRequest]:
        return list(self.server.requests)


@pytest.fixture(scope="module")
def doc_host() -> Iterator[DocumentHost]:
    host = DocumentHost()
    with host.server:
        yield host


@pytest.fixture(scope="module")
def off_list_host() -> Iterator[DocumentHost]:
    host = DocumentHost()
    with host.server:
        yield host


def connection_settings(portal_url: str, key_file: Path, document_origin: str) -> dict[str, str]:
    return {
        "hub.billing.backend": "connectors.billing.reference:ReferenceBilling",
        "hub.payment.backend": "connectors.payment.reference:ReferencePayment",
        "hub.payment.callback_secret": PAYMENT_SECRET,
        "hub.singlewindow.backend": "connectors.singlewindow.client:HttpSingleWindow",
        "hub.singlewindow.url": portal_url,
        "hub.singlewindow.signature": "jws",
        "hub.singlewindow.jws_key_file": str(key_file),
        "hub.singlewindow.jws_kid": JWS_KID,
        "hub.singlewindow.connect_timeout": "1",
        "hub.singlewindow.read_timeout": "3",
        "hub.connections.document_hosts": document_origin,
        "hub.connections.fetch_timeout": "2",
        "hub.outbox.max_attempts": "4",
        "hub.outbox.backoff_seconds": "0.05",
        "hub.outbox.backoff_max_seconds": "0.2",
        "hub.outbox.lease_seconds": "3",
        "hub.outbox.sweep_seconds": "1",
        "hub.outbox.poll_seconds": "0.2",
    }


@pytest.fixture(scope="module")
def live_settings(  # overrides tests/conftest.py: this module's app talks to the fakes above
    live_database_url: str,
    live_reference_url: str,
    keys_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    portal: FakeSingleWindow,
    sw_key: tuple[Path, KeySet],
    doc_host: DocumentHost,
    http_server: tuple[str, ThreadingServer],
) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("connvar")
    return {
        "hub.database_url": live_database_url,
        "hub.reference.database_url": live_reference_url,
        "hub.secret_key": "test-secret-key",
        "hub.keys_dir": str(keys_dir),
        "hub.queue.sqlite_path": str(var / "queue.sqlite"),
        "hub.public_url": http_server[0],
        "hub.oauth.issuer": http_server[0],
        "hub.log_json": "false",
        **connection_settings(portal.url, sw_key[0], doc_host.server.url),
    }


@pytest.fixture(scope="module")
def offices(live_reference_engine: Engine) -> None:
    """The discom's offices in reference billing (create_consumer needs the DC)."""
    with live_reference_engine.begin() as conn:
        if conn.execute(select(RefOffice.code).limit(1)).first() is None:
            conn.execute(
                insert(RefOffice),
                [
                    {
                        "code": o.code,
                        "level": o.level,
                        "name_en": o.name_en,
                        "name_hi": o.name_hi,
                        "district": o.district,
                        "parent_code": o.parent_code,
                        "dc_number": o.dc_number,
                    }
                    for o in office_hierarchy()
                ],
            )


@pytest.fixture(scope="module")
def hub_url(http_server: tuple[str, ThreadingServer], live_wsgi_app: Any, offices: None) -> str:
    base, server = http_server
    server.set_app(live_wsgi_app)
    return base


@dataclass
class Hub:
    """The app, its service and the outbox, driven synchronously from the test."""

    app: Any
    engine: Engine
    deliverer: OutboxDeliverer

    @property
    def service(self) -> ConnectionService:
        return process_service(self.app.app.registry, ConnectionService)

    def officer(self, sw_id: str, action: str, role: str, reason: str | None = None, **kw: Any) -> None:
        with Session(self.engine) as session, session.begin():
            no = self.application(sw_id).application_no
            self.service.officer_act(session, no, action, f"officer:{role}-1", [role], reason, **kw)

    def application(self, sw_id: str) -> ConnectionApplication:
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.execute(
                select(ConnectionApplication).where(ConnectionApplication.sw_application_id == sw_id)
            ).scalar_one()
            return found

    def pending(self) -> list[int]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.status == "pending")
                    .order_by(OutboxMessage.id)
                )
            )

    def drain(self, rounds: int = 60, until: Callable[[], bool] | None = None) -> None:
        """Deliver what is due, as the worker would, until nothing is pending (or ``until`` holds)."""
        for _ in range(rounds):
            ids = self.pending()
            if not ids or (until is not None and until()):
                return
            outcomes = self.deliverer.deliver(ids)
            if not any(o.result == "delivered" for o in outcomes):
                time.sleep(0.1)  # backing off: let the next attempt fall due

    def make_due(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "pending")
                .values(next_attempt_at=utcnow())
            )


@pytest.fixture(scope="module")
def hub(live_wsgi_app: Any, live_engine: Engine, hub_url: str) -> Hub:
    from webtest import TestApp

    registry = live_wsgi_app.registry
    deliverer = deliverer_from_settings(
        registry.settings,
        live_engine,
        process_service(registry, Connectors),
        registered(registry, OutboxHandlers),
    )
    return Hub(TestApp(live_wsgi_app), live_engine, deliverer)
