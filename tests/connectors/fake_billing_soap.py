"""A fake of the discom's SOAP billing service, served for real on 127.0.0.1.

It serves ``connectors/billing/billing.wsdl`` (address rewritten to itself)
and ``billing.xsd``, and answers every operation from in-memory data with
lxml, validating each request against the XSD as the real service would.
Misbehaviour comes from :class:`tests.connectors.fakehttp.FakeServer`
(``mode = "slow" | "garbage" | "error"``, ``down()``), plus ``fault_next``
to answer the next call with a given SOAP Fault.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.billing import (
    Bill,
    ConnectionStatus,
    Consumer,
    ContactChange,
    MeterStatus,
    Office,
    OfficeCodes,
)
from forms.safexml import parse_untrusted_xml
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer

HERE = Path(__file__).resolve().parents[2] / "connectors" / "billing"
NS = "urn:discom:billing:1"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_SCHEMA = etree.XMLSchema(etree.parse(str(HERE / "billing.xsd")))


def b(tag: str) -> str:
    return f"{{{NS}}}{tag}"


@dataclass
class BillingData:
    consumers: dict[str, Consumer] = field(default_factory=dict)
    # Each ledger entry: (date, amount in rupees; positive = owed).
    ledger: dict[str, list[tuple[date, Decimal]]] = field(default_factory=dict)
    meters: dict[str, MeterStatus] = field(default_factory=dict)
    offices: dict[str, Office] = field(default_factory=dict)
    postings: dict[str, tuple[str, Decimal, datetime, str]] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)
    next_serial: int = 1
    # Latest bill per consumer (its amount_due is recomputed from the ledger when asked).
    bills: dict[str, Bill] = field(default_factory=dict)
    # Ledger date of each payment posted (by reference), for ListPayments.
    payment_days: dict[str, date] = field(default_factory=dict)
    # Per billing month, per consumer number: (offices, units, billed, collected), for ListPeriodSales.
    sales: dict[str, dict[str, tuple[OfficeCodes, int, Decimal, Decimal]]] = field(default_factory=dict)
    # Each consumer's latest contact change, for ListContactChanges.
    contacts: dict[str, ContactChange] = field(default_factory=dict)
    # A billing system that pages its feed as it holds it, not by sequence number.
    contacts_unsorted: bool = False


class SoapFault(Exception):
    def __init__(self, code: str, fault_code: str = "soap:Client", numbers: tuple[str, ...] = ()) -> None:
        super().__init__(code)
        self.code = code
        self.fault_code = fault_code
        self.numbers = numbers


class FakeBillingSoap:
    def __init__(self, data: BillingData) -> None:
        self.data = data
        self.fault_next: SoapFault | None = None
        self.raw_next: bytes | None = None
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self.server = FakeServer(self.handle)

    def __enter__(self) -> FakeBillingSoap:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.down()

    @property
    def wsdl_url(self) -> str:
        return f"{self.server.url}/billing?wsdl"

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/billing"

    # -- HTTP -----------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET" and request.path.endswith("?wsdl"):
            return FakeResponse(200, self._wsdl(), {"Content-Type": "text/xml; charset=utf-8"})
        if request.method == "GET" and request.path == "/billing.xsd":
            return FakeResponse(200, (HERE / "billing.xsd").read_bytes(), {"Content-Type": "text/xml"})
        if request.method != "POST" or request.path != "/billing":
            return FakeResponse(404, b"not here")
        envelope = parse_untrusted_xml(request.body)
        body = envelope.find(f"{{{SOAP}}}Body")
        operation = body[0] if body is not None and len(body) else None
        if operation is None:
            return self._fault(SoapFault("invalid_request"))
        if self.raw_next is not None:
            raw, self.raw_next = self.raw_next, None
            return FakeResponse(200, raw, {"Content-Type": "text/xml; charset=utf-8"})
        if self.fault_next is not None:
            fault, self.fault_next = self.fault_next, None
            return self._fault(fault)
        if not _SCHEMA.validate(operation):
            return self._fault(SoapFault("invalid_request"))
        name = etree.QName(operation).localname
        self.calls.append(name)
        try:
            with self._lock:
                answer = getattr(self, "op_" + name)(operation)
        except SoapFault as fault:
            return self._fault(fault)
        assert _SCHEMA.validate(answer), _SCHEMA.error_log  # the fake must answer what the XSD says
        return self._envelope(answer, 200)

    def _wsdl(self) -> bytes:
        """The shipped WSDL with the XSD inlined and the address pointing here.

        zeep with ``forbid_external=True`` refuses http(s) imports from a
        fetched WSDL, so a WSDL served over the network must be self-contained.
        """
        wsdl = etree.parse(str(HERE / "billing.wsdl")).getroot()
        types = wsdl.find("{http://schemas.xmlsoap.org/wsdl/}types")
        assert types is not None
        for child in list(types):
            types.remove(child)
        types.append(etree.parse(str(HERE / "billing.xsd")).getroot())
        text = etree.tostring(wsdl, xml_declaration=True, encoding="UTF-8")
        return text.replace(b"http://billing.invalid/ngb/billing/v1", self.endpoint.encode())

    def _envelope(self, payload: etree._Element, status: int) -> FakeResponse:
        env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "b": NS})
        etree.SubElement(env, f"{{{SOAP}}}Body").append(payload)
        return FakeResponse(
            status,
            etree.tostring(env, xml_declaration=True, encoding="UTF-8"),
            {"Content-Type": "text/xml; charset=utf-8"},
        )

    def _fault(self, fault: SoapFault) -> FakeResponse:
        node = etree.Element(f"{{{SOAP}}}Fault")
        etree.SubElement(node, "faultcode").text = fault.fault_code
        etree.SubElement(node, "faultstring").text = "request refused"
        detail = etree.SubElement(node, "detail")
        info = etree.SubElement(detail, b("BillingFault"))
        etree.SubElement(info, b("code")).text = fault.code
        for number in fault.numbers:
            etree.SubElement(info, b("consumerNumber")).text = number
        return self._envelope(node, 500)

    # -- operations -------------------------------------------------------------------

    @staticmethod
    def _el(parent: etree._Element, tag: str, text: str | None) -> None:
        if text is not None:
            etree.SubElement(parent, b(tag)).text = text

    def _consumer_el(self, parent: etree._Element, tag: str, c: Consumer) -> None:
        node = etree.SubElement(parent, b(tag))
        for name, value in (
            ("consumerNumber", c.consumer_number),
            ("nameEn", c.name_en),
            ("nameHi", c.name_hi),
            ("samagraId", c.samagra_id),
            ("mobile", c.mobile),
            ("district", c.district),
            ("dcCode", c.offices.dc),
            ("zoneCode", c.offices.zone),
            ("divisionCode", c.offices.division),
            ("circleCode", c.offices.circle),
            ("category", c.category),
            ("connectionStatus", c.connection_status.value),
        ):
            self._el(node, name, value)

    def _consumer(self, number: str) -> Consumer:
        consumer = self.data.consumers.get(number)
        if consumer is None:
            raise SoapFault("not_found", numbers=(number,))
        return consumer

    def op_PingRequest(self, req: etree._Element) -> etree._Element:
        out = etree.Element(b("PingResponse"))
        self._el(out, "serverTime", datetime.now(UTC).isoformat())
        return out

    def op_GetConsumerRequest(self, req: etree._Element) -> etree._Element:
        out = etree.Element(b("GetConsumerResponse"))
        self._consumer_el(out, "consumer", self._consumer(req.findtext(b("consumerNumber")) or ""))
        return out

    def _find(self, predicate: Any) -> etree._Element:
        out = etree.Element(b("FindConnectionsResponse"))
        for c in sorted(self.data.consumers.values(), key=lambda c: c.consumer_number):
            if predicate(c):
                self._consumer_el(out, "consumer", c)
        return out

    def op_FindConnectionsBySamagraRequest(self, req: etree._Element) -> etree._Element:
        samagra = req.findtext(b("samagraId"))
        return self._find(lambda c: c.samagra_id == samagra)

    def op_FindConnectionsByMobileRequest(self, req: etree._Element) -> etree._Element:
        mobile = req.findtext(b("mobile"))
        return self._find(lambda c: c.mobile == mobile)

    def _balance(self, number: str, as_of: date | None = None) -> Decimal:
        return sum(
            (amount for day, amount in self.data.ledger.get(number, []) if as_of is None or day <= as_of),
            Decimal("0.00"),
        )

    def op_GetOutstandingDuesRequest(self, req: etree._Element) -> etree._Element:
        as_of = date.fromisoformat(req.findtext(b("asOf")) or "")
        numbers = [n.text or "" for n in req.findall(b("consumerNumber"))]
        unknown = tuple(n for n in numbers if n not in self.data.consumers)
        if unknown:
            raise SoapFault("not_found", numbers=unknown)
        out = etree.Element(b("GetOutstandingDuesResponse"))
        for number in numbers:
            node = etree.SubElement(out, b("dues"))
            self._el(node, "consumerNumber", number)
            self._el(node, "amount", f"{self._balance(number, as_of):.2f}")
            self._el(node, "asOf", as_of.isoformat())
            self._el(node, "evidenceId", f"NGB-{number}-{as_of:%Y%m%d}")
            bills = [day for day, amount in self.data.ledger.get(number, []) if amount > 0 and day <= as_of]
            self._el(node, "lastBillDate", max(bills).isoformat() if bills else None)
        return out

    def op_GetMeterStatusRequest(self, req: etree._Element) -> etree._Element:
        number = req.findtext(b("consumerNumber")) or ""
        if number not in self.data.meters:
            raise SoapFault("not_found")
        out = etree.Element(b("GetMeterStatusResponse"))
        self._meter_el(out, number)
        return out

    def _meter_el(self, parent: etree._Element, number: str) -> None:
        meter = self.data.meters.get(number)
        if meter is None:
            return
        node = etree.SubElement(parent, b("meter"))
        self._el(node, "consumerNumber", number)
        self._el(node, "meterNumber", meter.meter_number)
        self._el(node, "meterType", meter.meter_type.value)
        self._el(node, "health", meter.health.value)
        self._el(node, "supply", meter.supply.value)
        self._el(node, "lastReadOn", meter.last_read_on.isoformat() if meter.last_read_on else None)

    def op_GetOfficeRequest(self, req: etree._Element) -> etree._Element:
        office = self.data.offices.get(req.findtext(b("officeCode")) or "")
        if office is None:
            raise SoapFault("not_found")
        out = etree.Element(b("GetOfficeResponse"))
        node = etree.SubElement(out, b("office"))
        self._el(node, "code", office.code)
        self._el(node, "level", office.level)
        self._el(node, "nameEn", office.name_en)
        self._el(node, "nameHi", office.name_hi)
        return out

    def _post(self, tag: str, reference: str, number: str, amount: Decimal, day: date) -> etree._Element:
        out = etree.Element(b(tag))
        self._posting_el(out, reference, number, amount, day)
        return out

    def _posting_el(
        self, parent: etree._Element, reference: str, number: str, amount: Decimal, day: date
    ) -> None:
        self._consumer(number)
        duplicate = reference in self.data.postings
        if duplicate:
            first_number, first_amount, posted_at, receipt = self.data.postings[reference]
            if (first_number, first_amount) != (number, amount):
                raise SoapFault("reference_conflict")
        else:
            posted_at, receipt = datetime.now(UTC), f"NGBR{len(self.data.postings) + 1:08d}"
            self.data.postings[reference] = (number, amount, posted_at, receipt)
            self.data.ledger.setdefault(number, []).append((day, -amount))
        node = etree.SubElement(parent, b("posting"))
        for name, value in (
            ("reference", reference),
            ("consumerNumber", number),
            ("amount", f"{amount:.2f}"),
            ("receiptNumber", receipt),
            ("postedAt", posted_at.isoformat()),
            ("duplicate", "true" if duplicate else "false"),
            ("balanceAfter", f"{self._balance(number):.2f}"),
        ):
            self._el(node, name, value)

    def op_GetCurrentBillRequest(self, req: etree._Element) -> etree._Element:
        number = req.findtext(b("consumerNumber")) or ""
        self._consumer(number)
        out = etree.Element(b("GetCurrentBillResponse"))
        self._bill_el(out, number)
        return out

    def op_GetConnectionsRequest(self, req: etree._Element) -> etree._Element:
        out = etree.Element(b("GetConnectionsResponse"))
        for number in [n.text or "" for n in req.findall(b("consumerNumber"))]:
            node = etree.SubElement(out, b("connection"))
            self._el(node, "consumerNumber", number)
            consumer = self.data.consumers.get(number)
            if consumer is not None:
                self._consumer_el(node, "consumer", consumer)
                self._bill_el(node, number)
                self._meter_el(node, number)
        return out

    def _bill_el(self, parent: etree._Element, number: str) -> None:
        bill = self.data.bills.get(number)
        if bill is None:
            return
        node = etree.SubElement(parent, b("bill"))
        for name, value in (
            ("consumerNumber", number),
            ("billNumber", bill.bill_number),
            ("period", bill.period),
            ("billDate", bill.bill_date.isoformat()),
            ("dueDate", bill.due_date.isoformat()),
            ("currentAmount", f"{bill.current_amount:.2f}"),
            ("arrears", f"{bill.arrears:.2f}"),
            ("amountDue", f"{self._balance(number):.2f}"),
            ("latePaymentAmount", f"{bill.late_payment_amount:.2f}"),
            ("previousReading", str(bill.previous_reading)),
            ("currentReading", str(bill.current_reading)),
            ("units", str(bill.units)),
            ("meterNumber", bill.meter_number),
        ):
            self._el(node, name, value)
        for line in bill.tariff_lines:
            item = etree.SubElement(node, b("tariffLine"))
            for name, value in (
                ("code", line.code),
                ("labelEn", line.label_en),
                ("labelHi", line.label_hi),
                ("amount", f"{line.amount:.2f}"),
            ):
                self._el(item, name, value)

    def op_ListPaymentsRequest(self, req: etree._Element) -> etree._Element:
        day = date.fromisoformat(req.findtext(b("day")) or "")
        after = req.findtext(b("after"))
        limit = int(req.findtext(b("limit")) or "0")
        references = sorted(
            r for r, d in self.data.payment_days.items() if d == day and (after is None or r > after)
        )[:limit]
        out = etree.Element(b("ListPaymentsResponse"))
        for reference in references:
            number, amount, _, receipt = self.data.postings[reference]
            node = etree.SubElement(out, b("payment"))
            for name, value in (
                ("reference", reference),
                ("consumerNumber", number),
                ("amount", f"{amount:.2f}"),
                ("entryDate", day.isoformat()),
                ("receiptNumber", receipt),
            ):
                self._el(node, name, value)
        return out

    def op_ListPeriodSalesRequest(self, req: etree._Element) -> etree._Element:
        period = req.findtext(b("period")) or ""
        after = req.findtext(b("after"))
        limit = int(req.findtext(b("limit")) or "0")
        month = self.data.sales.get(period, {})
        numbers = sorted(n for n in month if after is None or n > after)[:limit]
        out = etree.Element(b("ListPeriodSalesResponse"))
        for number in numbers:
            offices, units, billed, collected = month[number]
            node = etree.SubElement(out, b("sale"))
            for name, value in (
                ("consumerNumber", number),
                ("dcCode", offices.dc),
                ("zoneCode", offices.zone),
                ("divisionCode", offices.division),
                ("circleCode", offices.circle),
                ("units", str(units)),
                ("billed", f"{billed:.2f}"),
                ("collected", f"{collected:.2f}"),
            ):
                self._el(node, name, value)
        return out

    def op_ListContactChangesRequest(self, req: etree._Element) -> etree._Element:
        after = int(req.findtext(b("after")) or "0")
        limit = int(req.findtext(b("limit")) or "0")
        waiting = [c for c in self.data.contacts.values() if c.seq > after]
        if not self.data.contacts_unsorted:
            waiting.sort(key=lambda c: c.seq)
        out = etree.Element(b("ListContactChangesResponse"))
        for change in waiting[:limit]:
            node = etree.SubElement(out, b("change"))
            self._el(node, "seq", str(change.seq))
            self._el(node, "consumerNumber", change.consumer_number)
            if change.mobile is not None:
                self._el(node, "mobile", change.mobile)
            if change.email is not None:
                self._el(node, "email", change.email)
            self._el(node, "changedAt", change.changed_at.isoformat())
        self._el(out, "more", "true" if len(waiting) > limit else "false")
        return out

    def op_PostPaymentRequest(self, req: etree._Element) -> etree._Element:
        paid_at = datetime.fromisoformat(req.findtext(b("paidAt")) or "")
        self.data.payment_days.setdefault(req.findtext(b("paymentReference")) or "", paid_at.date())
        return self._post(
            "PostPaymentResponse",
            req.findtext(b("paymentReference")) or "",
            req.findtext(b("consumerNumber")) or "",
            Decimal(req.findtext(b("amount")) or "0"),
            paid_at.date(),
        )

    def op_PostPaymentsRequest(self, req: etree._Element) -> etree._Element:
        out = etree.Element(b("PostPaymentsResponse"))
        for payment in req.findall(b("payment")):
            reference = payment.findtext(b("paymentReference")) or ""
            paid_at = datetime.fromisoformat(payment.findtext(b("paidAt")) or "")
            result = etree.SubElement(out, b("result"))
            self._el(result, "paymentReference", reference)
            try:
                self._posting_el(
                    result,
                    reference,
                    payment.findtext(b("consumerNumber")) or "",
                    Decimal(payment.findtext(b("amount")) or "0"),
                    paid_at.date(),
                )
            except SoapFault as refused:
                self._el(result, "refusal", refused.code)
            else:
                self.data.payment_days.setdefault(reference, paid_at.date())
        return out

    def op_PostCreditRequest(self, req: etree._Element) -> etree._Element:
        return self._post(
            "PostCreditResponse",
            req.findtext(b("creditReference")) or "",
            req.findtext(b("consumerNumber")) or "",
            Decimal(req.findtext(b("amount")) or "0"),
            date.today(),
        )

    def op_CreateConsumerRequest(self, req: etree._Element) -> etree._Element:
        reference = req.findtext(b("applicationReference")) or ""
        dc = req.findtext(b("dcCode")) or ""
        if not dc.startswith("DC-"):
            raise SoapFault("unknown_office")
        number = self.data.created.get(reference)
        if number is None:
            number = f"{dc[3:6]}5{self.data.next_serial:05d}0"
            self.data.next_serial += 1
            self.data.created[reference] = number
            self.data.consumers[number] = Consumer(
                consumer_number=number,
                name_en=req.findtext(b("nameEn")) or "",
                name_hi=req.findtext(b("nameHi")) or "",
                samagra_id=req.findtext(b("samagraId")),
                mobile=req.findtext(b("mobile")) or "",
                district="Bhopal",
                offices=OfficeCodes(dc=dc, zone="ZON-BPL-1A", division="DIV-BPL-1", circle="CIR-BPL"),
                category=req.findtext(b("category")) or "",
                connection_status=ConnectionStatus.ACTIVE,
            )
        out = etree.Element(b("CreateConsumerResponse"))
        self._consumer_el(out, "consumer", self.data.consumers[number])
        return out
