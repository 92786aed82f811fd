"""Bills and payments: the domain. No HTTP here; views and the worker call these.

A payment, from whichever channel, is first *accepted*: recorded once under
its (channel, transaction id), with an outbox message to post it, in the
caller's transaction. The worker then posts it in three steps, each safe to
repeat after a crash:

1. decide (billing's current bill): post it, or hold it in suspense with a reason;
   the decision is committed before billing is called;
2. post to billing under the payment's own billing reference (billing is
   idempotent on it, so a retry after a crash returns the first receipt);
3. mark it posted and, in the same transaction, queue the receipt SMS and
   the ``meters.payment_posted`` message.

Messages of one consumer share an outbox key, so two payments of one
consumer are decided one after the other against billing's balance.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certs.document import ELECTRICITY_BILL, PAYMENT_RECEIPT, Connection, Holder, Issuer, mask_mobile
from connectors.billing import (
    MAX_POSTINGS_PER_CALL,
    Bill,
    ConnectionRecord,
    ConnectionStatus,
    Consumer,
    PaymentPosting,
    PostingReceipt,
    connections_of,
    is_consumer_number,
)
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.payment import OrderStatus, PaymentCallbackInvalid, PaymentStatus
from forms.errors import FieldProblem, FormError
from forms.identifiers import CONSUMER_NUMBER
from forms.reader import Reader
from hub.audit import AuditRecord
from hub.audit import record as audit_record
from hub.audit import record_many as audit_record_many
from hub.certificates.issuing import DocumentRequest, computer_issued, issue_document
from hub.certificates.keys import DocumentKeys
from hub.db import Database, insert_if_new, mark_written
from hub.errors import Problem
from hub.lookup import process_service
from hub.meters.service import reconnection_charges
from hub.models.bills import BillPayment, BillPaymentOrder, PaymentEvent, PaymentState
from hub.models.document import IssuedDocument
from hub.models.meta import IST, utcnow
from hub.outbox import Outgoing, enqueue, enqueue_many, unit_of_work
from hub.systems import Connectors

log = logging.getLogger(__name__)

POST_KIND = "bills.post_payment"
# Handled by the smart-meter flow (reconnection after payment).
METERS_KIND = "meters.payment_posted"
RECEIPT_KIND = "bills.receipt"
SUBJECT_TYPE = "bill_payment"
BILL_SUBJECT = "bill"
BILL_VALID_FOR = timedelta(days=90)
RECEIPT_VALID_FOR = timedelta(days=3650)
MAX_LINKED = 25
TRANSACTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
# Billing's receipt numbers, as the payment row keeps them.
RECEIPT_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,31}")
# Rupees as text: no sign, no exponent, at most two decimals (floats never carry money).
AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,2})?")
MAX_AMOUNT = Decimal("10000000.00")
# A payment time this far in the future is a wrong clock or a forgery, not a payment.
FUTURE_SKEW = timedelta(minutes=5)
COUNTER_HEADER = ("receipt_no", "consumer_number", "amount", "paid_at")
COUNTER_MAX_LINES = 20_000
FORMATS = ("gateway_webhook", "bbps", "citizen_portal", "counter_csv")
SUSPENSE_REASONS = (
    "unknown_consumer",
    "account_closed",
    "nothing_due",
    "closed_bill",
    "excess_payment",
    "short_payment",
    "late_capture",
)
RESOLUTIONS = ("apply", "refund", "adjust")


_PAYMENTS = cast(Table, BillPayment.__table__)


@dataclass(frozen=True)
class Channel:
    """One way money reaches the discom, as configured (``hub.bills.channels_file``)."""

    name: str
    format: str
    operation_id: str
    summary: str
    scope: str | None
    partial_allowed: bool
    status_operation_id: str | None
    # The connector (by system name) whose ``settlement_report(day)`` gives this channel's
    # settlement for the daily reconciliation; None: its file is given to hub-admin.
    settlement: str | None = None


def load_channels(path: str) -> dict[str, Channel]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    channels: dict[str, Channel] = {}
    for name, spec in data.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,19}", name):
            raise ValueError(f"bills channel name {name!r}: 1-20 lower-case letters, digits or _")
        if spec.get("format") not in FORMATS:
            raise ValueError(f"bills channel {name}: format must be one of {FORMATS}")
        if spec["format"] != "gateway_webhook" and not spec.get("scope"):
            raise ValueError(f"bills channel {name}: a scope is required (only the gateway signs)")
        channels[name] = Channel(
            name=name,
            format=spec["format"],
            operation_id=spec["operation_id"],
            summary=spec.get("summary", ""),
            scope=spec.get("scope"),
            partial_allowed=bool(spec.get("partial_allowed", False)),
            status_operation_id=spec.get("status_operation_id"),
            settlement=spec.get("settlement"),
        )
    return channels


def read_amount(reader: Reader, name: str) -> Decimal | None:
    """Rupees as a JSON string ("1830.00"); a JSON number is refused, so no float touches money."""
    raw = reader.data.get(name)
    if raw is None:
        reader.problem(name, "required", "this field is required")
        return None
    if not isinstance(raw, str):
        reader.problem(name, "type", 'must be a string of rupees such as "1830.00", not a number')
        return None
    return _amount_text(raw, lambda code, message: reader.problem(name, code, message))


def _amount_text(raw: str, problem: Any) -> Decimal | None:
    if len(raw) > 13 or not AMOUNT.fullmatch(raw):
        problem("format", "rupees with at most two decimals, no sign or exponent")
        return None
    amount = Decimal(raw)
    if amount <= 0 or amount > MAX_AMOUNT:
        problem("range", f"must be more than 0 and at most {MAX_AMOUNT}")
        return None
    return amount.quantize(Decimal("0.01"))


def india_date(moment: datetime) -> date:
    return moment.astimezone(IST).date()


def bill_answer(consumer_number: str, bill: Bill | None, charges: Decimal) -> dict[str, Any]:
    """One of amount_due / nothing_due, in the shape bill-payment platforms expect of a biller.
    ``charges``: the disconnection and reconnection charges a disconnected connection owes too."""
    if bill is None or bill.amount_due + charges <= 0:
        return {"consumer_number": consumer_number, "status": "nothing_due", "bill": None}
    return {
        "consumer_number": consumer_number,
        "status": "amount_due",
        "bill": {
            "bill_number": bill.bill_number,
            "period": bill.period,
            "bill_date": bill.bill_date.isoformat(),
            "due_date": bill.due_date.isoformat(),
            "amount": str(bill.amount_due + charges),
            "late_payment_amount": str(bill.late_payment_amount + charges),
            "current_amount": str(bill.current_amount),
            "arrears": str(bill.arrears),
        },
    }


def _receipt_for(payment: BillPayment, answer: PostingReceipt | Exception | None) -> PostingReceipt:
    """Billing's receipt for the payment, or why there is none. An answer that is not for this
    payment (another reference, consumer or amount), or none at all, is no answer: try again."""
    if isinstance(answer, Exception):
        raise answer
    if not isinstance(answer, PostingReceipt) or (
        answer.reference,
        answer.consumer_number,
        answer.amount,
    ) != (payment.billing_reference, payment.posted_to, payment.amount):
        raise ConnectorUnavailable("billing: no receipt for the payment in its answer", system="billing")
    return answer


def _posting(payment: BillPayment) -> PaymentPosting:
    """A payment decided for posting (its target and billing reference fixed), as billing takes it."""
    assert payment.posted_to is not None and payment.billing_reference is not None
    return PaymentPosting(
        payment.posted_to, payment.amount, payment.billing_reference, payment.paid_at, payment.channel
    )


def describe_payment(payment: BillPayment) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "channel": payment.channel,
        "transaction_id": payment.transaction_id,
        "consumer_number": payment.consumer_number,
        "amount": str(payment.amount),
        "paid_at": payment.paid_at.isoformat(),
        "state": payment.state,
        "suspense_reason": payment.suspense_reason,
        "receipt_number": payment.receipt_number,
        "posted_at": payment.posted_at.isoformat() if payment.posted_at else None,
    }


def upi_intent(vpa: str, payee: str, bill: Bill, amount: Decimal) -> str:
    """The UPI deep link (NPCI's ``upi://pay``) any UPI app opens with payee, amount and bill filled."""
    from urllib.parse import quote

    note = f"Bill {bill.bill_number} {bill.consumer_number}"
    return (
        f"upi://pay?pa={quote(vpa, safe='@.')}&pn={quote(payee)}&am={amount}&cu=INR"
        f"&tr={quote(bill.bill_number)}&tn={quote(note)}"
    )


class BillService:
    def __init__(
        self,
        registry: Mapping[str, Any],
        channels: Mapping[str, Channel],
        order_minutes: int,
        upi_vpa: str = "",
    ) -> None:
        self.registry = registry
        self.channels = dict(channels)
        self.order_minutes = order_minutes
        self.upi_vpa = upi_vpa

    @property
    def settings(self) -> Mapping[str, Any]:
        settings: Mapping[str, Any] = self.registry.settings  # type: ignore[attr-defined]
        return settings

    @property
    def gateway_webhook_url(self) -> str | None:
        """Where the gateway calls back for a bill order: the gateway channel's own webhook."""
        for channel in self.channels.values():
            if channel.format == "gateway_webhook":
                return (
                    f"{str(self.settings['hub.public_url']).rstrip('/')}/api/v1/bills/payments/{channel.name}"
                )
        return None

    def _issuer(self, consumer: Consumer, section_en: str, section_hi: str) -> Issuer:
        return computer_issued(self.registry, consumer.offices.dc, section_en, section_hi)

    @staticmethod
    def _holder(consumer: Consumer) -> Holder:
        return Holder(
            name_deva=consumer.name_hi,
            name_latin=consumer.name_en,
            mobile_masked=mask_mobile(consumer.mobile),
        )

    def bill_pdf(self, session: Session, consumer_number: str, caller: str) -> bytes:
        """The current bill as a signed Hindi/English PDF: issued the first time it is asked for, then kept."""
        from hub.certificates.issuing import document_files

        billing = self.connector("billing")
        try:
            consumer = billing.get_consumer(consumer_number)
        except NotFound:
            raise Problem("consumer_not_found", extra={"consumer_number": consumer_number}) from None
        bill = self.current_bill(consumer_number)
        # A connection disconnected for non-payment is reconnected only when the charges are paid
        # with the bill: the document, and the amount its QR pays, include them.
        charges = self.charges_for(consumer.connection_status)
        amount_due = max(bill.amount_due + charges, Decimal("0.00"))
        subject = f"{bill.bill_number}:{amount_due}"
        if len(subject) > 64:  # the document's subject column; billing's bill numbers may be long
            subject = "sha256:" + hashlib.sha256(subject.encode()).hexdigest()[:57]
        kept = session.execute(
            select(IssuedDocument)
            .where(IssuedDocument.subject_type == BILL_SUBJECT, IssuedDocument.subject_id == subject)
            .order_by(IssuedDocument.id)
            .limit(1)
        ).scalar_one_or_none()
        if kept is not None:
            return bytes(document_files(session, kept).pdf)
        details: dict[str, str | Decimal] = {
            "bill_number": bill.bill_number,
            "period": bill.period,
            "bill_date": bill.bill_date.isoformat(),
            "due_date": bill.due_date.isoformat(),
            "category": consumer.category,
            "meter_number": bill.meter_number or "",
            "previous_reading": str(bill.previous_reading),
            "current_reading": str(bill.current_reading),
            "units": str(bill.units),
        }
        details.update({f"tariff.{line.code}": line.amount for line in bill.tariff_lines})
        details["current_amount"] = bill.current_amount
        details["arrears"] = bill.arrears
        if charges:
            details["charges.disconnection"] = Decimal(self.settings["hub.meters.disconnection_charge"])
            details["charges.reconnection"] = Decimal(self.settings["hub.meters.reconnection_charge"])
        details["amount_due"] = amount_due
        details["late_payment_amount"] = bill.late_payment_amount + charges
        if bill.is_due and self.upi_vpa and amount_due > 0:
            payee = str(self.settings["hub.discom.name_en"])
            details["upi_intent"] = upi_intent(self.upi_vpa, payee, bill, amount_due)
        now = utcnow()
        issued = issue_document(
            session,
            self._keys,
            DocumentRequest(
                kind=ELECTRICITY_BILL.code,
                office_code=consumer.offices.dc,
                subject_type=BILL_SUBJECT,
                subject_id=subject,
                issuer=self._issuer(consumer, "Billing section", "बिलिंग अनुभाग"),
                holder=self._holder(consumer),
                valid_for=BILL_VALID_FOR,
                connections=(
                    Connection(
                        consumer.consumer_number,
                        amount_due,
                        now,
                        consumer.connection_status.value,
                    ),
                ),
                details=details,
                requested_by_client=caller[:64],
            ),
            str(self.settings["hub.public_url"]),
            now,
        )
        return bytes(document_files(session, issued.record).pdf)

    def receipt_pdf(self, session: Session, payment: BillPayment) -> bytes:
        from hub.certificates.issuing import document_files

        number = payment.details.get("receipt_document")
        record = (
            session.execute(
                select(IssuedDocument).where(IssuedDocument.number == number)
            ).scalar_one_or_none()
            if isinstance(number, str)
            else None
        )
        if record is None:
            raise Problem("not_found", "no receipt yet: the payment is not posted")
        return bytes(document_files(session, record).pdf)

    def issue_receipt(self, payment_id: int, billing: Any) -> None:
        """Outbox kind ``bills.receipt``: the signed receipt of a posted payment, once."""
        engine = process_service(self.registry, Database).engine
        with Session(engine) as session:
            payment = session.get(BillPayment, payment_id)
            if payment is None or payment.state != PaymentState.POSTED.value:
                return
            if payment.details.get("receipt_document"):
                return
            target = payment.posted_to or payment.consumer_number
        consumer = billing.get_consumer(target)
        with unit_of_work(self.registry) as session:
            payment = session.get(BillPayment, payment_id, with_for_update=True)
            assert payment is not None
            if payment.details.get("receipt_document"):
                return
            document = self._issue_receipt(session, payment, consumer)
            payment.details = {**payment.details, "receipt_document": document}

    def _issue_receipt(self, session: Session, payment: BillPayment, consumer: Consumer) -> str:
        now = utcnow()
        issued = issue_document(
            session,
            self._keys,
            DocumentRequest(
                kind=PAYMENT_RECEIPT.code,
                office_code=consumer.offices.dc,
                subject_type=SUBJECT_TYPE,
                subject_id=str(payment.id),
                issuer=self._issuer(consumer, "Revenue section", "राजस्व अनुभाग"),
                holder=self._holder(consumer),
                valid_for=RECEIPT_VALID_FOR,
                details={
                    "receipt_number": payment.receipt_number or "",
                    "amount_paid": payment.amount,
                    "paid_at": payment.paid_at.astimezone(IST).strftime("%d-%m-%Y %H:%M IST"),
                    "channel": payment.channel,
                    "transaction_id": payment.transaction_id,
                },
            ),
            str(self.settings["hub.public_url"]),
            now,
        )
        return str(issued.record.number)

    @property
    def _keys(self) -> DocumentKeys:
        keys = process_service(self.registry, DocumentKeys)
        return keys

    def settlement_channels(self) -> dict[str, str]:
        """Channel -> the connector system whose settlement report reconciles it."""
        return {c.name: c.settlement for c in self.channels.values() if c.settlement}

    def connector(self, system: str) -> Any:
        return process_service(self.registry, Connectors).require(system)  # type: ignore[arg-type]

    # -- bills -------------------------------------------------------------------------------

    def fetch_bill(self, consumer_number: str) -> dict[str, Any]:
        """amount_due or nothing_due; an unknown consumer is Problem consumer_not_found."""
        [answer] = self.fetch_bills([consumer_number])
        if answer["status"] == "consumer_not_found":
            raise Problem("consumer_not_found", extra={"consumer_number": consumer_number})
        return answer

    def fetch_bills(self, consumer_numbers: Sequence[str]) -> list[dict[str, Any]]:
        """Each number's answer, in order; unknown ones answer consumer_not_found in the list.
        Billing is asked once for them all (an account's connections are at most 25)."""
        found = self.connector("billing").connections_many(consumer_numbers)
        answers = []
        for number in consumer_numbers:
            connection = found.get(number)
            if connection is None:
                answers.append({"consumer_number": number, "status": "consumer_not_found", "bill": None})
            else:
                charges = self.charges_for(connection.consumer.connection_status)
                answers.append(bill_answer(number, connection.bill, charges))
        return answers

    def current_bill(self, consumer_number: str) -> Bill:
        try:
            bill = self.connector("billing").current_bill(consumer_number)
        except NotFound:
            raise Problem("consumer_not_found", extra={"consumer_number": consumer_number}) from None
        if bill is None:
            raise Problem("consumer_not_found", "the connection has no bill yet")
        return bill

    # -- gateway orders ------------------------------------------------------------------------

    def charges_owed(self, consumer_number: str) -> Decimal:
        """The disconnection and reconnection charges, when the connection is disconnected."""
        if not reconnection_charges(self.settings):
            return Decimal("0.00")
        try:
            status = self.connector("billing").get_consumer(consumer_number).connection_status
        except NotFound:
            raise Problem("consumer_not_found", extra={"consumer_number": consumer_number}) from None
        return self.charges_for(status)

    def charges_for(self, status: ConnectionStatus) -> Decimal:
        """What a connection owes besides its bill: a connection disconnected for non-payment is
        reconnected only when the disconnection and reconnection charges are paid with it."""
        if status is ConnectionStatus.DISCONNECTED:
            return reconnection_charges(self.settings)
        return Decimal("0.00")

    def open_order(self, session: Session, consumer_number: str, caller: str) -> dict[str, Any]:
        """A gateway order for what the consumer owes now (billing asked; a disconnected connection
        owes the configured disconnection and reconnection charges too), valid ``order_minutes``."""
        bill = self.current_bill(consumer_number)
        owed = bill.amount_due + self.charges_owed(consumer_number)
        if owed <= 0:
            raise Problem("nothing_due", extra={"consumer_number": consumer_number})
        reference = f"BILL-{consumer_number}-{uuid.uuid4().hex[:12]}"
        try:
            order = self.connector("payment").create_order(
                owed,
                reference,
                f"Electricity bill {bill.bill_number} of {consumer_number}",
                notify_url=self.gateway_webhook_url,
            )
        except ValueError as exc:
            raise Problem("unprocessable", f"the gateway cannot take this amount: {exc}") from None
        now = utcnow()
        row = BillPaymentOrder(
            order_id=order.order_id,
            reference=reference,
            consumer_number=consumer_number,
            bill_number=bill.bill_number,
            amount=owed,
            payment_url=order.payment_url,
            created_by=caller[:64],
            created_at=now,
            expires_at=now + timedelta(minutes=self.order_minutes),
        )
        session.add(row)
        session.flush()
        return {
            "order_id": row.order_id,
            "consumer_number": consumer_number,
            "bill_number": bill.bill_number,
            "amount": str(row.amount),
            "payment_url": row.payment_url,
            "expires_at": row.expires_at.isoformat(),
        }

    def gateway_notification(
        self, session: Session, channel: Channel, body: bytes, headers: Mapping[str, str]
    ) -> tuple[dict[str, Any], bool]:
        """The gateway's webhook: signature and age, event once, confirmed with its status API."""
        gateway = self.connector("payment")
        try:
            paid = gateway.verify_callback(body, headers)
        except PaymentCallbackInvalid as exc:
            code = exc.code if exc.code in ("payment_stale", "payment_malformed") else "payment_bad_signature"
            raise Problem(code) from None
        order = session.execute(
            select(BillPaymentOrder).where(BillPaymentOrder.order_id == paid.order_id)
        ).scalar_one_or_none()
        if order is None or order.reference != paid.reference:
            raise Problem("payment_reference_unknown", extra={"reference": paid.reference})
        if paid.event_id is not None:
            try:
                with session.begin_nested():
                    session.add(
                        PaymentEvent(channel=channel.name, event_id=paid.event_id, received_at=utcnow())
                    )
                    session.flush()
            except IntegrityError:
                existing = self._by_transaction(session, channel.name, order.order_id)
                answer = describe_payment(existing) if existing else {"order_id": order.order_id}
                return {**answer, "outcome": "duplicate_event"}, False
        if paid.status is not PaymentStatus.SUCCESS:
            # A failure (or a failure arriving after the success): noted, changes nothing.
            audit_record(
                session,
                f"gateway:{channel.name}",
                "bills.gateway_payment_failed",
                "bill_payment_order",
                order.order_id,
                {"gateway_txn_id": paid.gateway_txn_id},
            )
            existing = self._by_transaction(session, channel.name, order.order_id)
            answer = describe_payment(existing) if existing else {"order_id": order.order_id}
            return {**answer, "outcome": "payment_failed_noted"}, False
        return self._confirm_order(session, channel, order, paid.amount, paid.paid_at, "webhook")

    def browser_return(
        self, session: Session, channel: Channel, order_id: str
    ) -> tuple[dict[str, Any], bool]:
        """The payer's browser back from the gateway: the status API alone decides."""
        order = session.execute(
            select(BillPaymentOrder).where(BillPaymentOrder.order_id == order_id)
        ).scalar_one_or_none()
        if order is None:
            raise Problem("not_found")
        return self._confirm_order(session, channel, order, None, None, "browser_return")

    def _confirm_order(
        self,
        session: Session,
        channel: Channel,
        order: BillPaymentOrder,
        notified_amount: Decimal | None,
        paid_at: datetime | None,
        source: str,
    ) -> tuple[dict[str, Any], bool]:
        status = self.connector("payment").get_order(order.order_id)
        if status.status is not OrderStatus.PAID:
            raise Problem("payment_not_confirmed", extra={"order_status": status.status.value})
        if notified_amount is not None and notified_amount != status.amount:
            raise Problem(
                "payment_amount_mismatch",
                f"notified {notified_amount}, the gateway's status says {status.amount}",
            )
        now = utcnow()
        paid_at = paid_at or now
        suspense = None
        if paid_at > order.expires_at:
            suspense = "late_capture"
        elif status.amount != order.amount:
            suspense = "excess_payment" if status.amount > order.amount else "short_payment"
        payment, created = self.accept(
            session,
            channel,
            transaction_id=order.order_id,
            consumer_number=order.consumer_number,
            bill_number=order.bill_number,
            amount=status.amount,
            paid_at=paid_at,
            received_from=f"gateway:{source}",
            suspense=suspense,
            compare_paid_at=False,
        )
        return {
            **describe_payment(payment),
            "outcome": "accepted" if created else "already_recorded",
        }, created

    # -- every channel -------------------------------------------------------------------------

    def find_payment(self, session: Session, channel: str, transaction_id: str) -> BillPayment | None:
        return self._by_transaction(session, channel, transaction_id)

    def find_receipt(self, session: Session, channel: str, receipt_number: str) -> BillPayment | None:
        """The payment of ``channel`` that billing receipted as ``receipt_number``."""
        return session.execute(
            select(BillPayment)
            .where(BillPayment.channel == channel, BillPayment.receipt_number == receipt_number)
            .order_by(BillPayment.id)
            .limit(1)
        ).scalar_one_or_none()

    def _by_transaction(self, session: Session, channel: str, transaction_id: str) -> BillPayment | None:
        return session.execute(
            select(BillPayment).where(
                BillPayment.channel == channel, BillPayment.transaction_id == transaction_id
            )
        ).scalar_one_or_none()

    def accept(
        self,
        session: Session,
        channel: Channel,
        *,
        transaction_id: str,
        consumer_number: str,
        bill_number: str | None,
        amount: Decimal,
        paid_at: datetime,
        received_from: str,
        channel_receipt_id: str | None = None,
        suspense: str | None = None,
        compare_paid_at: bool = True,
    ) -> tuple[BillPayment, bool]:
        """Record a payment once per (channel, transaction id); the same one again is answered with
        the first, a different one under the same id is ``payment_conflict``."""
        if paid_at > utcnow() + FUTURE_SKEW:
            raise FormError(
                "validation_failed",
                "paid in the future",
                [FieldProblem("paid_at", "range", "is in the future")],
            )

        def same(existing: BillPayment) -> BillPayment:
            differs = (
                existing.consumer_number != consumer_number
                or existing.amount != amount
                or (compare_paid_at and existing.paid_at != paid_at)
                or (channel_receipt_id is not None and existing.channel_receipt_id != channel_receipt_id)
            )
            if differs:
                raise Problem("payment_conflict", extra={"payment_id": existing.id})
            return existing

        now = utcnow()
        values: dict[str, Any] = {
            "channel": channel.name,
            "transaction_id": transaction_id,
            "channel_receipt_id": channel_receipt_id,
            "consumer_number": consumer_number,
            "bill_number": bill_number,
            "amount": amount,
            "paid_at": paid_at,
            "paid_on": india_date(paid_at),
            "received_at": now,
            "received_from": received_from[:64],
            "state": (PaymentState.SUSPENSE if suspense else PaymentState.ACCEPTED).value,
            "suspense_reason": suspense,
            "details": {},
        }
        # One statement: a second delivery (or the browser return racing the webhook) inserts
        # nothing and is answered with the first; the unique key decides, not a read before.
        payment_id = session.execute(
            insert_if_new(session.get_bind().dialect.name, _PAYMENTS, ("channel", "transaction_id")), values
        ).scalar_one_or_none()
        if payment_id is None:
            existing = self._by_transaction(session, channel.name, transaction_id)
            assert existing is not None
            return same(existing), False
        mark_written(session)
        payment = BillPayment(id=payment_id, **values)
        # The payment row itself records the acceptance (who sent it, when; unique, never rewritten):
        # the audit log records the decisions on it (suspense, posting, resolution). An audit entry
        # here would serialise every notification on the audit chain's lock.
        if suspense:
            audit_record(
                session, "hub", "bills.payment_suspense", SUBJECT_TYPE, str(payment.id), {"reason": suspense}
            )
        else:
            self._enqueue_posting(session, payment)
        return payment, True

    def _enqueue_posting(self, session: Session, payment: BillPayment) -> None:
        enqueue(
            session, POST_KIND, {"payment_id": payment.id}, key=f"bills.consumer:{payment.consumer_number}"
        )

    def read_notification(self, channel: Channel, data: Mapping[str, Any]) -> dict[str, Any]:
        """A platform's or portal's JSON notification, in its own format, as accept()'s fields."""
        reader = Reader(data)
        if channel.format == "bbps":
            fields = {
                "transaction_id": reader.text("transaction_id", max_length=64, pattern=TRANSACTION_ID),
                "channel_receipt_id": reader.text("receipt_id", max_length=64, pattern=TRANSACTION_ID),
                "consumer_number": reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER),
                "bill_number": reader.text("bill_number", max_length=64, pattern=TRANSACTION_ID),
                "amount": read_amount(reader, "amount"),
                "paid_at": reader.moment("paid_at"),
            }
            known: tuple[str, ...] = (
                "transaction_id",
                "receipt_id",
                "consumer_number",
                "bill_number",
                "amount",
                "paid_at",
            )
        else:  # citizen_portal: its own names, amounts in whole paise
            paise = reader.integer("amount_paise", minimum=1, maximum=int(MAX_AMOUNT * 100))
            fields = {
                "transaction_id": reader.text("cs_txn_no", max_length=64, pattern=TRANSACTION_ID),
                "channel_receipt_id": None,
                "consumer_number": reader.text("ivrs_no", max_length=12, pattern=CONSUMER_NUMBER),
                "bill_number": reader.text("bill_no", required=False, max_length=64, pattern=TRANSACTION_ID),
                "amount": (Decimal(paise) / 100).quantize(Decimal("0.01")) if paise is not None else None,
                "paid_at": reader.moment("txn_datetime"),
            }
            known = ("cs_txn_no", "ivrs_no", "bill_no", "amount_paise", "txn_datetime")
        for name in data:
            if name not in known:
                reader.problem(str(name)[:64], "unknown_field", "is not a field of this notification")
        reader.done()
        return fields

    def read_counter_file(self, body: bytes) -> list[dict[str, Any]]:
        """A counter's CSV: every line checked before any is recorded (one bad line refuses the file)."""
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FormError(
                "validation_failed", "the file is not UTF-8", [FieldProblem("file", "format", "not UTF-8")]
            ) from None
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, None)
        if header is None or tuple(h.strip() for h in header) != COUNTER_HEADER:
            raise FormError(
                "validation_failed",
                "the first line must be " + ",".join(COUNTER_HEADER),
                [FieldProblem("line/1", "format", "header must be " + ",".join(COUNTER_HEADER))],
            )
        problems: list[FieldProblem] = []
        lines: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(lines) >= COUNTER_MAX_LINES:
                problems.append(FieldProblem(f"line/{number}", "range", f"at most {COUNTER_MAX_LINES} lines"))
                break
            if len(row) != len(COUNTER_HEADER):
                problems.append(
                    FieldProblem(f"line/{number}", "format", f"{len(COUNTER_HEADER)} columns expected")
                )
                continue
            receipt, consumer, amount_raw, paid_raw = (c.strip() for c in row)
            bad = len(problems)

            def problem(field: str, code: str, message: str, _n: int = number) -> None:
                problems.append(FieldProblem(f"line/{_n}/{field}", code, message))

            if not TRANSACTION_ID.fullmatch(receipt):
                problem("receipt_no", "format", "1-64 letters, digits or _.:/-")
            elif receipt in seen:
                problem("receipt_no", "duplicate", "appears twice in the file")
            if not CONSUMER_NUMBER.fullmatch(consumer):
                problem("consumer_number", "format", "10-12 digits")
            amount = _amount_text(amount_raw, lambda code, message: problem("amount", code, message))
            try:
                paid_at = datetime.fromisoformat(paid_raw) if len(paid_raw) <= 40 else None
            except ValueError:
                paid_at = None
            if paid_at is None or paid_at.tzinfo is None:
                problem("paid_at", "format", "an ISO 8601 date-time with offset")
            elif paid_at > utcnow() + FUTURE_SKEW:
                problem("paid_at", "range", "is in the future")
            if len(problems) == bad:
                seen.add(receipt)
                lines.append(
                    {
                        "transaction_id": receipt,
                        "consumer_number": consumer,
                        "amount": amount,
                        "paid_at": paid_at,
                    }
                )
        if problems:
            raise FormError(
                "validation_failed", "the file has invalid lines; nothing was recorded", problems[:200]
            )
        return lines

    # -- posting (hub-worker) --------------------------------------------------------------------

    def post_payment(self, payment_id: int, billing: Any) -> None:
        """Outbox kind ``bills.post_payment`` for one payment (see :meth:`post_payments`)."""
        failed = self.post_payments([payment_id], billing).get(payment_id)
        if failed is not None:
            raise failed

    def post_payments(self, payment_ids: Sequence[int], billing: Any) -> dict[int, Exception]:
        """Outbox kind ``bills.post_payment``: decide, post, then record; each step repeatable.

        The payments are taken together: billing is asked for their connections' bills in one
        call and handed the payments to post in one call (its round trips do not grow with a
        month-end peak); one transaction decides them all and one records them all (and their
        audit entries, the chain's lock taken once). A payment billing refuses is returned with
        its error and retried alone; billing not answering returns every open payment.
        """
        engine = process_service(self.registry, Database).engine
        with Session(engine) as session:
            found = session.execute(
                select(BillPayment.id, BillPayment.state, BillPayment.posted_to, BillPayment.consumer_number)
                .where(BillPayment.id.in_(list(payment_ids)))
                .order_by(BillPayment.id)
            ).all()
        open_states = (PaymentState.ACCEPTED.value, PaymentState.POSTING.value)
        target = {pid: posted_to or number for pid, state, posted_to, number in found if state in open_states}
        try:
            connections = connections_of(billing, set(target.values()))
        except Exception as exc:
            return dict.fromkeys(target, exc)
        looked = {
            pid: connections.get(target[pid])
            for pid, state, *_ in found
            if state == PaymentState.ACCEPTED.value
        }
        if looked:
            self._decide(looked)
        with Session(engine) as session:
            posting = list(
                session.scalars(
                    select(BillPayment)
                    .where(BillPayment.id.in_(list(payment_ids)))
                    .where(BillPayment.state == PaymentState.POSTING.value)
                    .order_by(BillPayment.id)
                )
            )
            session.expunge_all()
        failures: dict[int, Exception] = {}
        try:
            # An officer may have pointed a payment at another connection since: ask for it too.
            connections.update(connections_of(billing, {p.posted_to for p in posting} - connections.keys()))
        except Exception as exc:
            return dict.fromkeys([p.id for p in posting], exc)
        receipts: dict[int, tuple[PostingReceipt, Consumer]] = {}
        for start in range(0, len(posting), MAX_POSTINGS_PER_CALL):
            chunk = posting[start : start + MAX_POSTINGS_PER_CALL]
            try:
                answers = self._post_chunk(billing, chunk)
            except ConnectorUnavailable as exc:
                # Billing silent: none of the rest is known to be posted; all are tried again.
                failures.update(dict.fromkeys([p.id for p in posting[start:]], exc))
                break
            for payment in chunk:
                posted_to = payment.posted_to or ""
                try:
                    receipt = _receipt_for(payment, answers.get(payment.billing_reference or ""))
                    connection = connections.get(posted_to)
                    # Billing posted to it, so it knows the consumer: the receipt SMS needs the mobile.
                    consumer = connection.consumer if connection else billing.get_consumer(posted_to)
                except Exception as exc:
                    failures[payment.id] = exc
                    continue
                receipts[payment.id] = (receipt, consumer)
        if receipts:
            self._record_posted(receipts)
        return failures

    @staticmethod
    def _post_chunk(billing: Any, chunk: Sequence[BillPayment]) -> Mapping[str, PostingReceipt | Exception]:
        """Billing's answer for each payment of one postings call, by billing reference.

        A call billing refuses as a whole (a fault, not silence) is some payment's doing that
        billing did not name: each is then posted alone, so the refusal stays with its payment
        and the others go on. ConnectorUnavailable when billing does not answer the call."""
        postings = [_posting(payment) for payment in chunk]
        try:
            return cast(Mapping[str, PostingReceipt | Exception], billing.post_payment_many(postings))
        except ConnectorUnavailable:
            raise
        except Exception:
            log.warning(
                "billing refused a postings call as a whole; posting its %d payments alone", len(postings)
            )
        answers: dict[str, PostingReceipt | Exception] = {}
        for p in postings:
            try:
                answers[p.reference] = billing.post_payment(
                    p.consumer_number, p.amount, p.reference, p.paid_at, p.channel
                )
            except Exception as exc:
                answers[p.reference] = exc
        return answers

    def _decide(self, looked: Mapping[int, ConnectionRecord | None]) -> None:
        """Post or hold in suspense each accepted payment, by what billing said of its connection
        (None: billing does not know it)."""
        with unit_of_work(self.registry) as session:
            entries: list[AuditRecord] = []
            for payment in session.scalars(
                select(BillPayment)
                .where(BillPayment.id.in_(list(looked)))
                .order_by(BillPayment.id)
                .with_for_update()
            ):
                if payment.state != PaymentState.ACCEPTED.value:
                    continue  # another delivery decided meanwhile; its own message goes on
                connection = looked[payment.id]
                if connection is None:
                    reason = self.suspense_reason(payment, None, None)
                else:
                    reason = self.suspense_reason(
                        payment, connection.consumer.connection_status, connection.bill
                    )
                if reason is None:
                    self._mark_posting(payment)
                    continue
                payment.state, payment.suspense_reason = PaymentState.SUSPENSE.value, reason
                entries.append(
                    AuditRecord(
                        "hub", "bills.payment_suspense", SUBJECT_TYPE, str(payment.id), {"reason": reason}
                    )
                )
            audit_record_many(session, entries)

    def _record_posted(self, receipts: Mapping[int, tuple[PostingReceipt, Consumer]]) -> None:
        """Mark posted, and queue what follows a posting: the smart meter's reconnection first,
        the receipt SMS, and the signed receipt (rendered apart: a PDF must not hold up a meter)."""
        with unit_of_work(self.registry) as session:
            entries: list[AuditRecord] = []
            outgoing: list[Outgoing] = []
            now = utcnow()
            for payment in session.scalars(
                select(BillPayment)
                .where(BillPayment.id.in_(list(receipts)))
                .order_by(BillPayment.id)
                .with_for_update()
            ):
                if payment.state != PaymentState.POSTING.value:
                    continue
                receipt, consumer = receipts[payment.id]
                target = payment.posted_to
                payment.state = PaymentState.POSTED.value
                payment.receipt_number = receipt.receipt_number
                payment.posted_at = now
                outgoing += [
                    Outgoing(
                        METERS_KIND,
                        {
                            "consumer_number": target,
                            "payment_id": payment.id,
                            "amount": str(payment.amount),
                            "channel": payment.channel,
                        },
                    ),
                    Outgoing(RECEIPT_KIND, {"payment_id": payment.id}, key=f"bills.receipt:{payment.id}"),
                    # Its own message, no key shared with the PDF: the receipt number is known
                    # now, and the SMS must not wait for a rendering queued behind a month-end peak.
                    Outgoing.sms(
                        consumer.mobile,
                        f"Rs {payment.amount} received for consumer {target}. "
                        f"Receipt {payment.receipt_number}. -MPCZED",
                        "payment_receipt",
                    ),
                ]
                entries.append(
                    AuditRecord(
                        "hub",
                        "bills.payment_posted",
                        SUBJECT_TYPE,
                        str(payment.id),
                        {
                            "receipt_number": receipt.receipt_number,
                            "consumer_number": target,
                            "duplicate": receipt.duplicate,
                        },
                    )
                )
            enqueue_many(session, outgoing)
            # Last: the audit chain's lock is held from here to the commit, and every worker waits on it.
            audit_record_many(session, entries)

    def _mark_posting(self, payment: BillPayment) -> None:
        payment.state = PaymentState.POSTING.value
        payment.posted_to = payment.posted_to or payment.consumer_number
        payment.billing_reference = f"HUB-{payment.channel}-{payment.id}"

    def suspense_reason(
        self, payment: BillPayment, status: ConnectionStatus | None, bill: Bill | None
    ) -> str | None:
        channel = self.channels.get(payment.channel)
        if status is None:
            return "unknown_consumer"
        if status is ConnectionStatus.PERMANENTLY_DISCONNECTED:
            return "account_closed"
        charges = self.charges_for(status)
        if bill is None or bill.amount_due + charges <= 0:
            return "nothing_due"
        if payment.bill_number and payment.bill_number != bill.bill_number:
            return "closed_bill"
        late = payment.paid_on > bill.due_date and payment.amount == bill.late_payment_amount
        if payment.amount > bill.amount_due + charges and not late:
            return "excess_payment"
        if payment.amount < bill.amount_due and not (channel and channel.partial_allowed):
            return "short_payment"
        return None

    # -- suspense (officers) ---------------------------------------------------------------------

    def suspense(self, session: Session, limit: int = 200) -> list[BillPayment]:
        return list(
            session.execute(
                select(BillPayment)
                .where(BillPayment.state == PaymentState.SUSPENSE.value)
                .order_by(BillPayment.received_at, BillPayment.id)
                .limit(limit)
            ).scalars()
        )

    def resolve(
        self,
        session: Session,
        payment_id: int,
        resolution: str,
        officer: str,
        note: str,
        consumer_number: str | None = None,
    ) -> BillPayment:
        """apply: post it as it is; adjust: post it to another connection; refund: money goes back
        through the channel (the office does it), never posted. Audited with the officer's note."""
        if resolution not in RESOLUTIONS:
            raise Problem("validation_failed", "resolution must be apply, refund or adjust")
        payment = session.get(BillPayment, payment_id, with_for_update=True)
        if payment is None:
            raise Problem("not_found")
        if payment.state != PaymentState.SUSPENSE.value:
            raise Problem("conflict", "the payment is not in suspense", extra={"state": payment.state})
        if resolution == "adjust":
            if consumer_number is None or not is_consumer_number(consumer_number):
                raise Problem("validation_failed", "adjust needs the consumer number to post to")
            try:
                self.connector("billing").get_consumer(consumer_number)
            except NotFound:
                raise Problem("consumer_not_found", "billing does not know that consumer number") from None
            payment.posted_to = consumer_number
        now = utcnow()
        payment.resolution, payment.resolved_by, payment.resolved_at = resolution, officer[:64], now
        payment.details = {**payment.details, "resolution_note": note[:500]}
        if resolution == "refund":
            payment.state = PaymentState.REFUNDED.value
        else:
            self._mark_posting(payment)
            self._enqueue_posting(session, payment)
        audit_record(
            session,
            officer,
            f"bills.suspense_{resolution}",
            SUBJECT_TYPE,
            str(payment.id),
            {"reason": payment.suspense_reason, "note": note[:500], "posted_to": payment.posted_to},
        )
        return payment
