"""Posting at a month-end peak: the worker takes what has queued in one pass, each payment once."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from connectors.billing import PaymentPosting
from connectors.errors import ConnectorRejected, ConnectorUnavailable
from hub.audit import verify_chain
from hub.lookup import process_service, registered
from hub.outbox import OutboxHandlers, deliverer_from_settings
from hub.systems import Connectors
from tests.hub.bills.conftest import CLEAN, DISCONNECTED, DUES, UNKNOWN, Bills


class Counted:
    """Billing, counting the calls the worker makes to it by operation."""

    def __init__(self, billing: Any) -> None:
        self.billing = billing
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.billing, name)


class RefusesFor(Counted):
    """Billing that refuses one consumer's posting in a call (and posts the rest)."""

    def __init__(self, billing: Any, consumer_number: str) -> None:
        super().__init__(billing)
        self.consumer_number = consumer_number

    def post_payment_many(self, postings: Sequence[PaymentPosting]) -> dict[str, object]:
        self.calls.append("post_payment_many")
        others = [p for p in postings if p.consumer_number != self.consumer_number]
        answer: dict[str, object] = dict(self.billing.post_payment_many(others))
        for posting in postings:
            if posting.consumer_number == self.consumer_number:
                answer[posting.reference] = ConnectorRejected(
                    "billing: rejected (reference_conflict)", system="billing", code="reference_conflict"
                )
        return answer


def test_a_peak_is_posted_in_one_pass_and_a_failure_is_retried_alone(bills: Bills) -> None:
    payers = {"PEAK-1": DUES, "PEAK-2": DISCONNECTED, "PEAK-3": UNKNOWN, "PEAK-4": CLEAN}
    for transaction_id, consumer_number in payers.items():
        bills.portal_payment(transaction_id, consumer_number)
    message_of = {int(m.payload["payment_id"]): m.id for m in bills.messages("bills.post_payment")}
    payment = {t: bills.payment("portal", t).id for t in payers}
    registry = bills.app.app.registry
    connectors = dict(process_service(registry, Connectors))
    billing = connectors["billing"] = RefusesFor(connectors["billing"], DISCONNECTED)
    worker = deliverer_from_settings(
        registry.settings, bills.engine, connectors, registered(registry, OutboxHandlers)
    )
    # Woken for the first payment, the worker takes the others that queued behind it, and asks
    # billing once for their bills and once to post them.
    outcomes = {o.id: o.result for o in worker.deliver([message_of[payment["PEAK-1"]]])}
    assert billing.calls == ["current_bills_many", "post_payment_many"]
    assert outcomes == {
        message_of[payment["PEAK-1"]]: "delivered",
        message_of[payment["PEAK-2"]]: "retry",
        message_of[payment["PEAK-3"]]: "delivered",
        message_of[payment["PEAK-4"]]: "delivered",
    }
    states = {
        t: (bills.payment("portal", t).state, bills.payment("portal", t).suspense_reason) for t in payers
    }
    assert states == {
        "PEAK-1": ("posted", None),
        "PEAK-2": ("posting", None),
        "PEAK-3": ("suspense", "unknown_consumer"),
        "PEAK-4": ("suspense", "nothing_due"),
    }
    assert bills.ledger_payments(DUES) == [Decimal("100.00")]
    assert bills.ledger_payments(DISCONNECTED) == []
    # Billing posts it now: the one that failed is posted, and nothing twice.
    bills.due_now()
    bills.drain()
    assert bills.payment("portal", "PEAK-2").state == "posted"
    assert bills.ledger_payments(DUES) == [Decimal("100.00")]
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("100.00")]
    posted = sorted(int(m.payload["payment_id"]) for m in bills.messages("meters.payment_posted"))
    assert posted == sorted([payment["PEAK-1"], payment["PEAK-2"]])
    receipts = [m.payload["payment_id"] for m in bills.messages("bills.receipt")]
    assert sorted(receipts) == posted
    with Session(bills.engine) as session:
        assert verify_chain(session).ok


def test_receipt_sms_does_not_wait_for_the_receipt_pdf(bills: Bills) -> None:
    bills.portal_payment("SMS-FIRST", DUES)
    registry = bills.app.app.registry
    worker = deliverer_from_settings(
        registry.settings,
        bills.engine,
        process_service(registry, Connectors),
        registered(registry, OutboxHandlers),
    )
    [posting] = bills.messages("bills.post_payment")
    assert [o.result for o in worker.deliver([posting.id])] == ["delivered"]
    # At a peak the background process renders receipts minutes later; the SMS goes now.
    [sms] = [m for m in bills.messages("sms") if m.payload["template"] == "payment_receipt"]
    assert [o.result for o in worker.deliver([sms.id])] == ["delivered"]
    payment = bills.payment("portal", "SMS-FIRST")
    assert payment.receipt_number and payment.receipt_number in sms.payload["text"]
    [receipt] = bills.messages("bills.receipt")
    assert receipt.status == "pending"


def test_billing_not_answering_the_postings_call_leaves_every_payment_to_retry(bills: Bills) -> None:
    for transaction_id, consumer_number in (("DOWN-1", DUES), ("DOWN-2", DISCONNECTED)):
        bills.portal_payment(transaction_id, consumer_number)
    connectors = dict(process_service(bills.app.app.registry, Connectors))
    connectors["billing"] = TimesOutPosting(connectors["billing"])
    outcomes = bills.drain(connectors)
    assert sorted(o.result for o in outcomes) == ["retry", "retry"]
    assert {bills.payment("portal", t).state for t in ("DOWN-1", "DOWN-2")} == {"posting"}
    assert bills.ledger_payments(DUES) == [] and bills.ledger_payments(DISCONNECTED) == []
    assert bills.messages("meters.payment_posted") == []
    bills.due_now()
    bills.drain()
    assert {bills.payment("portal", t).state for t in ("DOWN-1", "DOWN-2")} == {"posted"}
    assert bills.ledger_payments(DUES) == [Decimal("100.00")]
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("100.00")]


class TimesOutPosting(Counted):
    """Billing that answers the bills call and times out on the postings call."""

    def post_payment_many(self, postings: Sequence[PaymentPosting]) -> Any:
        raise ConnectorUnavailable("billing timed out", system="billing")
