"""The disconnected smart-meter consumer pays the dues on the gateway's page, as a payer does, and the
power comes back with no office visit: the gateway's webhook reaches the bills channel, hub-worker posts
the payment to billing, commands the head-end once, the head-end's signed notification comes back, and
the consumer gets an SMS."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.demo import PERSONAS
from tests.e2e.conftest import ServedHub, until

PERSONA = PERSONAS["disconnected_smart"]
CONSUMER = PERSONA.consumer_numbers[0]
METER = "DEMO" + CONSUMER


def test_paying_the_dues_online_switches_the_disconnected_meter_back_on(
    served_hub: ServedHub, page: Any
) -> None:
    portal = served_hub.client("discom-portal-e2e", "bills:fetch bills:pay meters:read")
    headers = portal["headers"]

    bill = httpx.get(f"{served_hub.url}/api/v1/bills/{CONSUMER}", headers=headers, timeout=10)
    assert bill.status_code == 200, bill.text
    due = bill.json()
    assert due["status"] == "amount_due", due
    assert served_hub.reference_sql("SELECT relay FROM ref_hes_meter WHERE meter_no = :m", m=METER) == [
        ("disconnected",)
    ]
    sms_before = served_hub.reference_sql(
        "SELECT COALESCE(MAX(id), 0) FROM ref_sms_message WHERE mobile = :m", m=PERSONA.mobile
    )[0][0]

    order = httpx.post(
        f"{served_hub.url}/api/v1/bills/{CONSUMER}/payment-orders", headers=headers, timeout=10
    )
    assert order.status_code in (200, 201), order.text
    payment_url = order.json()["payment_url"]
    assert payment_url.startswith(served_hub.url + "/reference/pay/")

    page.goto(payment_url)
    page.screens.shot("bill-checkout")
    page.get_by_role("button", name="Pay", exact=False).first.click()
    page.wait_for_selector("#webhook")
    page.screens.shot("bill-paid")
    assert "HTTP 20" in page.inner_text("#webhook")

    def executed() -> dict[str, Any] | None:
        answer = httpx.get(
            f"{served_hub.url}/api/v1/meters/reconnections/{CONSUMER}", headers=headers, timeout=10
        ).json()
        done = [c for c in answer["commands"] if c["action"] == "connect" and c["status"] == "executed"]
        return done[0] if done else None

    command = until("the reconnect command executed", executed)
    assert command["meter_no"] == METER
    assert served_hub.reference_sql("SELECT relay FROM ref_hes_meter WHERE meter_no = :m", m=METER) == [
        ("connected",)
    ]
    # Exactly once: one command at the head-end for this meter, one payment in billing's ledger.
    assert served_hub.reference_sql("SELECT COUNT(*) FROM ref_hes_command WHERE meter_no = :m", m=METER) == [
        (1,)
    ]
    sms = until(
        "the consumer's SMS",
        lambda: served_hub.reference_sql(
            "SELECT template_name FROM ref_sms_message WHERE mobile = :m AND id > :i AND template_name = :t",
            m=PERSONA.mobile,
            i=sms_before,
            t="meter_reconnected",
        ),
    )
    assert len(sms) == 1
    after = httpx.get(f"{served_hub.url}/api/v1/bills/{CONSUMER}", headers=headers, timeout=10).json()
    assert after["status"] == "nothing_due", after
