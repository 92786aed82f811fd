"""Posting at a month-end peak: the worker takes what has queued in one pass, each payment once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

import connectors.billing as billing_connector
import hub.bills.service
from connectors.billing import PaymentPosting
from connectors.errors import ConnectorRejected, ConnectorUnavailable
from hub.audit import verify_chain
from hub.lookup import process_service, registered
from hub.outbox import OutboxHandlers, deliverer_from_settings
from hub.systems import Connectors
from tests.hub.bills.conftest import CLEAN, DISCONNECTED, DUES, UNKNOWN, Bills
from tests.hub.noted import Noted


class RefusesFor(Noted):
    """Billing that refuses one consumer's posting in a call (and posts the rest)."""

    def __init__(self, billing: Any, consumer_number: str) -> None:
        super().__init__(billing)
        self.consumer_number = consumer_number

    def post_payment_many(self, postings: Sequence[PaymentPosting]) -> dict[str, object]:
        self.calls.append("post_payment_many")
        others = [p for p in postings if p.consumer_number != self.consumer_number]
        answer: dict[str, object] = dict(self.connector.post_payment_many(others))
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
    assert billing.calls == ["connections_many", "post_payment_many"]
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


class TimesOutPosting(Noted):
    """Billing that answers the bills call and times out on the postings call."""

    def post_payment_many(self, postings: Sequence[PaymentPosting]) -> Any:
        raise ConnectorUnavailable("billing timed out", system="billing")


class RefusesTheCall(Noted):
    """Billing that faults a whole postings call (some payment in it it will not take) and, posted
    alone, refuses that one consumer's payment and takes the rest."""

    def __init__(self, billing: Any, consumer_number: str) -> None:
        super().__init__(billing)
        self.consumer_number = consumer_number

    def post_payment_many(self, postings: Sequence[PaymentPosting]) -> Any:
        self.calls.append("post_payment_many")
        raise ConnectorRejected(
            "billing: rejected (invalid_request)", system="billing", code="invalid_request"
        )

    def post_payment(self, consumer_number: str, *args: Any) -> Any:
        self.calls.append("post_payment")
        if consumer_number == self.consumer_number:
            raise ConnectorRejected(
                "billing: rejected (invalid_request)", system="billing", code="invalid_request"
            )
        return self.connector.post_payment(consumer_number, *args)


def test_a_postings_call_refused_as_a_whole_posts_each_payment_alone(bills: Bills) -> None:
    bills.portal_payment("WHOLE-1", DUES)
    bills.portal_payment("WHOLE-2", DISCONNECTED)
    connectors = dict(process_service(bills.app.app.registry, Connectors))
    billing = connectors["billing"] = RefusesTheCall(connectors["billing"], DISCONNECTED)
    outcomes = sorted(o.result for o in bills.drain(connectors))
    assert outcomes == ["delivered", "retry"]
    assert billing.calls == ["connections_many", "post_payment_many", "post_payment", "post_payment"]
    assert bills.payment("portal", "WHOLE-1").state == "posted"
    assert bills.payment("portal", "WHOLE-2").state == "posting"
    assert bills.ledger_payments(DUES) == [Decimal("100.00")] and bills.ledger_payments(DISCONNECTED) == []
    bills.due_now()
    bills.drain()
    assert bills.payment("portal", "WHOLE-2").state == "posted"
    assert bills.ledger_payments(DUES) == [Decimal("100.00")]
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("100.00")]


class ReceiptForAnotherAmount(Noted):
    """Billing that posts, then answers with a receipt that is not the payment's."""

    def post_payment_many(self, postings: Sequence[PaymentPosting]) -> Any:
        answer = dict(self.connector.post_payment_many(postings))
        return {ref: replace(receipt, amount=receipt.amount + 1) for ref, receipt in answer.items()}


def test_a_receipt_that_is_not_the_payments_is_no_receipt(bills: Bills) -> None:
    bills.portal_payment("ODD-1", DUES)
    connectors = dict(process_service(bills.app.app.registry, Connectors))
    connectors["billing"] = ReceiptForAnotherAmount(connectors["billing"])
    assert [o.result for o in bills.drain(connectors)] == ["retry"]
    assert bills.payment("portal", "ODD-1").state == "posting"
    assert bills.messages("meters.payment_posted") == []
    bills.due_now()
    bills.drain()
    assert bills.payment("portal", "ODD-1").state == "posted"
    assert bills.ledger_payments(DUES) == [Decimal("100.00")]


class ForgetsInBills(Noted):
    """Billing whose bills call leaves out a consumer it knows (and posts to)."""

    def __init__(self, billing: Any, consumer_number: str) -> None:
        super().__init__(billing)
        self.consumer_number = consumer_number

    def connections_many(self, consumer_numbers: Sequence[str]) -> Any:
        found = dict(self.connector.connections_many(consumer_numbers))
        found.pop(self.consumer_number, None)
        return found


def test_a_payment_posted_to_a_consumer_the_bills_call_left_out_is_recorded(bills: Bills) -> None:
    bills.portal_payment("LEFT-1", DUES)
    connectors = dict(process_service(bills.app.app.registry, Connectors))
    connectors["billing"] = TimesOutPosting(connectors["billing"])
    assert [o.result for o in bills.drain(connectors)] == ["retry"]
    assert bills.payment("portal", "LEFT-1").state == "posting"
    connectors["billing"] = ForgetsInBills(
        process_service(bills.app.app.registry, Connectors)["billing"], DUES
    )
    bills.due_now()
    assert [o.result for o in bills.drain(connectors)] == ["delivered"]
    payment = bills.payment("portal", "LEFT-1")
    assert payment.state == "posted"
    [sms] = [m for m in bills.messages("sms") if m.payload["template"] == "payment_receipt"]
    assert payment.receipt_number and payment.receipt_number in sms.payload["text"]


def test_billing_calls_in_chunks_and_silent_part_way_keeps_what_was_posted(
    bills: Bills, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(billing_connector, "MAX_CONNECTIONS_PER_CALL", 1)
    monkeypatch.setattr(hub.bills.service, "MAX_POSTINGS_PER_CALL", 1)
    for transaction_id, consumer_number in (("CHUNK-1", DUES), ("CHUNK-2", DISCONNECTED), ("CHUNK-3", CLEAN)):
        bills.portal_payment(transaction_id, consumer_number)
    connectors = dict(process_service(bills.app.app.registry, Connectors))
    billing = connectors["billing"] = SilentAfterPostings(connectors["billing"], 1)
    assert sorted(o.result for o in bills.drain(connectors)) == ["delivered", "delivered", "retry"]
    assert billing.calls == ["connections_many"] * 3 + ["post_payment_many"] * 2
    states = {t: bills.payment("portal", t).state for t in ("CHUNK-1", "CHUNK-2", "CHUNK-3")}
    assert states == {"CHUNK-1": "posted", "CHUNK-2": "posting", "CHUNK-3": "suspense"}
    bills.due_now()
    bills.drain()
    assert bills.payment("portal", "CHUNK-2").state == "posted"
    assert bills.ledger_payments(DUES) == [Decimal("100.00")]
    assert bills.ledger_payments(DISCONNECTED) == [Decimal("100.00")]


class SilentAfterPostings(Noted):
    """Billing that answers ``calls`` postings calls, then stops answering them."""

    def __init__(self, billing: Any, calls: int) -> None:
        super().__init__(billing)
        self.left = calls

    def post_payment_many(self, postings: Sequence[PaymentPosting]) -> Any:
        self.calls.append("post_payment_many")
        if self.left == 0:
            raise ConnectorUnavailable("billing timed out", system="billing")
        self.left -= 1
        return self.connector.post_payment_many(postings)
