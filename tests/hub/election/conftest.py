"""LIVE-mode harness for the election service: real commits, a real HTTP server for zeep, the worker in-process.

Per module: a database (tests/conftest.py live mode), reference billing with
the demo personas, the reference SMS gateway, and the hub on a threaded
wsgiref server at 127.0.0.1 whose WSDL names that address. Certificates are
issued through hub.certificates for real no-dues applications (so the holder's
mobile is known, as in the no-dues flow).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from certs.document import Holder, mask_mobile
from hub.api import ClientStatus
from hub.auth.clients import create_client
from hub.certificates.issuing import Issued, revoke_document
from hub.crypto import soap_password_box
from hub.db import Database
from hub.election.holder_sms import follow_verification_log
from hub.lookup import process_service
from hub.models.document import IssuedDocument
from hub.models.meta import utcnow
from hub.models.nodues import ConsumerAccount, NoDuesApplication
from hub.outbox import DeliveryOutcome
from hub.systems import Connectors
from tests.conftest import _basic
from tests.hub.documents_fixtures import issue, no_dues_request
from tests.hub.live_server import ThreadingServer
from tests.hub.nodues.flow import NODUES_SETTINGS
from tests.hub.outbox_drain import drain_outbox

ELECTION_SETTINGS = {
    **NODUES_SETTINGS,
    "hub.sms.template.certificate_verified.id": "1107000000000000004",
    "hub.ratelimit.public_per_minute": "100000",
    "hub.ratelimit.default_per_minute": "100000",
    "hub.outbox.backoff_seconds": "0.05",
    "hub.outbox.backoff_max_seconds": "0.2",
    "hub.outbox.max_attempts": "3",
}
AUTHORITY_NAME = "State Election Commission MP"
SUBJECT_TYPE = "nodues_application"


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any], http_server: tuple[str, ThreadingServer]) -> dict[str, Any]:
    base = http_server[0]
    return {**live_settings, **ELECTION_SETTINGS, "hub.public_url": base, "hub.oauth.issuer": base}


@pytest.fixture(scope="module")
def demo(live_reference_engine: Engine) -> None:
    from connectors.demo import generate_demo_data

    generate_demo_data(live_reference_engine, consumers=40, seed=5)


@pytest.fixture(scope="module")
def hub_url(http_server: tuple[str, ThreadingServer], live_wsgi_app: Any, demo: None) -> str:
    base, server = http_server
    server.set_app(live_wsgi_app)
    return base


class Election:
    """Issue certificates, make authorities, deliver the outbox and read the SMS gateway."""

    def __init__(self, app: TestApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self.registry = app.app.registry

    def authority(self, scopes: list[str] | None = None, name: str = AUTHORITY_NAME) -> dict[str, Any]:
        with Session(self.engine) as session, session.begin():
            made = create_client(
                session,
                name,
                scopes or ["certificates:verify", "dues:read"],
                secret_box=soap_password_box(self.registry.settings),
                soap=True,
            )
        process_service(self.registry, ClientStatus).invalidate()
        token = self.app.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            headers={"Authorization": _basic(made.client_id, made.client_secret)},
        ).json["access_token"]
        return {
            "client_id": made.client_id,
            "soap_password": made.soap_password,
            "token": token,
            "headers": {"Authorization": f"Bearer {token}"},
        }

    def certificate(
        self,
        *,
        mobile: str | None = None,
        samagra_id: str | None = None,
        name_latin: str = "Kiran Sharma",
        valid_for: timedelta = timedelta(days=90),
        revoked: bool = False,
        issued_days_ago: int = 0,
    ) -> tuple[IssuedDocument, str, str]:
        """(record, verification code, holder mobile): a certificate of a no-dues application."""
        mobile = mobile or "9" + "".join(secrets.choice("0123456789") for _ in range(9))
        samagra_id = samagra_id or "".join(secrets.choice("0123456789") for _ in range(9))
        public_id = "ND-" + secrets.token_hex(6).upper()
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            account = ConsumerAccount(
                public_id="acc-" + secrets.token_hex(6),
                client_id="portal",
                mobile=mobile,
                samagra_id=samagra_id,
            )
            session.add(account)
            session.flush()
            application = NoDuesApplication(
                public_id=public_id,
                client_id="portal",
                account_id=account.id,
                name_deva="किरण शर्मा",
                name_latin=name_latin,
                samagra_id=samagra_id,
                mobile=mobile,
                connections=[],
                purpose={},
                office_code="MPCZ",
                status="approved",
            )
            session.add(application)
            request = replace(
                no_dues_request(valid_for=valid_for),
                subject_type=SUBJECT_TYPE,
                subject_id=public_id,
                holder=Holder(
                    name_deva="किरण शर्मा",
                    name_latin=name_latin,
                    samagra_id=samagra_id,
                    mobile_masked=mask_mobile(mobile),
                ),
            )
            issued: Issued = issue(
                session, self.registry, request, now=utcnow() - timedelta(days=issued_days_ago)
            )
            application.certificate_id = issued.record.id
            if revoked:
                revoke_document(session, issued.record, "officer:dgm-1", "dues found after issue")
        return issued.record, issued.verification_code, mobile

    def drain(self) -> list[DeliveryOutcome]:
        """What hub-worker does, in-process: follow the verification log (holder SMS), deliver the outbox."""
        follow_verification_log(process_service(self.registry, Database).sessions, lambda ids: None)
        return drain_outbox(self.registry, self.engine)

    def sms(self, mobile: str, template: str = "certificate_verified") -> list[Any]:
        return [
            m
            for m in process_service(self.registry, Connectors)["sms"].messages_to(mobile)
            if m.template_name == template
        ]


@pytest.fixture()
def election(live_app: TestApp, live_engine: Engine, hub_url: str) -> Election:
    return Election(live_app, live_engine)
