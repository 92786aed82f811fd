"""The real KYC client (connectors.kyc.rest.RestKyc, httpx, explicit timeouts) syncing the hub from a fake server.

Reuses the connector helper's fake REST KYC service (tests/connectors/test_kyc_rest.py)
on 127.0.0.1, with its failure modes: 500s, HTML garbage, slow answers, refused connections.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from connectors.base import ConnectorContext, load_connector
from connectors.errors import ConnectorUnavailable
from connectors.kyc.rest import RestKyc
from hub.db import standalone_registry
from hub.kyc.sync import STATE_NAME, sync_kyc
from hub.kycstore import bank_box
from hub.lookup import registered
from hub.models.kyc import ConnectionKyc, KycChange, KycSyncState
from hub.periodic import PeriodicJobs
from tests.connectors.fakehttp import FakeServer
from tests.connectors.test_kyc_rest import FakeKyc, _record

SECRET = "test-secret-key"


@pytest.fixture()
def fake(live_engine: Engine) -> Iterator[tuple[FakeServer, FakeKyc]]:
    # Each test's fake starts its change log afresh: so does the hub's position in it.
    with Session(live_engine) as session, session.begin():
        session.execute(delete(KycSyncState))
    data = FakeKyc()
    with FakeServer(data) as server:
        server.slow_seconds = 3.0
        yield server, data


def rest_kyc(url: str, engine: Engine) -> RestKyc:
    context = ConnectorContext(
        "kyc",
        {
            "backend": "connectors.kyc.rest:RestKyc",
            "url": url,
            "read_timeout": "0.5",
            "connect_timeout": "0.5",
        },
        engine,
    )
    client = load_connector(context.options["backend"], context)
    assert isinstance(client, RestKyc)
    return client


def _rows(engine: Engine) -> dict[str, ConnectionKyc]:
    with Session(engine) as session:
        return {r.consumer_number: r for r in session.execute(select(ConnectionKyc)).scalars()}


def _feed(engine: Engine, number: str) -> list[str]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(KycChange.kind).where(KycChange.consumer_number == number).order_by(KycChange.id)
            ).scalars()
        )


def _cursor(engine: Engine) -> str | None:
    with Session(engine) as session:
        state = session.get(KycSyncState, STATE_NAME)
        return None if state is None else state.cursor


def test_sync_pages_errors_and_slow_answers(
    fake: tuple[FakeServer, FakeKyc], live_engine: Engine, live_wsgi_app: Any
) -> None:
    server, data = fake
    kyc = rest_kyc(server.url, live_engine)
    result = sync_kyc(standalone_registry(live_engine), kyc, page_size=2, secret_key=SECRET)
    assert result.caught_up and result.records == 3 and result.pages == 3
    rows = _rows(live_engine)
    assert set(rows) >= {"1019990020", "1019990038", "1019990053"}
    assert rows["1019990020"].holder_name_hi == "सुनीता देवी वर्मा"
    assert rows["1019990020"].source == "sync" and rows["1019990020"].origin == "ekyc"
    assert bank_box(SECRET).decrypt(rows["1019990020"].bank_account_enc or "") == "50100234567812"
    assert _feed(live_engine, "1019990020") == ["kyc_new"]
    synced_to = _cursor(live_engine)

    # The KYC system fails in each way it can: the sync stops, nothing half-applied, cursor kept.
    data.put(_record("1019990020", bank_account="60200000111122", updated_at="2026-11-01T00:00:00+00:00"))
    for mode in ("error", "garbage", "slow"):
        server.mode = mode
        started = time.monotonic()
        with pytest.raises(ConnectorUnavailable):
            sync_kyc(standalone_registry(live_engine), kyc, secret_key=SECRET)
        assert time.monotonic() - started < 2.5  # the client's read timeout, not the server's delay
        assert _cursor(live_engine) == synced_to
    server.mode = "ok"
    server.down()
    with pytest.raises(ConnectorUnavailable):
        sync_kyc(standalone_registry(live_engine), kyc, secret_key=SECRET)
    server.up()

    # Back up: exactly the new change arrives, as a changed bank account.
    result = sync_kyc(standalone_registry(live_engine), kyc, secret_key=SECRET)
    assert result.records == 1 and result.caught_up
    assert _feed(live_engine, "1019990020") == ["kyc_new", "bank_account_changed"]
    assert (
        bank_box(SECRET).decrypt(_rows(live_engine)["1019990020"].bank_account_enc or "") == "60200000111122"
    )
    # Caught up: a run finds nothing and changes nothing.
    assert sync_kyc(standalone_registry(live_engine), kyc, secret_key=SECRET).records == 0


def test_aadhaar_from_the_source_goes_nowhere(fake: tuple[FakeServer, FakeKyc], live_engine: Engine) -> None:
    server, data = fake
    kyc = rest_kyc(server.url, live_engine)
    # The fake's e-KYC answer carries an "aadhaar" field the contract does not know.
    assert kyc.submit_ekyc("1019990053", "900000041").accepted
    sync_kyc(standalone_registry(live_engine), kyc, secret_key=SECRET)
    with live_engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM kyc_records")) for v in row)
    assert "999988887777" not in dump
    assert _rows(live_engine)["1019990053"].status == "complete"


def test_the_worker_job_and_the_admin_command(
    fake: tuple[FakeServer, FakeKyc], live_engine: Engine, live_settings: dict[str, Any], tmp_path: Path
) -> None:
    from hub import main
    from hub.cli import main as hub_admin

    server, data = fake
    settings = {**live_settings, "hub.kyc.backend": "connectors.kyc.rest:RestKyc", "hub.kyc.url": server.url}
    app = main({}, **settings, **{"hub.test_engine": live_engine})
    jobs = {job.name: job for job in registered(app.registry, PeriodicJobs)}
    data.put(_record("1019990079", samagra_id="900000051", updated_at="2026-11-20T00:00:00+00:00"))
    jobs["kyc.sync"].run()  # type: ignore[operator]
    assert "1019990079" in _rows(live_engine)

    data.put(_record("1019990087", samagra_id="900000051", updated_at="2026-11-21T00:00:00+00:00"))
    ini = tmp_path / "hub.ini"
    lines = ["[app:main]", "use = egg:discom-hub"]
    lines += [f"{k} = {v.replace('%', '%%')}" for k, v in settings.items() if isinstance(v, str)]
    ini.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert hub_admin([str(ini), "kyc", "sync", "--page-size", "1"]) == 0
    assert "1019990087" in _rows(live_engine)
    server.mode = "error"
    assert hub_admin([str(ini), "kyc", "sync"]) == 1
