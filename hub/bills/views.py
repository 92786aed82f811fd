"""Bills and payments over REST: bill fetch, gateway orders, and one notification operation per channel.

The channels come from ``hub.bills.channels_file``: each gets
``POST /api/v1/bills/payments/<channel>`` under its own operationId and
authentication (the gateway's HMAC signature, or a bearer token with the
channel's scope), and, for the token channels, a status read of its payments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from forms.reader import Reader, parse_json_object
from hub.bills.service import (
    AMOUNT,
    CONSUMER_NUMBER,
    MAX_LINKED,
    RECEIPT_NUMBER,
    TRANSACTION_ID,
    BillService,
    Channel,
    describe_payment,
)
from hub.errors import Problem
from hub.lookup import process_service
from hub.openapi import text_schema
from hub.view_helpers import client_label, download

BASE = "/api/v1/bills"
ORDER_ID = TRANSACTION_ID


def service_of(request: Request) -> BillService:
    return request.find_service(BillService)


def fetch_bill(request: Request) -> dict[str, Any]:
    return service_of(request).fetch_bill(request.matchdict["consumer_number"])


def fetch_bills(request: Request) -> dict[str, Any]:
    reader = Reader(parse_json_object(request.body, request.content_type))
    numbers = reader.text_list(
        "consumer_numbers", max_items=MAX_LINKED, max_length=12, pattern=CONSUMER_NUMBER
    )
    reader.done()
    assert numbers is not None
    return {"bills": service_of(request).fetch_bills(list(dict.fromkeys(numbers)))}


def open_order(request: Request) -> dict[str, Any]:
    answer = service_of(request).open_order(
        request.dbsession, request.matchdict["consumer_number"], client_label(request)
    )
    request.response.status_code = 201
    return answer


def gateway_return(request: Request) -> dict[str, Any]:
    service = service_of(request)
    channel = next(c for c in service.channels.values() if c.format == "gateway_webhook")
    answer, created = service.browser_return(request.dbsession, channel, request.matchdict["order_id"])
    request.response.status_code = 202 if created else 200
    return answer


def notify(request: Request, channel: Channel) -> dict[str, Any]:
    service = service_of(request)
    session = request.dbsession
    if channel.format == "gateway_webhook":
        # Verified over the raw bytes as received: re-serialised JSON would not match the MAC.
        answer, created = service.gateway_notification(session, channel, request.body, dict(request.headers))
    elif channel.format == "counter_csv":
        if (request.content_type or "").lower() != "text/csv":
            raise Problem("unsupported_media_type", "send text/csv")
        lines = service.read_counter_file(request.body)
        recorded = []
        created = False
        for line in lines:
            payment, new = service.accept(
                session,
                channel,
                transaction_id=line["transaction_id"],
                consumer_number=line["consumer_number"],
                bill_number=None,
                amount=line["amount"],
                paid_at=line["paid_at"],
                received_from=client_label(request),
            )
            created = created or new
            recorded.append(
                {**describe_payment(payment), "outcome": "accepted" if new else "already_recorded"}
            )
        answer = {"lines": len(lines), "payments": recorded}
    else:
        data = parse_json_object(request.body, request.content_type)
        if channel.format == "citizen_portal" and isinstance(data.get("amount_paise"), float):
            reader = Reader(data)
            reader.problem("amount_paise", "type", "must be a whole number of paise, not a float")
            reader.done()
        fields = service.read_notification(channel, data)
        payment, created = service.accept(session, channel, received_from=client_label(request), **fields)
        answer = {**describe_payment(payment), "outcome": "accepted" if created else "already_recorded"}
    request.response.status_code = 202 if created else 200
    return answer


def get_payment(request: Request, channel: Channel) -> dict[str, Any]:
    payment = service_of(request).find_payment(
        request.dbsession, channel.name, request.matchdict["transaction_id"]
    )
    if payment is None:
        raise Problem("not_found")
    return describe_payment(payment)


def get_payment_by_receipt(request: Request, channel: Channel) -> dict[str, Any]:
    number = str(request.matchdict["receipt_number"])
    payment = (
        service_of(request).find_receipt(request.dbsession, channel.name, number)
        if RECEIPT_NUMBER.fullmatch(number)
        else None
    )
    if payment is None:
        raise Problem("not_found")
    return describe_payment(payment)


def _bound(view: Callable[[Request, Channel], Any], channel: Channel) -> Callable[[Request], Any]:
    def channel_view(request: Request) -> Any:
        return view(request, channel)

    channel_view.__name__ = f"{view.__name__}_{channel.name}"
    return channel_view


def bill_pdf(request: Request) -> Response:
    number = request.matchdict["consumer_number"]
    body = service_of(request).bill_pdf(request.dbsession, number, client_label(request))
    return download(body, "application/pdf", f"bill-{number}", "pdf")


def receipt_pdf(request: Request, channel: Channel) -> Response:
    service = service_of(request)
    payment = service.find_payment(request.dbsession, channel.name, request.matchdict["transaction_id"])
    if payment is None:
        raise Problem("not_found")
    return download(
        service.receipt_pdf(request.dbsession, payment), "application/pdf", f"receipt-{payment.id}", "pdf"
    )


PDF_RESPONSE = {
    "200": {"description": "signed PDF (PAdES), Hindi and English", "content": {"application/pdf": {}}}
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


BILL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["consumer_number", "status", "bill"],
    "properties": {
        "consumer_number": {"type": "string"},
        "status": {"type": "string", "enum": ["amount_due", "nothing_due", "consumer_not_found"]},
        "bill": {
            "type": ["object", "null"],
            "properties": {
                "bill_number": {"type": "string"},
                "period": {"type": "string"},
                "bill_date": {"type": "string", "format": "date"},
                "due_date": {"type": "string", "format": "date"},
                "amount": {
                    "type": "string",
                    "description": "rupees due now (a disconnected connection's charges included)",
                },
                "late_payment_amount": {
                    "type": "string",
                    "description": "rupees due after the due date (charges included)",
                },
                "current_amount": {"type": "string"},
                "arrears": {"type": "string"},
            },
        },
    },
}
PAYMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["payment_id", "channel", "transaction_id", "amount", "state"],
    "properties": {
        "payment_id": {"type": "integer"},
        "channel": {"type": "string"},
        "transaction_id": {"type": "string"},
        "consumer_number": {"type": "string"},
        "amount": {"type": "string"},
        "paid_at": {"type": "string", "format": "date-time"},
        "state": {"type": "string", "enum": ["accepted", "posting", "posted", "suspense", "refunded"]},
        "suspense_reason": {"type": ["string", "null"]},
        "receipt_number": {"type": ["string", "null"]},
        "posted_at": {"type": ["string", "null"], "format": "date-time"},
        "outcome": {"type": "string"},
    },
}
AMOUNT_SCHEMA = text_schema(13, AMOUNT, description='rupees as a string, e.g. "1830.00"; numbers are refused')
MOMENT_SCHEMA = {"type": "string", "maxLength": 40, "format": "date-time"}


def notification_schema(channel: Channel) -> tuple[str, dict[str, Any]]:
    ident = text_schema(64, TRANSACTION_ID)
    consumer = text_schema(12, CONSUMER_NUMBER)
    if channel.format == "bbps":
        return "application/json", {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "transaction_id",
                "receipt_id",
                "consumer_number",
                "bill_number",
                "amount",
                "paid_at",
            ],
            "properties": {
                "transaction_id": ident,
                "receipt_id": ident,
                "consumer_number": consumer,
                "bill_number": ident,
                "amount": AMOUNT_SCHEMA,
                "paid_at": MOMENT_SCHEMA,
            },
        }
    if channel.format == "citizen_portal":
        return "application/json", {
            "type": "object",
            "additionalProperties": False,
            "required": ["cs_txn_no", "ivrs_no", "amount_paise", "txn_datetime"],
            "properties": {
                "cs_txn_no": ident,
                "ivrs_no": consumer,
                "bill_no": ident,
                "amount_paise": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
                "txn_datetime": MOMENT_SCHEMA,
            },
        }
    if channel.format == "counter_csv":
        return "text/csv", {"type": "string", "maxLength": 10_485_760}
    return "application/json", {"type": "object"}


def includeme(config: Configurator) -> None:
    service = process_service(config.registry, BillService)
    upload_cap = int(config.get_settings()["hub.upload_max_body_bytes"])
    tags = ["bills"]
    consumer_param = [
        {
            "name": "consumer_number",
            "in": "path",
            "required": True,
            "schema": text_schema(12, CONSUMER_NUMBER),
        }
    ]
    routes: list[tuple[str, str, str, Callable[[Request], Any], dict[str, Any]]] = [
        (
            "bills.fetch_many",
            f"{BASE}/fetch",
            "POST",
            fetch_bills,
            {
                "operation_id": "fetchBills",
                "scopes": ["bills:fetch"],
                "openapi": {
                    "tags": tags,
                    "summary": f"Bills of up to {MAX_LINKED} connections (an account's linked connections)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["consumer_numbers"],
                                    "properties": {
                                        "consumer_numbers": {
                                            "type": "array",
                                            "maxItems": MAX_LINKED,
                                            "items": text_schema(12, CONSUMER_NUMBER),
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"bills": {"type": "array", "items": BILL_SCHEMA}},
                            },
                            "one answer per consumer number, in order",
                        )
                    },
                },
            },
        ),
        (
            "bills.order_return",
            f"{BASE}/payment-orders/{{order_id}}/return",
            "GET",
            gateway_return,
            {
                "operation_id": "returnFromGateway",
                "public": True,
                "ratelimit": "public",
                "openapi": {
                    "tags": tags,
                    "summary": "The payer's browser back from the gateway: the gateway's status API is asked",
                    "parameters": [
                        {
                            "name": "order_id",
                            "in": "path",
                            "required": True,
                            "schema": text_schema(64, ORDER_ID),
                        }
                    ],
                    "responses": {
                        "202": _json(PAYMENT_SCHEMA, "payment accepted"),
                        "200": _json(PAYMENT_SCHEMA, "payment already recorded"),
                    },
                },
            },
        ),
        (
            "bills.bill",
            f"{BASE}/{{consumer_number}}",
            "GET",
            fetch_bill,
            {
                "operation_id": "fetchBill",
                "scopes": ["bills:fetch"],
                "openapi": {
                    "tags": tags,
                    "summary": "Bill fetch by consumer number (IVRS): amount due, nothing due, or 404 consumer_not_found",
                    "parameters": consumer_param,
                    "responses": {"200": _json(BILL_SCHEMA, "amount_due or nothing_due")},
                },
            },
        ),
        (
            "bills.bill_pdf",
            f"{BASE}/{{consumer_number}}/bill.pdf",
            "GET",
            bill_pdf,
            {
                "operation_id": "fetchBillPdf",
                "scopes": ["bills:fetch"],
                "openapi": {
                    "tags": tags,
                    "summary": "The current bill as a signed PDF: readings, tariff lines, arrears, due dates, "
                    "UPI payment QR; made the first time it is asked for, then kept",
                    "parameters": consumer_param,
                    "responses": PDF_RESPONSE,
                },
            },
        ),
        (
            "bills.orders",
            f"{BASE}/{{consumer_number}}/payment-orders",
            "POST",
            open_order,
            {
                "operation_id": "openBillPaymentOrder",
                "scopes": ["bills:pay"],
                "openapi": {
                    "tags": tags,
                    "summary": "A gateway order for what the connection owes now; the payer goes to payment_url",
                    "parameters": consumer_param,
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "order_id": {"type": "string"},
                                    "consumer_number": {"type": "string"},
                                    "bill_number": {"type": "string"},
                                    "amount": {"type": "string"},
                                    "payment_url": {"type": "string", "format": "uri"},
                                    "expires_at": {"type": "string", "format": "date-time"},
                                },
                            },
                            "order opened",
                        )
                    },
                },
            },
        ),
    ]
    for channel in service.channels.values():
        media, schema = notification_schema(channel)
        auth: dict[str, Any]
        parameters: list[dict[str, Any]] = []
        if channel.format == "gateway_webhook":
            auth = {"public": True, "ratelimit": "public"}
            parameters = [
                {"name": "X-Payment-Timestamp", "in": "header", "required": True, "schema": text_schema(20)},
                {"name": "X-Payment-Signature", "in": "header", "required": True, "schema": text_schema(128)},
            ]
        else:
            auth = {"scopes": [channel.scope]}
        if channel.format == "counter_csv":
            auth["max_body"] = upload_cap
        routes.append(
            (
                f"bills.payments.{channel.name}",
                f"{BASE}/payments/{channel.name}",
                "POST",
                _bound(notify, channel),
                {
                    "operation_id": channel.operation_id,
                    **auth,
                    "openapi": {
                        "tags": tags,
                        "summary": channel.summary,
                        "parameters": parameters,
                        "requestBody": {"required": True, "content": {media: {"schema": schema}}},
                        "responses": {
                            "202": _json(PAYMENT_SCHEMA, "accepted: it will be posted to billing"),
                            "200": _json(PAYMENT_SCHEMA, "already recorded (the same notification again)"),
                        },
                    },
                },
            )
        )
        if channel.status_operation_id and channel.scope:
            routes.append(
                (
                    f"bills.payment.{channel.name}",
                    f"{BASE}/payments/{channel.name}/{{transaction_id}}",
                    "GET",
                    _bound(get_payment, channel),
                    {
                        "operation_id": channel.status_operation_id,
                        "scopes": [channel.scope],
                        "openapi": {
                            "tags": tags,
                            "summary": f"A payment notified on channel {channel.name}: state and receipt number",
                            "parameters": [
                                {
                                    "name": "transaction_id",
                                    "in": "path",
                                    "required": True,
                                    "schema": text_schema(64, TRANSACTION_ID),
                                }
                            ],
                            "responses": {"200": _json(PAYMENT_SCHEMA, "the payment")},
                        },
                    },
                )
            )
        if channel.status_operation_id and channel.scope:
            routes.append(
                (
                    f"bills.receipt.{channel.name}",
                    f"{BASE}/payments/{channel.name}/{{transaction_id}}/receipt.pdf",
                    "GET",
                    _bound(receipt_pdf, channel),
                    {
                        "operation_id": channel.status_operation_id + "Receipt",
                        "scopes": [channel.scope],
                        "openapi": {
                            "tags": tags,
                            "summary": f"The signed receipt of a posted payment of channel {channel.name}",
                            "parameters": [
                                {
                                    "name": "transaction_id",
                                    "in": "path",
                                    "required": True,
                                    "schema": text_schema(64, TRANSACTION_ID),
                                }
                            ],
                            "responses": PDF_RESPONSE,
                        },
                    },
                )
            )
    for channel in service.channels.values():
        if channel.status_operation_id and channel.scope:
            routes.append(
                (
                    f"bills.receipt_number.{channel.name}",
                    f"{BASE}/receipts/{channel.name}/{{receipt_number}}",
                    "GET",
                    _bound(get_payment_by_receipt, channel),
                    {
                        "operation_id": channel.status_operation_id + "ByReceipt",
                        "scopes": [channel.scope],
                        "openapi": {
                            "tags": tags,
                            "summary": f"A posted payment of channel {channel.name} by billing's receipt number",
                            "parameters": [
                                {
                                    "name": "receipt_number",
                                    "in": "path",
                                    "required": True,
                                    "schema": text_schema(32, RECEIPT_NUMBER),
                                }
                            ],
                            "responses": {"200": _json(PAYMENT_SCHEMA, "the payment")},
                        },
                    },
                )
            )
    for name, pattern, method, view, options in routes:
        config.add_route(name, pattern)
        config.add_view(view, route_name=name, request_method=method, renderer="json", **options)
