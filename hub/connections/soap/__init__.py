"""``SingleWindowService``: the same operations as the REST API, over SOAP 1.1 and 1.2 (hub.soap).

The payload has already passed the service XSD (generated from the form
definition for the form part); handlers read it into the same plain data the
REST views read, and call the same :class:`~hub.connections.service.ConnectionService`.
Refusals are Faults with the same stable codes, recorded as incidents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree
from pyramid.config import Configurator
from pyramid.request import Request

from connectors.payment import SIGNATURE_HEADER, TIMESTAMP_HEADER
from forms.errors import FormError
from forms.newconnection import read_application_xml, read_documents_xml
from hub.connections.service import ConnectionService
from hub.connections.views import record_incident_after
from hub.errors import FieldError, Problem
from hub.soap import SoapCaller

HERE = Path(__file__).parent
NS = "urn:discom-hub:connections:1"
C = "{" + NS + "}"
PATH = "/soap/singlewindow"


def _service(request: Request) -> ConnectionService:
    return request.find_service(ConnectionService)


@contextmanager
def recorded(request: Request, operation: str, caller: SoapCaller, reference: str | None) -> Iterator[None]:
    """Record refusals; a FormError becomes a Problem (a Fault with the field errors in its detail)."""
    try:
        yield
    except Problem as exc:
        record_incident_after(
            request, operation, exc.code, f"client:{caller.client_id}", reference, exc.detail or ""
        )
        raise
    except FormError as exc:
        detail = "; ".join(f"{p.field}: {p.code}" for p in exc.problems) or exc.message
        record_incident_after(request, operation, exc.code, f"client:{caller.client_id}", reference, detail)
        raise Problem(
            exc.code, exc.message, errors=[FieldError(p.field, p.code, p.message) for p in exc.problems]
        ) from None


def _text(payload: etree._Element, name: str) -> str:
    return (payload.findtext(C + name) or "").strip()


def _sub(parent: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    etree.SubElement(parent, C + name).text = text


def _status_element(tag: str, status: Mapping[str, Any]) -> etree._Element:
    root = etree.Element(C + tag, nsmap={"c": NS})
    _sub(root, "application_no", status["application_no"])
    _sub(root, "sw_application_id", status["sw_application_id"])
    _sub(root, "form_version", status["form_version"])
    _sub(root, "status", status["status"])
    _sub(root, "status_en", status["status_label"]["en"])
    _sub(root, "status_hi", status["status_label"]["hi"])
    _sub(root, "status_sequence", status["status_sequence"])
    _sub(root, "statutory_due_at", status["statutory_due_at"])
    _sub(root, "clock_paused", status["clock_paused"])
    _sub(root, "query", status["query"])
    note = status["demand_note"]
    if note is not None:
        _sub(root, "demand_note_number", note["number"])
        _sub(root, "demand_amount", Decimal(note["amount"]))
        _sub(root, "payment_url", note["payment_url"])
    _sub(root, "sanction_letter_number", status["sanction_letter_number"])
    _sub(root, "consumer_number", status["consumer_number"])
    _sub(root, "delay_days", status["delay_days"])
    _sub(root, "compensation", status["compensation"])
    history = etree.SubElement(root, C + "history")
    for event in status["history"]:
        item = etree.SubElement(history, C + "event")
        for name in ("seq", "at", "action", "from_status", "status", "by_role", "reason"):
            _sub(item, name, event[name])
    return root


def submit(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    sw_id = _text(payload, "sw_application_id")
    with recorded(request, "submitConnectionApplication", caller, sw_id):
        version = int(_text(payload, "form_version"))
        form_element = payload.find(C + f"form_v{version}")
        if form_element is None:
            # The version names a form this hub knows? Then the wrong element was sent.
            read_application_xml(version, etree.Element("absent"))  # raises form_version_unknown if unknown
            raise Problem("validation_failed", f"form_version {version} needs a form_v{version} element")
        form = read_application_xml(version, form_element)
        submitted = _service(request).submit(request.dbsession, sw_id, form, caller.client_id, "soap")
    ack = submitted.acknowledgement
    root = etree.Element(C + "submitConnectionApplicationResponse", nsmap={"c": NS})
    _sub(root, "created", submitted.created)
    for name in (
        "application_no",
        "sw_application_id",
        "form_version",
        "status",
    ):
        _sub(root, name, ack[name])
    _sub(root, "status_en", ack["status_label"]["en"])
    _sub(root, "status_hi", ack["status_label"]["hi"])
    for name in ("received_at", "statutory_days", "statutory_due_at", "statutory_due_date", "office_code"):
        _sub(root, name, ack[name])
    steps = etree.SubElement(root, C + "next_steps")
    for step in ack["next_steps"]:
        item = etree.SubElement(steps, C + "next_step")
        for name in ("step", "en", "hi"):
            _sub(item, name, step[name])
    return root


def get_application(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    service = _service(request)
    application = service.find(request.dbsession, _text(payload, "sw_application_id"), caller.client_id)
    return _status_element(
        "getConnectionApplicationResponse", service.describe(request.dbsession, application)
    )


def respond_to_query(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    service = _service(request)
    sw_id = _text(payload, "sw_application_id")
    with recorded(request, "respondToQuery", caller, sw_id):
        application = service.find(request.dbsession, sw_id, caller.client_id)
        element = payload.find(C + "documents")
        documents = () if element is None else read_documents_xml(application.form_version, element)
        status = service.respond_to_query(
            request.dbsession, sw_id, caller.client_id, _text(payload, "answer"), documents
        )
    return _status_element("respondToQueryResponse", status)


def withdraw(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    sw_id = _text(payload, "sw_application_id")
    with recorded(request, "withdrawConnectionApplication", caller, sw_id):
        status = _service(request).withdraw(
            request.dbsession, sw_id, caller.client_id, _text(payload, "reason")
        )
    return _status_element("withdrawConnectionApplicationResponse", status)


def record_payment(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    import base64

    with recorded(request, "recordPayment", caller, None):
        body = base64.b64decode(_text(payload, "callback_body"))
        headers = {
            TIMESTAMP_HEADER: _text(payload, "payment_timestamp"),
            SIGNATURE_HEADER: _text(payload, "payment_signature"),
        }
        outcome = _service(request).record_payment(request.dbsession, body, headers, channel="singlewindow")
    root = etree.Element(C + "recordPaymentResponse", nsmap={"c": NS})
    for name in ("application_no", "sw_application_id", "gateway_txn_id", "outcome", "status"):
        _sub(root, name, outcome[name])
    return root


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    apply = ["connections:apply"]
    config.add_soap_service(
        "singlewindow",
        PATH,
        HERE / "connections.wsdl",
        [HERE / "connections.xsd", HERE / "connection-form.xsd"],
        handlers={
            "submitConnectionApplication": submit,
            "getConnectionApplication": get_application,
            "respondToQuery": respond_to_query,
            "withdrawConnectionApplication": withdraw,
            "recordPayment": record_payment,
        },
        scopes_by_operation={
            "submitConnectionApplication": apply,
            "getConnectionApplication": apply,
            "respondToQuery": apply,
            "withdrawConnectionApplication": apply,
            "recordPayment": ["payments:record"],
        },
        # Documents travel inline: the upload cap, not the ordinary body cap.
        max_body=int(settings["hub.upload_max_body_bytes"]),
    )
