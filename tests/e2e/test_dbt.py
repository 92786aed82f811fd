"""A DBT scheme pulls KYC on the served default: the person consents through the portal, the scheme looks
up and exports, under the field policy the operator set."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from connectors.demo import PERSONAS
from tests.e2e.conftest import ServedHub

SCHEME = "ladli-behna"
PERSON = PERSONAS["clean"]
CONSUMER = PERSON.connections[0].consumer_number


def _otp_sent_to(hub: ServedHub, mobile: str, after_id: int) -> tuple[int, str]:
    """The person reads the OTP on their phone: the reference SMS gateway's message."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = hub.reference_sql(
            "SELECT id, text FROM ref_sms_message WHERE mobile = :m AND id > :i ORDER BY id DESC",
            m=mobile,
            i=after_id,
        )
        for row_id, text in rows:
            found = re.search(r"\b(\d{6})\b", text)
            if found:
                return int(row_id), found.group(1)
        time.sleep(0.3)
    raise AssertionError(f"no OTP reached {mobile}")


def _last_sms_id(hub: ServedHub) -> int:
    return int(hub.reference_sql("SELECT COALESCE(MAX(id), 0) FROM ref_sms_message")[0][0])


def test_a_scheme_gets_consented_kyc_and_only_the_fields_its_policy_allows(served_hub: ServedHub) -> None:
    scheme = served_hub.client("Ladli Behna DBT", "kyc:read kyc:export", "--purposes", SCHEME)
    served_hub.admin(
        "kyc", "policy", "set", "--client", scheme["client_id"], "--purpose", SCHEME,
        "--fields", "consumer_number,holder_name_hi,kyc_status",
    )  # fmt: skip
    portal = served_hub.client("Discom portal", "kyc:consent")
    served_hub.admin("kyc", "sync")

    def lookup() -> dict[str, Any]:
        answer = httpx.post(
            f"{served_hub.url}/api/v1/kyc/records/lookup",
            json={"purpose": SCHEME, "consumer_numbers": [CONSUMER]},
            headers=scheme["headers"],
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        item: dict[str, Any] = answer.json()["items"][0]
        return item

    assert lookup()["status"] == "no_consent"

    before = _last_sms_id(served_hub)
    asked = httpx.post(
        f"{served_hub.url}/api/v1/kyc/consents/otp",
        json={"samagra_id": PERSON.samagra_id, "purpose": SCHEME},
        headers=portal["headers"],
        timeout=30,
    )
    assert asked.status_code == 202, asked.text
    _, otp = _otp_sent_to(served_hub, PERSON.mobile, before)
    given = httpx.post(
        f"{served_hub.url}/api/v1/kyc/consents",
        json={
            "samagra_id": PERSON.samagra_id,
            "purpose": SCHEME,
            "challenge_id": asked.json()["challenge_id"],
            "otp": otp,
        },
        headers=portal["headers"],
        timeout=30,
    )
    assert given.status_code in (200, 201), given.text

    found = lookup()
    assert found["status"] == "found", found
    assert found["record"] == {
        "consumer_number": CONSUMER,
        "holder_name_hi": PERSON.name_hi,
        "kyc_status": "complete",
    }

    exported = httpx.get(
        f"{served_hub.url}/api/v1/kyc/export",
        params={"purpose": SCHEME},
        headers=scheme["headers"],
        timeout=60,
    )
    assert exported.status_code == 200, exported.text
    lines = [json.loads(line) for line in exported.text.splitlines()]
    records = [line for line in lines if "consumer_number" in line]
    assert [r["consumer_number"] for r in records] == [CONSUMER]
    assert set(records[0]) == {"consumer_number", "holder_name_hi", "kyc_status"}
