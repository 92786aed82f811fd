"""``CallCentreComplaintService`` at ``/soap/complaints``: the call centre's operations over SOAP 1.1 and 1.2.

The payload has passed the service XSD; the handlers read it into the same
fields the REST views read (so a wrong field is a Fault naming it, with the
same codes) and call the same :class:`~hub.complaints.service.ComplaintService`.
A ticket registered over REST and sent again over SOAP (or the other way round)
is the same complaint.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lxml import etree
from pyramid.config import Configurator
from pyramid.request import Request

from forms.identifiers import CONSUMER_NUMBER, MOBILE
from forms.reader import Reader
from hub.complaints.service import ComplaintService, Intake
from hub.complaints.views import COMPLAINT_NO, DESCRIPTION_MAX, TICKET_ID
from hub.errors import FieldError, Problem
from hub.soap import SoapCaller, child_texts

HERE = Path(__file__).parent
NS = "urn:discom-hub:complaints:1"
C = "{" + NS + "}"
PATH = "/soap/complaints"


def _service(request: Request) -> ComplaintService:
    service: ComplaintService = request.find_service(ComplaintService)
    return service


def _sub(parent: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    etree.SubElement(parent, C + name).text = text


def _status(parent: etree._Element, status: Mapping[str, Any]) -> None:
    for name in ("complaint_no", "ticket_id", "consumer_number", "complaint_type"):
        _sub(parent, name, status[name])
    _sub(parent, "type_en", status["type_label"]["en"])
    _sub(parent, "type_hi", status["type_label"]["hi"])
    _sub(parent, "status", status["status"])
    _sub(parent, "status_en", status["status_label"]["en"])
    _sub(parent, "status_hi", status["status_label"]["hi"])
    for name in (
        "office_code",
        "level",
        "with_role",
        "registered_at",
        "resolve_by",
        "resolved_at",
        "action_taken",
        "compensation",
        "compensation_credited",
    ):
        _sub(parent, name, status[name])


def register_complaint(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    service = _service(request)
    reader = Reader(
        child_texts(
            payload, NS, ("ticket_id", "consumer_number", "complaint_type", "description", "caller_mobile")
        )
    )
    ticket = reader.text("ticket_id", max_length=64, pattern=TICKET_ID)
    number = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    kind = reader.choice("complaint_type", tuple(service.standards.types))
    description = reader.text("description", max_length=DESCRIPTION_MAX)
    mobile = reader.text("caller_mobile", required=False, max_length=10, pattern=MOBILE)
    reader.done()
    assert ticket is not None and number is not None and kind is not None and description is not None
    registered = service.register(
        request.dbsession,
        Intake(
            channel="callcentre",
            filed_by=f"client:{caller.client_id}",
            consumer_number=number,
            complaint_type=kind,
            description=description,
            client_id=caller.client_id,
            ticket_id=ticket,
            mobile=mobile or None,
        ),
    )
    root = etree.Element(C + "registerComplaintResponse", nsmap={"c": NS})
    _sub(root, "created", registered.created)
    _status(
        etree.SubElement(root, C + "complaint"),
        service.describe(request.dbsession, registered.complaint, registered.case),
    )
    return root


def get_complaint(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    service = _service(request)
    number = (payload.findtext(C + "complaint_no") or "").strip()
    if not COMPLAINT_NO.fullmatch(number):
        raise Problem(
            "validation_failed", errors=[FieldError("complaint_no", "format", "has the wrong format")]
        )
    root = etree.Element(C + "getComplaintResponse", nsmap={"c": NS})
    _status(root, service.describe(request.dbsession, service.by_number(request.dbsession, number)))
    return root


def includeme(config: Configurator) -> None:
    config.add_soap_service(  # type: ignore[attr-defined]
        "complaints",
        PATH,
        HERE / "complaints.wsdl",
        [HERE / "complaints.xsd"],
        handlers={"registerComplaint": register_complaint, "getComplaint": get_complaint},
        scopes_by_operation={
            "registerComplaint": ["complaints:callcentre"],
            "getComplaint": ["complaints:read"],
        },
    )
