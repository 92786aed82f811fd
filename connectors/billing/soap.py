"""SoapBilling: a zeep client for the discom's SOAP billing service (billing.wsdl).

ini (under ``hub.billing.``)::

    hub.billing.backend = connectors.billing.soap:SoapBilling
    hub.billing.wsdl_url = https://ngb.discom.example/billing/v1?wsdl   # default: the WSDL shipped here
    hub.billing.endpoint = https://ngb.discom.example/billing/v1        # optional: overrides the WSDL's address
    hub.billing.timeout = 10             # seconds to fetch the WSDL/XSD (default 10)
    hub.billing.operation_timeout = 5    # seconds per SOAP call, connect and each read (default 5)
    hub.billing.ca_file = /etc/hub/ngb-ca.pem                          # optional private CA
    hub.billing.payments_page_size = 5000   # ledger payments per ListPayments call (reconciliation)

Failure mapping (the hub fails closed on every ConnectorUnavailable):

* connection refused/reset, DNS, TLS, timeout -> ConnectorUnavailable
* HTTP error, non-XML or HTML answer, an answer that breaks the schema
  (zeep strict mode) or carries unusable values -> ConnectorUnavailable
* SOAP Fault with detail ``BillingFault/code``: ``not_found`` -> NotFound
  (UnknownConsumers for a batch, listing the numbers); ``reference_conflict``,
  ``invalid_request``, ``unknown_office``, ``invalid_amount`` ->
  ConnectorRejected with that code; anything else (Server faults,
  ``unavailable``) -> ConnectorUnavailable. Fault text is never copied into
  our messages (it is partner data).

With ``forbid_external`` zeep refuses http(s) imports made by a fetched WSDL,
so a ``wsdl_url`` on the network must be self-contained (XSD inlined). The
default - the WSDL shipped here, which imports ``billing.xsd`` from disk -
plus ``endpoint`` needs no fetch at all and is the recommended setting.

The WSDL is loaded lazily on first use, so the hub starts while billing is
down; a failed load is retried on the next call. zeep parses with DTDs,
entities and external references forbidden.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing import (
    MAX_CONTACT_PAGE,
    MAX_DUES_BATCH,
    SYSTEM,
    Bill,
    ConnectionRecord,
    ConnectionStatus,
    Consumer,
    ConsumerSales,
    ContactChange,
    ContactPage,
    IBilling,
    LedgerPayment,
    MeterHealth,
    MeterStatus,
    MeterType,
    NewConsumer,
    Office,
    OfficeCodes,
    OutstandingDues,
    PaymentPosting,
    PostingReceipt,
    SupplyState,
    TariffLine,
    UnknownConsumers,
    check_postings,
    connections_asked,
    is_consumer_number,
    is_mobile,
    is_period,
    is_samagra_id,
)
from connectors.billing.reference import india_today
from connectors.errors import ConnectorError, ConnectorRejected, ConnectorUnavailable, NotFound

WSDL_PATH = Path(__file__).with_name("billing.wsdl")
OFFICE_LEVELS = frozenset({"dc", "zone", "division", "circle"})
NS = "urn:discom:billing:1"
BINDING = "{urn:discom:billing:1:wsdl}BillingSoapBinding"
REJECTION_CODES = frozenset({"reference_conflict", "invalid_request", "unknown_office", "invalid_amount"})
# What PostPayments may answer for one payment; any other refusal makes the answer unusable.
POSTING_REFUSALS = frozenset({"not_found", "reference_conflict", "invalid_amount"})
MAX_AMOUNT = Decimal("1e12")

T = TypeVar("T")


class _Garbage(Exception):
    """The answer parsed but its content is unusable."""


def _text(value: Any, field: str, *, optional: bool = False, max_len: int = 200) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise _Garbage(field)
    return value


def _date(value: Any, field: str, *, optional: bool = False) -> date | None:
    if value is None and optional:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise _Garbage(field)
    return value


def _items(answer: Any, name: str) -> list[Any]:
    """The repeated element ``name`` of a wrapped response (zeep may hand back the list itself)."""
    items = answer if isinstance(answer, list) else getattr(answer, name, None) if answer else None
    return list(items or [])


def _money(value: Any, field: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _Garbage(field)
    return value.quantize(Decimal("0.01"))


@implementer(IBilling)
class SoapBilling:
    system = SYSTEM

    def __init__(
        self,
        wsdl_url: str = str(WSDL_PATH),
        *,
        endpoint: str | None = None,
        timeout: float = 10.0,
        operation_timeout: float = 5.0,
        verify: str | bool = True,
        page_size: int = 5000,
    ) -> None:
        if timeout <= 0 or operation_timeout <= 0:
            raise ValueError("billing: timeouts must be positive")
        self.wsdl_url = wsdl_url
        self.endpoint = endpoint
        self.timeout = timeout
        self.operation_timeout = operation_timeout
        self.verify = verify
        if not 0 < page_size <= 10_000:
            raise ValueError("billing: payments_page_size must be 1-10000")
        self.page_size = page_size
        self._service: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_context(cls, context: ConnectorContext) -> SoapBilling:
        endpoint = context.options.get("endpoint") or None
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"connector {context.name}: setting 'endpoint' must be an http(s) URL")
        ca_file = context.options.get("ca_file")
        return cls(
            context.options.get("wsdl_url") or str(WSDL_PATH),
            endpoint=endpoint,
            timeout=context.float_option("timeout", 10.0),
            operation_timeout=context.float_option("operation_timeout", 5.0),
            verify=ca_file if ca_file else True,
            page_size=int(context.float_option("payments_page_size", 5000)),
        )

    # -- plumbing ---------------------------------------------------------------

    def _unavailable(self, why: str) -> ConnectorUnavailable:
        return ConnectorUnavailable(f"{self.system}: {why}", system=self.system)

    def _get_service(self) -> Any:
        if self._service is not None:
            return self._service
        with self._lock:
            if self._service is None:
                session = requests.Session()
                session.verify = self.verify
                transport = Transport(
                    session=session, timeout=self.timeout, operation_timeout=self.operation_timeout
                )
                settings = zeep.Settings(
                    strict=True,
                    forbid_dtd=True,
                    forbid_entities=True,
                    forbid_external=True,
                    xml_huge_tree=False,
                )
                try:
                    client = zeep.Client(self.wsdl_url, transport=transport, settings=settings)
                    if self.endpoint:
                        service = client.create_service(BINDING, self.endpoint)
                    else:
                        service = client.service
                except (
                    requests.RequestException,
                    zeep.exceptions.Error,
                    etree.LxmlError,
                    OSError,
                    ValueError,
                ):
                    raise self._unavailable("cannot load the billing WSDL") from None
                self._client = client
                self._service = service
        return self._service

    def _call(self, operation: str, convert: Callable[[Any], T], **kwargs: Any) -> T:
        service = self._get_service()
        try:
            answer = getattr(service, operation)(**kwargs)
        except zeep.exceptions.Fault as fault:
            raise self._from_fault(fault) from None
        except requests.Timeout:
            raise self._unavailable("timed out") from None
        except requests.RequestException as exc:
            raise self._unavailable(f"no answer ({type(exc).__name__})") from None
        except (zeep.exceptions.Error, etree.LxmlError, ValueError, TypeError, AttributeError) as exc:
            # HTML error pages, truncated XML, answers that break the schema.
            raise self._unavailable(f"garbage answer ({type(exc).__name__})") from None
        try:
            return convert(answer)
        except (_Garbage, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise self._unavailable(f"garbage answer ({exc.__class__.__name__}: {exc})") from None

    def _from_fault(self, fault: zeep.exceptions.Fault) -> Exception:
        code, numbers = None, []
        detail = fault.detail
        if detail is not None:
            node = detail.find(f"{{{NS}}}BillingFault")
            if node is not None:
                code = (node.findtext(f"{{{NS}}}code") or "").strip()
                numbers = [
                    n.text.strip()
                    for n in node.findall(f"{{{NS}}}consumerNumber")
                    if n.text and is_consumer_number(n.text.strip())
                ]
        if code == "not_found":
            if numbers:
                return UnknownConsumers(numbers, system=self.system)
            return NotFound(f"{self.system}: not found", system=self.system)
        if code in REJECTION_CODES:
            return ConnectorRejected(f"{self.system}: rejected ({code})", system=self.system, code=code)
        return self._unavailable(f"SOAP fault ({code or 'no detail'})")

    # -- conversions --------------------------------------------------------------

    def _consumer(self, c: Any) -> Consumer:
        number = _text(c.consumerNumber, "consumerNumber")
        if not is_consumer_number(number):
            raise _Garbage("consumerNumber")
        samagra = _text(c.samagraId, "samagraId", optional=True)
        if samagra is not None and not is_samagra_id(samagra):
            raise _Garbage("samagraId")
        mobile = _text(c.mobile, "mobile")
        if not is_mobile(mobile):
            raise _Garbage("mobile")
        return Consumer(
            consumer_number=number,
            name_en=_text(c.nameEn, "nameEn", max_len=120),
            name_hi=_text(c.nameHi, "nameHi", max_len=120),
            samagra_id=samagra,
            mobile=mobile,
            district=_text(c.district, "district", max_len=40),
            offices=OfficeCodes(
                dc=_text(c.dcCode, "dcCode", max_len=16),
                zone=_text(c.zoneCode, "zoneCode", max_len=16),
                division=_text(c.divisionCode, "divisionCode", max_len=16),
                circle=_text(c.circleCode, "circleCode", max_len=16),
            ),
            category=_text(c.category, "category", max_len=8),
            connection_status=ConnectionStatus(c.connectionStatus),
        )

    def _consumers(self, answer: Any) -> list[Consumer]:
        return [self._consumer(c) for c in _items(answer, "consumer")]

    @staticmethod
    def _single(answer: Any, name: str) -> Any:
        # zeep hands back the only child of a wrapped response directly; be explicit.
        inner = getattr(answer, name, answer) if not isinstance(answer, (str, list)) else answer
        if inner is None:
            raise _Garbage(name)
        return inner

    def _posting(self, answer: Any) -> PostingReceipt:
        return self._receipt(self._single(answer, "posting"))

    def _receipt(self, p: Any) -> PostingReceipt:
        posted_at = p.postedAt
        if not isinstance(posted_at, datetime) or posted_at.tzinfo is None:
            raise _Garbage("postedAt")
        if not isinstance(p.duplicate, bool):
            raise _Garbage("duplicate")
        return PostingReceipt(
            reference=_text(p.reference, "reference", max_len=64),
            consumer_number=_text(p.consumerNumber, "consumerNumber"),
            amount=_money(p.amount, "amount"),
            receipt_number=_text(p.receiptNumber, "receiptNumber", max_len=64),
            posted_at=posted_at,
            duplicate=p.duplicate,
            balance_after=_money(p.balanceAfter, "balanceAfter"),
        )

    # -- IBilling -------------------------------------------------------------------

    def heartbeat(self) -> None:
        def check(answer: Any) -> None:
            if not isinstance(answer, datetime):
                raise _Garbage("serverTime")

        self._call("Ping", check)

    def get_consumer(self, consumer_number: str) -> Consumer:
        if not is_consumer_number(consumer_number):
            raise NotFound(f"{self.system}: unknown consumer number", system=self.system)

        def convert(answer: Any) -> Consumer:
            consumer = self._consumer(self._single(answer, "consumer"))
            if consumer.consumer_number != consumer_number:
                raise _Garbage("answer for another consumer")
            return consumer

        return self._call("GetConsumer", convert, consumerNumber=consumer_number)

    def connections_by_samagra(self, samagra_id: str) -> list[Consumer]:
        if not is_samagra_id(samagra_id):
            return []
        return self._call("FindConnectionsBySamagra", self._consumers, samagraId=samagra_id)

    def connections_by_mobile(self, mobile: str) -> list[Consumer]:
        if not is_mobile(mobile):
            return []
        return self._call("FindConnectionsByMobile", self._consumers, mobile=mobile)

    def outstanding_dues(self, consumer_number: str, as_of: date | None = None) -> OutstandingDues:
        try:
            return self.outstanding_dues_many([consumer_number], as_of)[consumer_number]
        except UnknownConsumers:
            raise NotFound(f"{self.system}: unknown consumer number", system=self.system) from None

    def outstanding_dues_many(
        self, consumer_numbers: Sequence[str], as_of: date | None = None
    ) -> Mapping[str, OutstandingDues]:
        if len(consumer_numbers) > MAX_DUES_BATCH:
            raise ConnectorRejected(
                f"{self.system}: at most {MAX_DUES_BATCH} connections per call", system=self.system
            )
        wanted = list(dict.fromkeys(consumer_numbers))
        malformed = [n for n in wanted if not is_consumer_number(n)]
        if malformed:
            raise UnknownConsumers(malformed, system=self.system)
        if not wanted:
            return {}
        as_of = as_of or india_today()

        def convert(answer: Any) -> dict[str, OutstandingDues]:
            items = _items(answer, "dues")
            result: dict[str, OutstandingDues] = {}
            for d in items:
                number = _text(d.consumerNumber, "consumerNumber")
                if number not in wanted or number in result:
                    raise _Garbage("dues for a connection not asked about")
                if _date(d.asOf, "asOf") != as_of:
                    raise _Garbage("dues as of another date")
                result[number] = OutstandingDues(
                    consumer_number=number,
                    amount=_money(d.amount, "amount"),
                    as_of=as_of,
                    evidence_id=_text(d.evidenceId, "evidenceId", max_len=64),
                    last_bill_date=_date(d.lastBillDate, "lastBillDate", optional=True),
                )
            if set(result) != set(wanted):
                # Billing must answer for every number or fault: never decide on a partial answer.
                raise _Garbage("dues missing for some connections")
            return result

        return self._call("GetOutstandingDues", convert, asOf=as_of, consumerNumber=wanted)

    def meter_status(self, consumer_number: str) -> MeterStatus:
        if not is_consumer_number(consumer_number):
            raise NotFound(f"{self.system}: unknown consumer number", system=self.system)

        def convert(answer: Any) -> MeterStatus:
            return self._meter(self._single(answer, "meter"), consumer_number)

        return self._call("GetMeterStatus", convert, consumerNumber=consumer_number)

    def _meter(self, m: Any, consumer_number: str) -> MeterStatus:
        if m.consumerNumber != consumer_number:
            raise _Garbage("answer for another consumer")
        return MeterStatus(
            consumer_number=consumer_number,
            meter_number=_text(m.meterNumber, "meterNumber", max_len=32),
            meter_type=MeterType(m.meterType),
            health=MeterHealth(m.health),
            supply=SupplyState(m.supply),
            last_read_on=_date(m.lastReadOn, "lastReadOn", optional=True),
        )

    def office(self, code: str) -> Office:
        if not code or len(code) > 16:
            raise NotFound(f"{self.system}: unknown office", system=self.system)

        def convert(answer: Any) -> Office:
            o = self._single(answer, "office")
            if o.code != code:
                raise _Garbage("answer for another office")
            if o.level not in OFFICE_LEVELS:
                raise _Garbage("unknown office level")
            return Office(
                code=code,
                level=_text(o.level, "level", max_len=10),
                name_en=_text(o.nameEn, "nameEn", max_len=120),
                name_hi=_text(o.nameHi, "nameHi", max_len=120),
            )

        return self._call("GetOffice", convert, officeCode=code)

    def current_bill(self, consumer_number: str) -> Bill | None:
        if not is_consumer_number(consumer_number):
            raise NotFound(f"{self.system}: unknown consumer number", system=self.system)

        def convert(answer: Any) -> Bill | None:
            bill = getattr(answer, "bill", answer) if answer is not None else None
            return None if bill is None else self._bill(bill, consumer_number)

        return self._call("GetCurrentBill", convert, consumerNumber=consumer_number)

    def connections_many(self, consumer_numbers: Sequence[str]) -> Mapping[str, ConnectionRecord]:
        wanted = connections_asked(consumer_numbers)  # a malformed number is absent, without a round trip
        if not wanted:
            return {}

        def convert(answer: Any) -> dict[str, ConnectionRecord]:
            result: dict[str, ConnectionRecord] = {}
            answered: set[str] = set()
            for item in _items(answer, "connection"):
                number = item.consumerNumber
                if number not in wanted or number in answered:
                    raise _Garbage("an answer for a connection not asked about")
                answered.add(number)
                if item.consumer is None:
                    if item.bill is not None or item.meter is not None:
                        raise _Garbage("a bill or meter without its consumer")
                    continue  # billing does not know the number
                consumer = self._consumer(item.consumer)
                if consumer.consumer_number != number:
                    raise _Garbage("answer for another consumer")
                bill = None if item.bill is None else self._bill(item.bill, number)
                meter = None if item.meter is None else self._meter(item.meter, number)
                result[number] = ConnectionRecord(consumer, bill, meter)
            if len(answered) != len(wanted):
                # Billing must answer for every number: a missing one is not an unknown one.
                raise _Garbage("connections missing from the answer")
            return result

        return self._call("GetConnections", convert, consumerNumber=wanted)

    def _bill(self, bill: Any, consumer_number: str) -> Bill:
        if bill.consumerNumber != consumer_number:
            raise _Garbage("answer for another consumer")
        period = _text(bill.period, "period", max_len=7)
        bill_date = _date(bill.billDate, "billDate")
        due_date = _date(bill.dueDate, "dueDate")
        assert bill_date is not None and due_date is not None
        readings = [bill.previousReading, bill.currentReading, bill.units]
        if not all(isinstance(r, int) and r >= 0 for r in readings):
            raise _Garbage("readings")
        return Bill(
            consumer_number=consumer_number,
            bill_number=_text(bill.billNumber, "billNumber", max_len=64),
            period=period,
            bill_date=bill_date,
            due_date=due_date,
            current_amount=_money(bill.currentAmount, "currentAmount"),
            arrears=_money(bill.arrears, "arrears"),
            amount_due=_money(bill.amountDue, "amountDue"),
            late_payment_amount=_money(bill.latePaymentAmount, "latePaymentAmount"),
            previous_reading=int(bill.previousReading),
            current_reading=int(bill.currentReading),
            units=int(bill.units),
            meter_number=_text(bill.meterNumber, "meterNumber", optional=True, max_len=32),
            tariff_lines=tuple(
                TariffLine(
                    code=_text(line.code, "code", max_len=64),
                    label_en=_text(line.labelEn, "labelEn", max_len=120),
                    label_hi=_text(line.labelHi, "labelHi", max_len=120),
                    amount=_money(line.amount, "amount"),
                )
                for line in (bill.tariffLine or [])
            ),
        )

    def payments_posted(self, day: date) -> Iterator[LedgerPayment]:
        after: str | None = None
        while True:
            page = self._call("ListPayments", self._ledger_page, day=day, after=after, limit=self.page_size)
            for payment in page:
                if after is not None and payment.reference <= after:
                    raise self._unavailable("garbage answer (payments out of order)")
                after = payment.reference
                yield payment
            if len(page) < self.page_size:
                return

    def payments_posted_tsv(self, day: date) -> Iterator[str]:
        chunk: list[str] = []
        for payment in self.payments_posted(day):
            chunk.append(f"{payment.reference}\t{int(payment.amount * 100)}\n")
            if len(chunk) == self.page_size:
                yield "".join(chunk)
                chunk = []
        if chunk:
            yield "".join(chunk)

    def period_sales(self, period: str) -> Iterator[ConsumerSales]:
        if not is_period(period):
            raise ValueError("period must be YYYY-MM")
        after: str | None = None
        while True:
            page = self._call(
                "ListPeriodSales", self._sales_page(period), period=period, after=after, limit=self.page_size
            )
            for sale in page:
                # Out of order or repeated: paging after it would skip or repeat connections.
                if after is not None and sale.consumer_number <= after:
                    raise self._unavailable("garbage answer (sales out of order)")
                after = sale.consumer_number
                yield sale
            if len(page) < self.page_size:
                return

    def _sales_page(self, period: str) -> Callable[[Any], list[ConsumerSales]]:
        def convert(answer: Any) -> list[ConsumerSales]:
            items = _items(answer, "sale")
            page = []
            for item in items:
                units = item.units
                if not isinstance(units, int) or units < 0:
                    raise _Garbage("units")
                if not is_consumer_number(item.consumerNumber):
                    raise _Garbage("consumerNumber")
                page.append(
                    ConsumerSales(
                        consumer_number=_text(item.consumerNumber, "consumerNumber"),
                        period=period,
                        offices=OfficeCodes(
                            dc=_text(item.dcCode, "dcCode", max_len=16),
                            zone=_text(item.zoneCode, "zoneCode", max_len=16),
                            division=_text(item.divisionCode, "divisionCode", max_len=16),
                            circle=_text(item.circleCode, "circleCode", max_len=16),
                        ),
                        units=units,
                        billed=_money(item.billed, "billed"),
                        collected=_money(item.collected, "collected"),
                    )
                )
            if len(page) > self.page_size:
                raise _Garbage("a longer page than asked for")
            return page

        return convert

    def contact_changes(self, after: int, limit: int) -> ContactPage:
        if not 0 < limit <= MAX_CONTACT_PAGE:
            raise ValueError(f"limit must be 1-{MAX_CONTACT_PAGE}")

        def convert(answer: Any) -> ContactPage:
            more = answer.more
            if not isinstance(more, bool):
                raise _Garbage("more")
            changes = []
            last = after
            for item in answer.change or []:
                seq = item.seq
                # Out of order or repeated: going on after it would skip or repeat changes.
                if not isinstance(seq, int) or seq <= last:
                    raise _Garbage("seq")
                if not is_consumer_number(item.consumerNumber):
                    raise _Garbage("consumerNumber")
                changed_at = item.changedAt
                if not isinstance(changed_at, datetime) or changed_at.tzinfo is None:
                    raise _Garbage("changedAt")
                changes.append(
                    ContactChange(
                        seq=seq,
                        consumer_number=item.consumerNumber,
                        # Unchecked on purpose: the hub counts and skips what is not a mobile or e-mail.
                        mobile=_text(item.mobile or None, "mobile", optional=True, max_len=20),
                        email=_text(item.email or None, "email", optional=True, max_len=320),
                        changed_at=changed_at,
                    )
                )
                last = seq
            if len(changes) > limit:
                raise _Garbage("a longer page than asked for")
            return ContactPage(tuple(changes), last, more)

        return self._call("ListContactChanges", convert, after=after, limit=limit)

    def _ledger_page(self, answer: Any) -> list[LedgerPayment]:
        items = _items(answer, "payment")
        page = []
        for p in items:
            entry_date = _date(p.entryDate, "entryDate")
            assert entry_date is not None
            page.append(
                LedgerPayment(
                    reference=_text(p.reference, "reference", max_len=64),
                    consumer_number=_text(p.consumerNumber, "consumerNumber"),
                    amount=_money(p.amount, "amount"),
                    entry_date=entry_date,
                    receipt_number=_text(p.receiptNumber, "receiptNumber", optional=True, max_len=64),
                )
            )
        if len(page) > self.page_size:
            raise _Garbage("a longer page than asked for")
        return page

    def post_payment(
        self, consumer_number: str, amount: Decimal, payment_reference: str, paid_at: datetime, channel: str
    ) -> PostingReceipt:
        if paid_at.tzinfo is None:
            raise ValueError("paid_at must be timezone-aware")
        return self._call(
            "PostPayment",
            self._posting,
            paymentReference=payment_reference,
            consumerNumber=consumer_number,
            amount=Decimal(amount),
            paidAt=paid_at,
            channel=channel,
        )

    def post_payment_many(
        self, postings: Sequence[PaymentPosting]
    ) -> Mapping[str, PostingReceipt | ConnectorError]:
        check_postings(postings)
        answer: dict[str, PostingReceipt | ConnectorError] = {}
        sending: list[PaymentPosting] = []
        for posting in postings:
            # Refused here what billing's schema would refuse for the whole call.
            refusal = self._refused_before_sending(posting)
            if refusal is None:
                sending.append(posting)
            else:
                answer[posting.reference] = refusal
        if not sending:
            return answer

        def convert(reply: Any) -> dict[str, PostingReceipt | ConnectorError]:
            results = _items(reply, "result")
            if len(results) != len(sending):
                raise _Garbage("not one result per payment")
            outcome: dict[str, PostingReceipt | ConnectorError] = {}
            for posting, result in zip(sending, results, strict=True):
                if result.paymentReference != posting.reference:
                    raise _Garbage("results out of order")
                if (result.posting is None) == (result.refusal is None):
                    raise _Garbage("a result neither posted nor refused")
                if result.refusal is not None:
                    outcome[posting.reference] = self._refusal(result.refusal)
                    continue
                receipt = self._receipt(result.posting)
                if (receipt.reference, receipt.consumer_number, receipt.amount) != (
                    posting.reference,
                    posting.consumer_number,
                    posting.amount.quantize(Decimal("0.01")),
                ):
                    raise _Garbage("a posting other than the payment sent")
                outcome[posting.reference] = receipt
            return outcome

        answer.update(
            self._call(
                "PostPayments",
                convert,
                payment=[
                    {
                        "paymentReference": p.reference,
                        "consumerNumber": p.consumer_number,
                        "amount": Decimal(p.amount),
                        "paidAt": p.paid_at,
                        "channel": p.channel,
                    }
                    for p in sending
                ],
            )
        )
        return answer

    def _refused_before_sending(self, posting: PaymentPosting) -> ConnectorError | None:
        if not is_consumer_number(posting.consumer_number):
            return NotFound(f"{self.system}: unknown consumer number", system=self.system)
        amount = Decimal(posting.amount)
        if (
            not amount.is_finite()
            or not 0 < amount < MAX_AMOUNT
            or amount != amount.quantize(Decimal("0.01"))
        ):
            return ConnectorRejected(
                f"{self.system}: rejected (invalid_amount)", system=self.system, code="invalid_amount"
            )
        if not 0 < len(posting.reference) <= 64:
            return ConnectorRejected(
                f"{self.system}: rejected (invalid_reference)", system=self.system, code="invalid_reference"
            )
        return None

    def _refusal(self, code: Any) -> ConnectorError:
        if code not in POSTING_REFUSALS:
            raise _Garbage("refusal")
        if code == "not_found":
            return NotFound(f"{self.system}: not found", system=self.system)
        return ConnectorRejected(f"{self.system}: rejected ({code})", system=self.system, code=code)

    def post_credit(
        self, consumer_number: str, amount: Decimal, credit_reference: str, reason: str
    ) -> PostingReceipt:
        return self._call(
            "PostCredit",
            self._posting,
            creditReference=credit_reference,
            consumerNumber=consumer_number,
            amount=Decimal(amount),
            reason=reason,
        )

    def create_consumer(self, new: NewConsumer) -> Consumer:
        def convert(answer: Any) -> Consumer:
            return self._consumer(self._single(answer, "consumer"))

        return self._call(
            "CreateConsumer",
            convert,
            applicationReference=new.application_reference,
            nameEn=new.name_en,
            nameHi=new.name_hi,
            samagraId=new.samagra_id,
            mobile=new.mobile,
            dcCode=new.dc_code,
            category=new.category,
        )
