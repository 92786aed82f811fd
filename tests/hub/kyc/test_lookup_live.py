"""getKycRecords as served on the default setup: real commits, rate and quota counters in the database.

The rolled-back harness keeps counters in Redis; here nothing does, as with `make run`.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.kyc.policy import set_policy
from tests.hub.kyc.kycdata import SCHEME, add_records, give_consent, kyc_record

LOOKUP = "/api/v1/kyc/records/lookup"


@pytest.fixture(scope="module")
def consenting(live_wsgi_app: Any, live_engine: Engine) -> list[str]:
    numbers = [f"10400{i:05d}" for i in range(3)]
    with Session(live_engine) as session, session.begin():
        for i, number in enumerate(numbers):
            add_records(session, kyc_record(number, f"92000{i:04d}"))
            give_consent(session, f"92000{i:04d}")
    return numbers


def test_a_consented_lookup_answers_on_database_counters(
    live_app: TestApp, live_client: Any, live_engine: Engine, consenting: list[str]
) -> None:
    assert not live_app.app.registry.settings.get("hub.ratelimit.redis_url")
    client = live_client(["kyc:read"], [SCHEME])
    with Session(live_engine) as session, session.begin():
        set_policy(session, client["client_id"], SCHEME, "consumer_number,kyc_status")
    for _ in range(3):
        answer = live_app.post_json(
            LOOKUP, {"purpose": SCHEME, "consumer_numbers": consenting}, headers=client["headers"]
        )
        assert [item["status"] for item in answer.json["items"]] == ["found"] * 3
