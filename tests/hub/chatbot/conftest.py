"""Live-mode fixtures for the chatbot: reference billing and SMS with the demo personas."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.demo import PERSONAS, generate_demo_data
from connectors.reference_db import set_down
from hub.bills.service import BillService
from hub.lookup import process_service
from hub.models import (
    BillPayment,
    BillPaymentOrder,
    ChatConversation,
    ChatMessageSeen,
    Complaint,
    ConnectionApplication,
    ConsumerAccount,
    NoDuesApplication,
    OtpChallenge,
    OutboxMessage,
    PaymentEvent,
)
from hub.models.meta import utcnow
from tests.hub.chatbot.chat import Chat, direct
from tests.hub.outbox_drain import drain_outbox

OTP = re.compile(r"\b([0-9]{6}) is your OTP")


def wa(persona: str) -> str:
    """The persona's registered mobile as a WhatsApp id (91 and the ten digits)."""
    return "91" + PERSONAS[persona].mobile


@dataclass
class Bot:
    app: TestApp
    engine: Engine
    reference: Engine
    make_client: Any

    @property
    def registry(self) -> Any:
        return self.app.app.registry

    def chat(self, wa_id: str, step: timedelta = timedelta(seconds=5)) -> Chat:
        return Chat(direct(self.registry), wa_id, step=step)

    def conversation(self, wa_id: str) -> ChatConversation:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(
                select(ChatConversation).where(ChatConversation.wa_id == wa_id)
            ).scalar_one()

    def otp_sent_to(self, mobile: str) -> str:
        """The code in the newest OTP SMS queued for ``mobile``."""
        with Session(self.engine) as session:
            messages = session.execute(
                select(OutboxMessage).where(OutboxMessage.kind == "sms").order_by(OutboxMessage.id.desc())
            ).scalars()
            for message in messages:
                if message.payload["mobile"] == mobile and message.payload["template"] == "otp":
                    found = OTP.search(message.payload["text"])
                    assert found is not None
                    return found.group(1)
        raise AssertionError(f"no OTP SMS to {mobile}")

    def sms_count(self) -> int:
        with Session(self.engine) as session:
            return len(
                list(session.execute(select(OutboxMessage.id).where(OutboxMessage.kind == "sms")).scalars())
            )

    def complaints(self, consumer_number: str | None = None) -> list[Complaint]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(Complaint).order_by(Complaint.id)
            if consumer_number is not None:
                query = query.where(Complaint.consumer_number == consumer_number)
            return list(session.execute(query).scalars())

    def billing_down(self, down: bool = True) -> None:
        set_down(self.reference, "billing", down)

    def pay_by_bbps(self, consumer_number: str, amount: str, transaction_id: str) -> BillPayment:
        """A payment as a bill-payment platform reports it, posted to billing and receipted by the worker."""
        headers = self.make_client(["bills:bbps"])["headers"]
        bill = process_service(self.registry, BillService).current_bill(consumer_number)
        body = {
            "transaction_id": transaction_id,
            "receipt_id": "R" + transaction_id,
            "consumer_number": consumer_number,
            "bill_number": bill.bill_number,
            "amount": amount,
            "paid_at": (utcnow() - timedelta(minutes=5)).isoformat(),
        }
        self.app.post_json("/api/v1/bills/payments/bbps", body, headers=headers, status=202)
        drain_outbox(self.registry, self.engine)
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(
                select(BillPayment).where(BillPayment.transaction_id == transaction_id)
            ).scalar_one()

    def nodues_application(self, mobile: str, public_id: str, status: str, connections: list[str]) -> None:
        """A no-dues application as the no-dues flow records it (the chatbot only reads it)."""
        with Session(self.engine) as session, session.begin():
            account = ConsumerAccount(public_id="acc-" + public_id, client_id="portal", mobile=mobile)
            session.add(account)
            session.flush()
            session.add(
                NoDuesApplication(
                    public_id=public_id,
                    client_id="portal",
                    account_id=account.id,
                    samagra_id="900000011",
                    mobile=mobile,
                    connections=connections,
                    office_code="DC-101",
                    status=status,
                )
            )

    def connection_application(self, mobile: str, application_no: str, status: str) -> None:
        """A new-connection application as the connections flow records it."""
        with Session(self.engine) as session, session.begin():
            session.add(
                ConnectionApplication(
                    application_no=application_no,
                    sw_application_id="SW-" + application_no,
                    payload_sha256="0" * 64,
                    form_version=2,
                    form_data={},
                    acknowledgement={},
                    submitted_by="singlewindow",
                    channel="rest",
                    enterprise_name="Gupta Flour Mill",
                    mobile=mobile,
                    district="Bhopal",
                    area_class="urban",
                    office_code="DC-101",
                    category="LV4",
                    connected_load_kw=Decimal("15.000"),
                    supply_voltage="LT",
                    status=status,
                    statutory_days=15,
                )
            )


@pytest.fixture()
def bot(live_app: TestApp, live_engine: Engine, live_reference_engine: Engine, live_client: Any) -> Bot:
    from connectors.sms.reference import RefSmsMessage

    generate_demo_data(live_reference_engine, consumers=30, seed=1, replace=True)
    with live_reference_engine.begin() as conn:
        conn.execute(delete(RefSmsMessage))
    with live_engine.begin() as conn:
        for table in (
            ChatMessageSeen,
            ChatConversation,
            OutboxMessage,
            BillPayment,
            BillPaymentOrder,
            PaymentEvent,
            NoDuesApplication,
            ConsumerAccount,
            ConnectionApplication,
            OtpChallenge,
        ):
            conn.execute(delete(table))
    set_down(live_reference_engine, "billing", False)
    return Bot(live_app, live_engine, live_reference_engine, live_client)
