"""The disconnection and reconnection charges are part of what must be cleared before a meter is
switched back on: paid through the bills channels, posted by hub-worker, commanded once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.headend import RelayState
from hub.models.audit import AuditEntry
from hub.models.bills import BillPayment
from tests.hub.bills.test_documents import pdf_text, qr_codes
from tests.hub.meters.flow import MeterFlow

CHARGES = {"hub.meters.disconnection_charge": "150.00", "hub.meters.reconnection_charge": "200.00"}


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    return {**live_settings, **CHARGES}


class Payer:
    """A bill-payment platform (BBPS) paying for a consumer, as it does over the hub's REST API."""

    def __init__(self, flow: MeterFlow, make_client: Any) -> None:
        self.flow = flow
        self.headers = make_client(["bills:bbps", "bills:portal", "bills:fetch", "bills:pay"])["headers"]

    def bill(self, consumer_number: str) -> dict[str, Any]:
        return dict(self.flow.app.get(f"/api/v1/bills/{consumer_number}", headers=self.headers).json)

    def pay(self, consumer_number: str, amount: str, bill_number: str | None = None) -> BillPayment:
        """Through BBPS (which pays a fetched bill); ``bill_number`` None: through the citizen
        portal, which takes any amount and names no bill."""
        transaction_id = uuid.uuid4().hex[:12].upper()
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        if bill_number is None:
            channel = "portal"
            body: dict[str, Any] = {
                "cs_txn_no": transaction_id,
                "ivrs_no": consumer_number,
                "amount_paise": int(Decimal(amount) * 100),
                "txn_datetime": now,
            }
        else:
            channel = "bbps"
            body = {
                "transaction_id": transaction_id,
                "receipt_id": "R" + transaction_id,
                "consumer_number": consumer_number,
                "bill_number": bill_number,
                "amount": amount,
                "paid_at": now,
            }
        self.flow.app.post_json(f"/api/v1/bills/payments/{channel}", body, headers=self.headers, status=202)
        self.flow.drain()  # posting, then meters.payment_posted
        self.flow.drain()
        with Session(self.flow.engine) as session:
            return session.execute(
                select(BillPayment).where(
                    BillPayment.channel == channel, BillPayment.transaction_id == transaction_id
                )
            ).scalar_one()


@pytest.fixture()
def payer(flow: MeterFlow, live_client: Any) -> Payer:
    return Payer(flow, live_client)


def _withheld(flow: MeterFlow, consumer_number: str) -> list[dict[str, Any]]:
    with Session(flow.engine) as session:
        return [
            dict(entry.data)
            for entry in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.subject_id == consumer_number, AuditEntry.action == "meters.reconnect_withheld"
                )
            )
        ]


def test_paying_the_bill_but_not_the_charges_does_not_reconnect(flow: MeterFlow, payer: Payer) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    fetched = payer.bill(number)["bill"]
    assert fetched["amount"] == "2180.00"  # 1830.00 + 150.00 + 200.00
    bill = payer.pay(number, "1830.00", fetched["bill_number"])  # the bill, not the charges
    assert (bill.state, bill.suspense_reason) == ("posted", None)
    assert flow.commands(number) == [] and flow.headend_commands(meter) == 0
    assert flow.connectors["headend"].meter_state(meter).relay is RelayState.DISCONNECTED
    [withheld] = _withheld(flow, number)
    assert (withheld["dues"], withheld["charges"]) == ("0.00", "350.00")

    # The charges paid on their own afterwards clear what is owed: one command, once.
    assert payer.bill(number)["bill"]["amount"] == "350.00"
    charges = payer.pay(number, "350.00")
    assert (charges.state, charges.suspense_reason) == ("posted", None)
    [command] = flow.commands(number)
    assert command.payment_id == charges.id
    [answer] = flow.deliver_notifications()
    assert answer.json["status"] == "executed"
    assert flow.connectors["headend"].meter_state(meter).relay is RelayState.CONNECTED
    flow.drain()
    assert len(flow.commands(number)) == 1 and flow.headend_commands(meter) == 1


def test_one_payment_of_bill_and_charges_reconnects_exactly_once(flow: MeterFlow, payer: Payer) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    fetched = payer.bill(number)["bill"]
    payment = payer.pay(number, "2180.00", fetched["bill_number"])  # 1830.00 + 150.00 + 200.00
    assert (payment.state, payment.suspense_reason) == ("posted", None)
    [command] = flow.commands(number)
    assert command.payment_id == payment.id
    flow.payment_posted(number, payment.id, "2180.00")  # the same message again
    flow.drain()
    [answer] = flow.deliver_notifications()
    assert answer.json["status"] == "executed"
    assert len(flow.commands(number)) == 1 and flow.headend_commands(meter) == 1
    # Once both are paid nothing is due, and a connection that is not disconnected owes no charges.
    assert payer.bill(number)["status"] == "nothing_due"
    assert payer.pay(number, "1.00").suspense_reason == "nothing_due"
    dues_number, _, _ = flow.persona("dues")
    owed = payer.bill(dues_number)["bill"]
    assert owed["amount"] == "4572.50"  # its bill alone
    extra = str(Decimal(owed["amount"]) + Decimal("350.00"))
    assert payer.pay(dues_number, extra, owed["bill_number"]).suspense_reason == "excess_payment"


def test_the_gateway_order_of_a_disconnected_connection_includes_the_charges(
    flow: MeterFlow, payer: Payer
) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    order = flow.app.post(f"/api/v1/bills/{number}/payment-orders", headers=payer.headers).json
    assert order["amount"] == "2180.00"
    # The payer pays it on the gateway; the webhook brings it, hub-worker posts it and reconnects.
    callback = flow.connectors["payment"].complete_order(order["order_id"])
    flow.app.post(
        "/api/v1/bills/payments/gateway",
        callback.body,
        headers={**callback.headers, "Content-Type": "application/json"},
        status=202,
    )
    flow.drain()
    flow.drain()
    [command] = flow.commands(number)
    with Session(flow.engine) as session:
        payment = session.execute(
            select(BillPayment).where(BillPayment.transaction_id == order["order_id"])
        ).scalar_one()
    assert (payment.state, payment.amount, command.payment_id) == ("posted", Decimal("2180.00"), payment.id)
    assert flow.headend_commands(meter) == 1
    dues_number, _, _ = flow.persona("dues")
    other = flow.app.post(f"/api/v1/bills/{dues_number}/payment-orders", headers=payer.headers).json
    assert other["amount"] == payer.bill(dues_number)["bill"]["amount"]


def test_the_bill_pdf_of_a_disconnected_connection_shows_the_charges_and_its_qr_pays_them(
    flow: MeterFlow, payer: Payer, tmp_path: Path
) -> None:
    number, _, _ = flow.persona("disconnected_smart")
    pdf = flow.app.get(f"/api/v1/bills/{number}/bill.pdf", headers=payer.headers, status=200).body
    text = pdf_text(pdf, tmp_path)
    for english, hindi, amount in (
        ("Disconnection charge (₹)", "विच्छेदन शुल्क (₹)", "150.00"),
        ("Reconnection charge (₹)", "पुनः संयोजन शुल्क (₹)", "200.00"),
        ("Amount due by the due date (₹)", "देय तिथि तक देय राशि (₹)", "2,180.00"),
    ):
        assert english in text and hindi in text and amount in text, english
    [upi] = [code for code in qr_codes(pdf, tmp_path) if code.startswith("upi://pay?")]
    # Paying what the QR asks clears the bill and the charges: the same amount the fetch answers.
    assert "am=2180.00" in upi and payer.bill(number)["bill"]["amount"] == "2180.00"
