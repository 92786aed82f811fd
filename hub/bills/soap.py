"""``BillsService`` over SOAP 1.1 and 1.2 (hub.soap): the REST bill, receipt, payment and reconnection
operations, the same answers, signed.

Handlers read the payload (already XSD-valid) into the same plain data the REST views read and
call the same functions: :class:`~hub.bills.service.BillService` for bills, receipts and the
citizen-services portal's payment advice (read by ``read_notification``, recorded by ``accept``:
the one (channel, transaction id) key, so the same payment over SOAP and REST is one payment), and
:class:`~hub.meters.service.MeterService` for reconnections. Scopes are the REST operations'. The
answer is an lxml tree written from the REST answer's dict, field for field, and signed by
hub.soap per WS-Security (the envelope's Body and a Timestamp; see README).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lxml import etree
from pyramid.config import Configurator
from pyramid.request import Request

from hub.bills.service import BillService, Channel, describe_payment
from hub.errors import FieldError, Problem
from hub.lookup import process_service
from hub.meters.service import MeterService
from hub.soap import SoapCaller, SoapFault, child_texts
from hub.view_helpers import client_label

HERE = Path(__file__).parent
PATH = "/soap/bills"
NS = "urn:discom-hub:bills:1"
B = "{" + NS + "}"
NSMAP = {"b": NS}
OPERATIONS = ("FetchBill", "FetchBills", "GetReceipt", "NotifyPortalPayment", "GetReconnectionStatus")
PORTAL_FORMAT = "citizen_portal"
# Twenty-five consumer numbers fit in 2 KiB: nothing a partner sends here comes near this.
MAX_BODY = 64 * 1024
_BILL_FIELDS = (
    "bill_number",
    "period",
    "bill_date",
    "due_date",
    "amount",
    "late_payment_amount",
    "current_amount",
    "arrears",
)
_PAYMENT_FIELDS = (
    "payment_id",
    "channel",
    "transaction_id",
    "consumer_number",
    "amount",
    "paid_at",
    "state",
    "suspense_reason",
    "receipt_number",
    "posted_at",
)
_PORTAL_FIELDS = ("cs_txn_no", "ivrs_no", "bill_no", "amount_paise", "txn_datetime")
_COMMAND_FIELDS = (
    "transaction_id",
    "meter_no",
    "action",
    "payment_id",
    "status",
    "attempts",
    "failure_code",
    "requested_at",
    "updated_at",
    "executed_at",
)


def _bills(request: Request) -> BillService:
    return request.find_service(BillService)


def _fields(element: etree._Element, names: Sequence[str]) -> dict[str, str]:
    """The payload's fields trimmed: xs:token collapsed them for the schema's check, not in the tree."""
    return {name: text.strip() for name, text in child_texts(element, NS, names).items()}


def _sub(parent: etree._Element, name: str, value: Any) -> None:
    """``<b:name>value</b:name>`` under ``parent``, booleans as xs:boolean; nothing for None."""
    if value is None:
        return
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    etree.SubElement(parent, B + name).text = text


def _bill_answer(parent: etree._Element, answer: Mapping[str, Any]) -> None:
    _sub(parent, "consumer_number", answer["consumer_number"])
    _sub(parent, "status", answer["status"])
    bill = answer["bill"]
    if bill is not None:
        element = etree.SubElement(parent, B + "bill")
        for name in _BILL_FIELDS:
            _sub(element, name, bill[name])


def _payment(tag: str, payment: Mapping[str, Any]) -> etree._Element:
    root = etree.Element(B + tag, nsmap=NSMAP)
    for name in _PAYMENT_FIELDS:
        _sub(root, name, payment[name])
    return root


def fetch_bill(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    number = _fields(payload, ("consumer_number",))["consumer_number"]
    root = etree.Element(B + "FetchBillResponse", nsmap=NSMAP)
    _bill_answer(root, _bills(request).fetch_bill(number))
    return root


def fetch_bills(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    numbers = [(c.text or "").strip() for c in payload.iterchildren(B + "consumer_number")]
    root = etree.Element(B + "FetchBillsResponse", nsmap=NSMAP)
    # A number sent twice is answered once, in the order first sent, as REST answers it.
    for answer in _bills(request).fetch_bills(list(dict.fromkeys(numbers))):
        _bill_answer(etree.SubElement(root, B + "answer"), answer)
    return root


def _readable_channel(service: BillService, name: str, caller: SoapCaller) -> Channel:
    """A channel whose payments REST lets its own partner read (``get…Payment``), under its scope."""
    channel = service.channels.get(name)
    if channel is None or not (channel.status_operation_id and channel.scope):
        raise Problem(
            "not_found",
            errors=[FieldError("channel", "choice", "no channel of that name has a status read")],
        )
    if channel.scope not in caller.scopes:
        raise SoapFault("insufficient_scope")
    return channel


def get_receipt(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    question = _fields(payload, ("channel", "transaction_id", "receipt_number", "include_pdf"))
    service = _bills(request)
    channel = _readable_channel(service, question["channel"], caller)
    if "transaction_id" in question:
        payment = service.find_payment(request.dbsession, channel.name, question["transaction_id"])
    else:  # the schema's choice: one or the other
        payment = service.find_receipt(request.dbsession, channel.name, question["receipt_number"])
    if payment is None:
        raise Problem("not_found")
    root = _payment("GetReceiptResponse", describe_payment(payment))
    if question.get("include_pdf") in ("true", "1"):
        try:
            pdf = service.receipt_pdf(request.dbsession, payment)
        except Problem:
            pdf = None  # not posted, or its receipt not yet made: state and receipt_number say which
        if pdf is not None:
            _sub(root, "receipt_pdf", base64.b64encode(pdf).decode("ascii"))
    return root


def _portal_channel(service: BillService) -> Channel | None:
    return next((c for c in service.channels.values() if c.format == PORTAL_FORMAT), None)


def notify_portal_payment(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    service = _bills(request)
    channel = _portal_channel(service)
    if channel is None:
        raise Problem("not_found", "no citizen-services portal channel is configured")
    data: dict[str, Any] = _fields(payload, _PORTAL_FIELDS)
    # The schema admits whole paise only (xs:long, 1 to 10^9): the reader takes them as REST's integer.
    data["amount_paise"] = int(data["amount_paise"])
    fields = service.read_notification(channel, data)
    payment, created = service.accept(
        request.dbsession, channel, received_from=client_label(request), **fields
    )
    root = _payment("NotifyPortalPaymentResponse", describe_payment(payment))
    _sub(root, "outcome", "accepted" if created else "already_recorded")
    return root


def get_reconnection_status(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    number = _fields(payload, ("consumer_number",))["consumer_number"]
    meters: MeterService = request.find_service(MeterService)
    answer = meters.status_of(request.dbsession, number)
    root = etree.Element(B + "GetReconnectionStatusResponse", nsmap=NSMAP)
    _sub(root, "consumer_number", answer["consumer_number"])
    for command in answer["commands"]:
        element = etree.SubElement(root, B + "command")
        for name in _COMMAND_FIELDS:
            _sub(element, name, command[name])
    return root


def includeme(config: Configurator) -> None:
    service = process_service(config.registry, BillService)
    portal = _portal_channel(service)
    fetch = ["bills:fetch"]
    config.add_soap_service(
        "bills",
        PATH,
        HERE / "bills.wsdl",
        [HERE / "bills.xsd"],
        handlers={
            "FetchBill": fetch_bill,
            "FetchBills": fetch_bills,
            "GetReceipt": get_receipt,
            "NotifyPortalPayment": notify_portal_payment,
            "GetReconnectionStatus": get_reconnection_status,
        },
        scopes_by_operation={
            "FetchBill": fetch,
            "FetchBills": fetch,
            # The channel named in the request decides: its own scope, checked by the handler.
            "GetReceipt": [],
            "NotifyPortalPayment": [portal.scope]
            if portal is not None and portal.scope
            else ["bills:portal"],
            "GetReconnectionStatus": ["meters:read"],
        },
        # A bill, a receipt or an acknowledged payment is evidence the partner may have to produce.
        signed_operations=OPERATIONS,
        max_body=MAX_BODY,
    )
