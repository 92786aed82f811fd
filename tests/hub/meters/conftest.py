"""Live-mode fixtures for smart-meter reconnection: demo personas in billing and the head-end."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from webtest import TestApp

from tests.hub.meters.flow import METER_SETTINGS, MeterFlow


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    return {**live_settings, **METER_SETTINGS}


@pytest.fixture()
def flow(
    live_app: TestApp, live_engine: Engine, live_reference_engine: Engine, live_client: Any
) -> MeterFlow:
    from connectors.demo import generate_demo_data
    from connectors.headend.tables import RefHesCommand
    from connectors.reference_db import set_down
    from connectors.sms.reference import RefSmsMessage
    from hub.models.meter import MeterCommand
    from hub.models.outbox import OutboxMessage

    # Every test starts from the personas as documented: fresh demo data, no commands.
    generate_demo_data(live_reference_engine, consumers=20, seed=1, replace=True)
    with live_reference_engine.begin() as conn:
        conn.execute(delete(RefHesCommand))
        conn.execute(delete(RefSmsMessage))
    with live_engine.begin() as conn:
        conn.execute(delete(MeterCommand))
        conn.execute(delete(OutboxMessage))  # an earlier test's undelivered SMS is not this one's
    set_down(live_reference_engine, "headend", False)
    return MeterFlow(live_app, live_engine, live_reference_engine, live_client)
