"""CallCentreComplaintService through zeep, reading the WSDL from the hub on a real local server."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport

from hub.soap.envelope import HUB_FAULT_NS
from tests.hub.complaints.conftest import ComplaintFlow
from tests.hub.live_server import ThreadingServer

PATH = "/soap/complaints"


@pytest.fixture()
def soap(http_server: tuple[str, ThreadingServer], live_wsgi_app: Any, flow: ComplaintFlow) -> Any:
    base, server = http_server
    server.set_app(live_wsgi_app)
    # The call centre's own client, the one its REST calls use.
    session = requests.Session()
    session.headers.update(flow.callcentre)
    settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False)
    client = Client(
        f"{base}{PATH}?wsdl",
        transport=Transport(session=session, timeout=10, operation_timeout=30),
        settings=settings,
    )
    return client.service


def _fault(fault: Fault) -> tuple[str, list[str]]:
    assert fault.detail is not None
    code = fault.detail.find(f".//{{{HUB_FAULT_NS}}}code")
    fields = [
        f.text for f in fault.detail.findall(f".//{{{HUB_FAULT_NS}}}fieldError/{{{HUB_FAULT_NS}}}field")
    ]
    assert code is not None
    return str(code.text), fields


def test_call_centre_registers_over_soap_idempotently(soap: Any, flow: ComplaintFlow) -> None:
    number, mobile = flow.persona()
    fields = {
        "ticket_id": "SOAP-1912-1",
        "consumer_number": number,
        "complaint_type": "line_breakdown",
        "description": "तार टूटा है / wire snapped near pole 14",
    }
    answer = soap.registerComplaint(**fields)
    assert answer.created is True
    complaint = answer.complaint
    assert complaint.status == "open" and complaint.type_hi == "लाइन / केबल टूटना"
    assert complaint.office_code == flow.dc_of(number) and complaint.with_role == "dc_assistant_manager"
    again = soap.registerComplaint(**fields)
    assert again.created is False and again.complaint.complaint_no == complaint.complaint_no
    assert soap.getComplaint(complaint_no=complaint.complaint_no).status == "open"
    flow.drain()
    assert len(flow.sms(mobile, "complaint_registered")) == 1

    with pytest.raises(Fault) as conflict:
        soap.registerComplaint(**{**fields, "description": "something else"})
    assert _fault(conflict.value)[0] == "complaint_conflict"
    with pytest.raises(Fault) as unknown:
        soap.registerComplaint(**{**fields, "ticket_id": "SOAP-1912-2", "consumer_number": "1019999999"})
    assert _fault(unknown.value)[0] == "unknown_consumer_number"
    with pytest.raises(Fault) as bad:
        soap.registerComplaint(**{**fields, "ticket_id": "SOAP-1912-3", "complaint_type": "ghosts"})
    assert _fault(bad.value) == ("validation_failed", ["complaint_type"])
    # A ticket registered over REST, sent again over SOAP: the same complaint.
    rest = flow.call(status=201, ticket_id="SOAP-1912-4", consumer_number=number, description="Pole sparking")
    over_soap = soap.registerComplaint(
        ticket_id="SOAP-1912-4",
        consumer_number=number,
        complaint_type="supply_failure",
        description="Pole sparking",
    )
    assert over_soap.created is False and over_soap.complaint.complaint_no == rest.json["complaint_no"]
    with pytest.raises(Fault) as missing:
        soap.getComplaint(complaint_no="2612040009999")
    assert _fault(missing.value)[0] == "not_found"
