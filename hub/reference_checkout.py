"""The reference payment gateway's checkout page, served while that backend is configured.

It stands in for the page a real gateway shows the payer: ``payment_url`` (a demand note's
"pay" link) opens it; paying marks the order paid in the gateway's own tables and the gateway
calls the hub's payment webhook server to server (``hub.payment.callback_url``), exactly as the
real one would. With a real gateway configured the route does not exist.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from connectors.errors import ConnectorError, NotFound
from connectors.payment import IPaymentGateway, OrderStatus
from connectors.payment.reference import ReferencePayment
from hub.openapi import text_schema
from hub.systems import find_connector

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


def _page(title: str, body: str, status: int = 200) -> Response:
    html = f"""<!doctype html><html lang="hi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>
<style>body{{font:16px/1.5 system-ui,"Noto Sans Devanagari",sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1.2rem;margin:.3rem .3rem 0 0}}.note{{color:#555}}</style></head>
<body><p class="note">संदर्भ भुगतान गेटवे / Reference payment gateway (development)</p>{body}</body></html>"""
    response = Response(html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def _gateway(request: Request) -> ReferencePayment:
    gateway = request.find_service(IPaymentGateway)
    assert isinstance(gateway, ReferencePayment)
    return gateway


def checkout(request: Request) -> Response:
    try:
        order = _gateway(request).get_order(str(request.matchdict["order_id"])[:60])
    except NotFound:
        return _page("Order not found", "<h1>आदेश नहीं मिला / Order not found</h1>", status=404)
    amount = f"₹ {order.amount:,.2f}"
    if order.status is OrderStatus.PAID:
        return _page("Paid", f"<h1>भुगतान हो चुका / Already paid</h1><p>{escape(amount)}</p>")
    return _page(
        "Pay",
        f"""<h1>भुगतान करें / Pay</h1>
<p>संदर्भ / Reference: <strong>{escape(order.reference)}</strong></p>
<p>राशि / Amount: <strong>{escape(amount)}</strong></p>
<form method="post"><button type="submit" name="outcome" value="success">₹ भुगतान करें / Pay {escape(amount)}</button>
<button type="submit" name="outcome" value="failed">भुगतान विफल / Fail the payment</button></form>""",
    )


def pay(request: Request) -> Response:
    from connectors.payment import PaymentStatus

    gateway = _gateway(request)
    order_id = str(request.matchdict["order_id"])[:60]
    outcome = PaymentStatus.SUCCESS if request.POST.get("outcome") == "success" else PaymentStatus.FAILED
    try:
        callback = gateway.complete_order(order_id, status=outcome)
    except NotFound:
        return _page("Order not found", "<h1>आदेश नहीं मिला / Order not found</h1>", status=404)
    try:
        status = gateway.notify(callback)
    except ConnectorError as exc:
        return _page("Not notified", f"<h1>भुगतान दर्ज / Payment recorded</h1><p>{escape(str(exc))}</p>")
    told = "सूचित / notified" if 200 <= status < 300 else f"सूचना विफल / notification failed ({status})"
    word = "सफल / successful" if outcome is PaymentStatus.SUCCESS else "विफल / failed"
    return _page(
        "Payment",
        f"<h1>भुगतान {escape(word)}</h1><p id='webhook'>Discom webhook: {escape(told)} (HTTP {status})</p>",
    )


def includeme(config: Configurator) -> None:
    payment = find_connector(config.registry, IPaymentGateway)
    if not isinstance(payment, ReferencePayment):
        return
    path = urlsplit(payment.checkout_url).path.rstrip("/") or "/reference/pay"
    config.add_route("reference.checkout", path + "/{order_id}")
    html = {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    order_id = {"name": "order_id", "in": "path", "required": True, "schema": text_schema(60)}
    form = {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"outcome": {"enum": ["success", "failed"]}}}
            }
        }
    }
    for view, method, operation, summary, extra in (
        (checkout, "GET", "referenceCheckoutPage", "The reference gateway's checkout page (development)", {}),
        (
            pay,
            "POST",
            "referenceCheckoutPay",
            "Pay (or fail) an order on the reference gateway, which then calls the hub's webhook",
            {"requestBody": form},
        ),
    ):
        config.add_view(
            view,
            route_name="reference.checkout",
            request_method=method,
            public=True,
            ratelimit="public",
            operation_id=operation,
            openapi={
                "summary": summary,
                "tags": ["reference systems"],
                "parameters": [order_id],
                "responses": {"200": html, "404": html},
                **extra,
            },
        )
