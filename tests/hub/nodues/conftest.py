"""Live-mode fixtures for the no-dues flow: reference billing, KYC and SMS, demo personas, an officer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from webtest import TestApp

from tests.hub.nodues.flow import NODUES_SETTINGS, Flow


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    return {**live_settings, **NODUES_SETTINGS}


@pytest.fixture(scope="module")
def demo(live_reference_engine: Engine) -> None:
    from connectors.demo import generate_demo_data

    generate_demo_data(live_reference_engine, consumers=60, seed=1)


@pytest.fixture()
def flow(
    live_app: TestApp, live_engine: Engine, live_reference_engine: Engine, live_client: Any, demo: None
) -> Flow:
    from hub.models.otp import OtpChallenge

    # OTP send limits are per mobile per hour; tests reuse the personas' mobiles.
    with live_engine.begin() as conn:
        conn.execute(delete(OtpChallenge))
    return Flow(live_app, live_engine, live_client, live_reference_engine)
