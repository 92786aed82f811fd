"""A real ``hub-worker`` delivering status callbacks is SIGKILLed mid-delivery and restarted.

From the fake single window's point of view every update arrives exactly once
(it dedupes retries by delivery id) and in order per application. On the
SQLite queue and on Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models.outbox import OutboxMessage
from tests.connectors.fake_singlewindow import FakeSingleWindow
from tests.hub.connections.conftest import Hub
from tests.hub.connections.samples import lt_industrial_form, submission
from tests.hub.test_worker import WorkerProcess, wait_for, write_ini

pytestmark = pytest.mark.slow

REDIS_DB = 12


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def queue_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    if request.param == "redis":
        import redis

        url = f"redis://127.0.0.1:6379/{REDIS_DB}"
        client = redis.Redis.from_url(url)
        client.flushdb()
        yield {"hub.redis_url": url}
        client.flushdb()
        client.close()
    else:
        yield {"hub.queue.sqlite_path": str(tmp_path_factory.mktemp("q") / "queue.sqlite")}


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any], queue_settings: dict[str, str]) -> dict[str, Any]:
    return {**live_settings, **queue_settings}


@pytest.fixture()
def worker(live_settings: dict[str, Any], tmp_path: Path) -> Iterator[WorkerProcess]:
    settings = {k: str(v) for k, v in live_settings.items()} | {"hub.outbox.workers": "2"}
    process = WorkerProcess(write_ini(tmp_path / "worker.ini", settings), tmp_path / "worker.log")
    yield process
    process.stop()


def delivered_rows(hub: Hub) -> tuple[int, int]:
    with Session(hub.engine) as session:
        total = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "singlewindow.status")
        )
        done = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "singlewindow.status", OutboxMessage.status == "delivered")
        )
        return int(total or 0), int(done or 0)


def test_killed_worker_loses_nothing_and_the_portal_sees_each_update_once(
    hub: Hub,
    live_client: Any,
    portal: FakeSingleWindow,
    worker: WorkerProcess,
    queue_settings: dict[str, str],
) -> None:
    client = live_client(["connections:apply"])
    queue = "redis" if "hub.redis_url" in queue_settings else "sqlite"
    ids = [f"SW-KILL-{queue}-{n}" for n in range(5)]
    for sw_id in ids:
        hub.app.post_json(
            "/api/v1/connections/applications",
            submission(sw_id, lt_industrial_form()),
            headers=client["headers"],
            status=201,
        )
        hub.officer(sw_id, "accept_documents", "dc_office_assistant")
        hub.officer(sw_id, "inspection_passed", "dc_assistant_manager")
    expected = len(ids) * 3
    before = len(portal.deliveries)
    portal.slow_seconds = 0.4
    portal.mode = "slow"  # each delivery takes a while: the kill lands in the middle of some
    try:
        worker.start()
        wait_for(lambda: len(portal.deliveries) >= before + 3, worker, "the first deliveries")
        worker.kill()
        assert len(portal.deliveries) < before + expected, "the kill came too late to test anything"
        time.sleep(0.5)  # requests the dead worker had in flight finish at the portal
        worker.start()
        wait_for(lambda: delivered_rows(hub)[1] == delivered_rows(hub)[0], worker, "every message delivered")
    finally:
        portal.mode = "ok"
    for sw_id in ids:
        got = portal.updates_for(sw_id)
        assert [u.status for u in got] == ["document_scrutiny", "site_inspection", "demand_note"]
        assert [u.sequence for u in got] == [1, 2, 3]
    mine = [u for u in portal.deliveries if u.application_id in ids]
    assert len(mine) == expected and len({u.delivery_id for u in mine}) == expected
