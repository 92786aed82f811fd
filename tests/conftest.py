"""Test harness: a real, migrated database and the real WSGI app.

The database is SQLite by default and PostgreSQL when ``HUB_TEST_DATABASE``
is ``postgresql`` (``make test`` runs both; in CI the PostgreSQL run is
mandatory). Each test session gets its own SQLite file or its own PostgreSQL
schema, migrated once with Alembic; each test runs in a transaction that is
rolled back at the end (SAVEPOINTs let the code under test commit).
Tests that need real commits seen by other processes (the worker, a threaded
server) use ``committed_engine`` and clean up after themselves.

The reference backends (the simulated outside systems) keep their own store,
as in development: a second SQLite file, or a second PostgreSQL schema, never
the hub's database. ``reference_engine`` / ``live_reference_engine`` are the
app's own engines on it.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import transaction
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from webtest import TestApp

warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

from hub import main  # noqa: E402
from hub.api import ClientStatus  # noqa: E402
from hub.crypto import soap_password_box  # noqa: E402
from hub.db import make_engine  # noqa: E402
from hub.lookup import process_service  # noqa: E402
from hub.migrate import upgrade  # noqa: E402
from hub.systems import ReferenceStore  # noqa: E402

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def database_kind() -> str:
    return os.environ.get("HUB_TEST_DATABASE", "sqlite")


def _scratch_database(prefix: str, tmp_path_factory: pytest.TempPathFactory, filename: str) -> Iterator[str]:
    """A URL of an empty database: a fresh PostgreSQL schema (dropped after) or a new SQLite file."""
    if database_kind() == "postgresql":
        schema = prefix + secrets.token_hex(6)
        admin = make_engine(POSTGRES_URL, pool_size=1)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        # libpq "options" sets search_path for every connection of the session.
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / filename)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _scratch_database("t_", tmp_path_factory, "hub.sqlite")


@pytest.fixture(scope="session")
def reference_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference backends' own store (not the hub's database); they create its tables."""
    yield from _scratch_database("r_", tmp_path_factory, "reference.sqlite")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url, pool_size=4)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def base_settings(
    database_url: str, reference_database_url: str, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("var")
    return {
        "hub.database_url": database_url,
        "hub.reference.database_url": reference_database_url,
        "hub.secret_key": "test-secret-key",
        "hub.keys_dir": str(keys_dir),
        "hub.queue.sqlite_path": str(var / "queue.sqlite"),
        "hub.public_url": "http://hub.test",
        "hub.oauth.issuer": "http://hub.test",
        "hub.log_json": "false",
        # Counters on their own connection would wait on the test's open
        # SQLite write transaction; Redis is real and shared, as in production.
        "hub.ratelimit.redis_url": "redis://127.0.0.1:6379/15",
    }


# Connectors wired into the test app (reference backends; real clients are
# tested against fake servers in tests/connectors).
CONNECTOR_SETTINGS: dict[str, str] = {
    "hub.billing.backend": "connectors.billing.reference:ReferenceBilling",
    "hub.kyc.backend": "connectors.kyc.reference:ReferenceKyc",
    "hub.samagra.backend": "connectors.samagra.reference:ReferenceSamagra",
    "hub.payment.backend": "connectors.payment.reference:ReferencePayment",
    "hub.payment.callback_secret": "test-payment-callback-secret",
    "hub.bbps.backend": "connectors.bbps.reference:ReferenceBbps",
    "hub.citizen_portal.backend": "connectors.citizen_portal.reference:ReferencePortal",
    "hub.headend.backend": "connectors.headend.reference:ReferenceHeadEnd",
    "hub.headend.notification_secret": "test-headend-notification-secret",
    "hub.meters.notification_secret": "test-headend-notification-secret",
    "hub.singlewindow.backend": "connectors.singlewindow.reference:ReferenceSingleWindow",
    "hub.dbt.backend": "connectors.dbt.reference:ReferenceDbt",
    "hub.network.backend": "connectors.network.reference:ReferenceNetwork",
    "hub.meterdata.backend": "connectors.meterdata.reference:ReferenceMeterData",
    "hub.sms.backend": "connectors.sms.reference:ReferenceSms",
    "hub.sms.sender_id": "MPCZED",
    "hub.sms.entity_id": "1101000000000000001",
    "hub.sms.template.otp.id": "1107000000000000001",
    "hub.sms.template.nodues_issued.id": "1107000000000000002",
    "hub.sms.template.nodues_decided.id": "1107000000000000003",
    "hub.sms.template.certificate_verified.id": "1107000000000000004",
    "hub.sms.template.connection_status.id": "1107000000000000005",
    "hub.sms.template.certificate_revoked.id": "1107000000000000006",
    "hub.sms.template.payment_receipt.id": "1107000000000000007",
    "hub.sms.template.meter_reconnected.id": "1107000000000000008",
    "hub.sms.template.complaint_registered.id": "1107000000000000021",
    "hub.sms.template.complaint_update.id": "1107000000000000022",
    "hub.sms.template.complaint_resolved.id": "1107000000000000023",
    "hub.sms.template.complaint_compensation.id": "1107000000000000024",
    "hub.sms.template.correction_proposed.id": "1107000000000000051",
    "hub.sms.template.correction_update.id": "1107000000000000052",
    "hub.sms.template.correction_decided.id": "1107000000000000053",
    "hub.sms.template.correction_credited.id": "1107000000000000054",
}


def _available_connectors(settings: dict[str, Any]) -> dict[str, Any]:
    """Drop connector settings whose module is not importable yet (built in parallel)."""
    import importlib

    kept = dict(settings)
    for key, value in settings.items():
        if key.endswith(".backend"):
            module = value.split(":")[0]
            try:
                importlib.import_module(module)
            except ImportError:
                prefix = key[: -len("backend")]
                for k in list(kept):
                    if k.startswith(prefix):
                        kept.pop(k)
    return kept


@pytest.fixture(scope="session")
def app_settings(base_settings: dict[str, Any]) -> dict[str, Any]:
    return _available_connectors({**base_settings, **CONNECTOR_SETTINGS})


@pytest.fixture(scope="session")
def wsgi_app(engine: Engine, app_settings: dict[str, Any]) -> Any:
    return main({}, **app_settings, **{"hub.test_engine": engine})


@pytest.fixture(scope="session")
def reference_engine(reference_database_url: str) -> Iterator[Engine]:
    """An engine on the test app's reference store: switch a system down, read what it received."""
    from connectors.reference_db import open_reference_store

    engine = open_reference_store(reference_database_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection in an outer transaction, rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    if outer.is_active:
        outer.rollback()
    conn.close()


@pytest.fixture()
def dbsession(connection: Connection) -> Iterator[Session]:
    """The test's own session, on the test's connection: set up data and inspect results.

    It is not joined to any transaction manager and works directly in the
    outer transaction (its ``commit`` only flushes), so its work never
    interleaves with the SAVEPOINTs each request opens. It sees what the app
    wrote in earlier requests (same connection).
    """
    session = Session(bind=connection, join_transaction_mode="rollback_only", expire_on_commit=False)
    yield session
    session.close()


@pytest.fixture()
def app_session(connection: Connection, tm: transaction.TransactionManager) -> Iterator[Session]:
    """The session the app uses in each request, joined to ``tm`` as pyramid_tm would."""
    from hub.db import join_manager

    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    join_manager(session, tm, keep_session=True)
    yield session
    session.close()


@pytest.fixture()
def tm() -> Iterator[transaction.TransactionManager]:
    manager = transaction.TransactionManager(explicit=True)
    yield manager


@pytest.fixture()
def testapp(wsgi_app: Any, app_session: Session, tm: transaction.TransactionManager) -> TestApp:
    """The real app, pyramid_tm and all; everything is rolled back after the test."""
    return TestApp(wsgi_app, extra_environ={"hub.dbsession": app_session, "tm.manager": tm})


@pytest.fixture()
def make_client(testapp: TestApp, dbsession: Session) -> Any:
    """Create a partner client and return ``(client_id, secret, token_for(scopes))``."""
    from hub.auth.clients import create_client

    def factory(scopes: list[str], purposes: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        created = create_client(
            dbsession,
            "test client",
            scopes,
            purposes or [],
            secret_box=soap_password_box(testapp.app.registry.settings),
            **kwargs,
        )
        dbsession.flush()
        response = testapp.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            headers={"Authorization": _basic(created.client_id, created.client_secret)},
        )
        token = response.json["access_token"]
        return {
            "client_id": created.client_id,
            "client_secret": created.client_secret,
            "soap_password": created.soap_password,
            "token": token,
            "headers": {"Authorization": f"Bearer {token}"},
        }

    return factory


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="session")
def committed_engine(engine: Engine) -> Engine:
    """The migrated engine for tests whose writes must really commit (other processes read them)."""
    return engine


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "postgresql_only" in item.keywords and database_kind() != "postgresql":
            item.add_marker(
                pytest.mark.skip(reason="PostgreSQL-only behaviour; run with HUB_TEST_DATABASE=postgresql")
            )


# -- live mode: real commits, for flows that cross processes or outside systems ------------
#
# The rollback harness above keeps each test in one transaction. Flows that
# involve the reference systems (which commit on their own connections, as
# outside systems do), the worker, or threads need real commits instead: a
# module gets its own database (a copy of a migrated SQLite template, or a
# fresh PostgreSQL schema) and the app runs with pyramid_tm exactly as served.


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    upgrade("sqlite:///" + str(path))
    return path


@pytest.fixture(scope="module")
def live_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if database_kind() == "postgresql":
        schema = "l_" + secrets.token_hex(6)
        admin = make_engine(POSTGRES_URL, pool_size=1)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        upgrade(url)
        yield url
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    else:
        import shutil

        template = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("live") / "hub.sqlite"
        shutil.copyfile(template, path)
        yield "sqlite:///" + str(path)


@pytest.fixture(scope="module")
def live_reference_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A module's own reference store, empty (demo data is loaded by the modules that need it)."""
    yield from _scratch_database("lr_", tmp_path_factory, "reference.sqlite")


@pytest.fixture(scope="module")
def live_engine(live_database_url: str) -> Iterator[Engine]:
    engine = make_engine(live_database_url, pool_size=4)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def live_settings(
    live_database_url: str, live_reference_url: str, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("livevar")
    return {
        "hub.database_url": live_database_url,
        "hub.reference.database_url": live_reference_url,
        "hub.secret_key": "test-secret-key",
        "hub.keys_dir": str(keys_dir),
        "hub.queue.sqlite_path": str(var / "queue.sqlite"),
        "hub.public_url": "http://hub.test",
        "hub.oauth.issuer": "http://hub.test",
        "hub.log_json": "false",
        **CONNECTOR_SETTINGS,
    }


@pytest.fixture(scope="module")
def live_wsgi_app(live_engine: Engine, live_settings: dict[str, Any]) -> Any:
    return main({}, **live_settings, **{"hub.test_engine": live_engine})


@pytest.fixture(scope="module")
def live_reference_engine(live_wsgi_app: Any) -> Engine:
    """The live app's engine on its reference store."""
    engine: Engine = process_service(live_wsgi_app.registry, ReferenceStore).engine
    return engine


@pytest.fixture()
def live_app(live_wsgi_app: Any) -> TestApp:
    """The app exactly as served: pyramid_tm commits or aborts each request for real."""
    return TestApp(live_wsgi_app)


@pytest.fixture()
def live_client(live_app: TestApp, live_engine: Engine) -> Any:
    """Create (committed) a partner client; returns the same dict as ``make_client``."""
    from hub.auth.clients import create_client

    def factory(scopes: list[str], purposes: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        with Session(live_engine) as session, session.begin():
            created = create_client(
                session,
                "live client",
                scopes,
                purposes or [],
                secret_box=soap_password_box(live_app.app.registry.settings),
                **kwargs,
            )
        process_service(live_app.app.registry, ClientStatus).invalidate()
        token = live_app.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            headers={"Authorization": _basic(created.client_id, created.client_secret)},
        ).json["access_token"]
        return {
            "client_id": created.client_id,
            "client_secret": created.client_secret,
            "soap_password": created.soap_password,
            "token": token,
            "headers": {"Authorization": f"Bearer {token}"},
        }

    return factory
