"""The WhatsApp channel's tests run the app as served (real commits): the reference Cloud API,
billing's demo consumers, the outbox delivered in-process as hub-worker would."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from webtest import TestApp

from connectors.whatsapp.reference import ReferenceWhatsApp, clear_behaviours
from connectors.whatsapp.wire import SIGNATURE_HEADER, message_webhook, sign, text_entry
from hub.models import (
    OutboxMessage,
    WhatsAppBillRun,
    WhatsAppInbound,
    WhatsAppMedia,
    WhatsAppNumber,
    WhatsAppOutbound,
    WhatsAppSubscription,
)
from tests.hub.outbox_drain import drain_outbox

APP_SECRET = "test-whatsapp-app-secret"
VERIFY_TOKEN = "test-whatsapp-verify-token"
PHONE_NUMBER_ID = "106540352242922"

WHATSAPP_SETTINGS = {
    "hub.whatsapp.backend": "connectors.whatsapp.reference:ReferenceWhatsApp",
    "hub.whatsapp.phone_number_id": PHONE_NUMBER_ID,
    "hub.whatsapp.app_secret": APP_SECRET,
    "hub.whatsapp.verify_token": VERIFY_TOKEN,
    "hub.whatsapp.conversation": "tests.hub.whatsapp.conversation:converse",
    "hub.whatsapp.inbound_per_minute": "20",
    "hub.whatsapp.bill_page_size": "3",
    "hub.whatsapp.messages_per_second": "1000",
    "hub.whatsapp.template.bill.name": "mpcz_monthly_bill",
    "hub.whatsapp.template.bill.language": "hi",
    "hub.whatsapp.template.bill.parameters": "5",
    "hub.whatsapp.template.bill.document": "true",
    "hub.whatsapp.template.bill.sms": "whatsapp_bill",
    "hub.whatsapp.template.bill.sms_text": "MPCZ bill {2} for {1}: Rs {3} due {4}. Details: portal.mpcz.in",
    "hub.whatsapp.template.notice.name": "mpcz_notice",
    "hub.whatsapp.template.notice.language": "hi",
    "hub.whatsapp.template.notice.parameters": "1",
    "hub.whatsapp.template.notice.sms": "whatsapp_notice",
    "hub.whatsapp.template.notice.sms_text": "{0}",
    "hub.sms.template.whatsapp_bill.id": "1107000000000000031",
    "hub.sms.template.whatsapp_notice.id": "1107000000000000032",
}


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    return {**live_settings, **WHATSAPP_SETTINGS}


_ids = itertools.count(1)


def wamid() -> str:
    return f"wamid.TEST{datetime.now(UTC).strftime('%H%M%S%f')}{next(_ids):06d}"


class Channel:
    """Plays the platform: posts signed webhooks, delivers the outbox, reads what was sent."""

    def __init__(self, app: TestApp, engine: Engine, wa: ReferenceWhatsApp) -> None:
        self.app = app
        self.engine = engine
        self.wa = wa

    def post(
        self, body: bytes, secret: str = APP_SECRET, status: int = 200, signature: str | None = None
    ) -> Any:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature or sign(secret, body)}
        return self.app.post("/whatsapp/webhook", body, headers=headers, status=status)

    def say(self, wa_id: str, text: str, message_id: str | None = None) -> Any:
        entry = text_entry(wa_id, message_id or wamid(), text, datetime.now(UTC))
        return self.post(message_webhook(PHONE_NUMBER_ID, [entry]))

    def tap(self, wa_id: str, choice: str, title: str = "x") -> Any:
        entry = {
            "from": wa_id,
            "id": wamid(),
            "timestamp": str(int(datetime.now(UTC).timestamp())),
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": choice, "title": title}},
        }
        return self.post(message_webhook(PHONE_NUMBER_ID, [entry]))

    def work(self) -> None:
        drain_outbox(self.app.app.registry, self.engine)

    def statuses(self, steps: int = 3) -> Any:
        """The platform's next status webhook for everything sent, posted signed."""
        body = self.wa.take_status_webhook(limit=10_000, steps=steps)
        return self.post(body).json if body is not None else None

    def sent_to(self, wa_id: str) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.wa.messages_to(wa_id)]


@pytest.fixture()
def channel(live_app: TestApp, live_engine: Engine, live_reference_engine: Engine) -> Iterator[Channel]:
    from connectors.demo import generate_demo_data
    from connectors.reference_db import set_down
    from connectors.sms.reference import RefSmsMessage
    from connectors.whatsapp.reference import RefWhatsAppMedia, RefWhatsAppMessage
    from hub.lookup import process_service
    from hub.systems import Connectors

    generate_demo_data(live_reference_engine, consumers=20, seed=1, replace=True)
    with live_reference_engine.begin() as conn:
        for table in (RefWhatsAppMessage, RefWhatsAppMedia, RefSmsMessage):
            conn.execute(delete(table))
    clear_behaviours(live_reference_engine)
    set_down(live_reference_engine, "whatsapp", False)
    with live_engine.begin() as conn:
        for model in (
            OutboxMessage,
            WhatsAppOutbound,
            WhatsAppInbound,
            WhatsAppMedia,
            WhatsAppBillRun,
            WhatsAppSubscription,
            WhatsAppNumber,
        ):
            conn.execute(delete(model))
    wa: ReferenceWhatsApp = process_service(live_app.app.registry, Connectors)["whatsapp"]
    wa.forget_behaviours()
    yield Channel(live_app, live_engine, wa)
    clear_behaviours(live_reference_engine)
    wa.forget_behaviours()
