"""SingleWindowService through zeep, reading our WSDL from the hub on a real local server (LIVE mode)."""

from __future__ import annotations

import base64
import copy
from decimal import Decimal
from typing import Any

import pytest
import requests
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport

from hub.lookup import process_service
from hub.soap.envelope import HUB_FAULT_NS
from hub.systems import Connectors
from tests.connectors.fake_singlewindow import FakeSingleWindow
from tests.hub.connections.conftest import Hub
from tests.hub.connections.samples import industrial_form

PATH = "/soap/singlewindow"


def _zeep_form(form: dict[str, Any]) -> dict[str, Any]:
    """The REST JSON form as zeep takes it: bytes for base64Binary, the list wrapped in its items."""
    out = copy.deepcopy(form)
    for doc in out["documents"]:
        if "content_base64" in doc:
            doc["content_base64"] = base64.b64decode(doc["content_base64"])
    out["documents"] = {"document": out["documents"]}
    return out


@pytest.fixture()
def soap(hub_url: str, live_client: Any) -> Any:
    made = live_client(["connections:apply", "payments:record"])
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {made['token']}"
    settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False)
    client = Client(
        f"{hub_url}{PATH}?wsdl",
        transport=Transport(session=session, timeout=10, operation_timeout=30),
        settings=settings,
    )
    return client.service


def fault_code(fault: Fault) -> str:
    assert fault.detail is not None
    code = fault.detail.find(f".//{{{HUB_FAULT_NS}}}code")
    assert code is not None
    return str(code.text)


def test_industrial_application_through_soap_to_release(
    soap: Any, hub: Hub, portal: FakeSingleWindow
) -> None:
    sw_id = "SW-SOAP-0001"
    form = _zeep_form(industrial_form(area_class="rural"))
    ack = soap.submitConnectionApplication(sw_application_id=sw_id, form_version=1, form_v1=form)
    assert ack.created is True and ack.status == "document_scrutiny"
    assert ack.statutory_days == 15 and ack.status_hi == "दस्तावेज़ों की जाँच"
    assert [s.step for s in ack.next_steps.next_step][-1] == "meter_installation"
    again = soap.submitConnectionApplication(sw_application_id=sw_id, form_version=1, form_v1=form)
    assert again.created is False and again.application_no == ack.application_no

    changed = copy.deepcopy(form)
    changed["contact"]["mobile"] = "9000000000"
    with pytest.raises(Fault) as conflict:
        soap.submitConnectionApplication(sw_application_id=sw_id, form_version=1, form_v1=changed)
    assert fault_code(conflict.value) == "application_conflict"

    hub.officer(sw_id, "raise_query", "dc_office_assistant", reason="साइट नक्शा अस्पष्ट है")
    status = soap.getConnectionApplication(sw_application_id=sw_id)
    assert status.status == "query_on_documents" and status.clock_paused is True
    assert status.query == "साइट नक्शा अस्पष्ट है"
    answered = soap.respondToQuery(sw_application_id=sw_id, answer="स्पष्ट नक्शा संलग्न")
    assert answered.status == "document_scrutiny" and answered.clock_paused is False

    hub.officer(sw_id, "accept_documents", "dc_office_assistant")
    hub.officer(sw_id, "inspection_passed", "dc_assistant_manager")
    hub.officer(sw_id, "issue_demand_note", "dc_manager")
    note = soap.getConnectionApplication(sw_application_id=sw_id)
    assert note.demand_amount == Decimal("2315000.00")

    # The single window relays the gateway's signed callback verbatim.
    app = hub.application(sw_id)
    callback = process_service(hub.app.app.registry, Connectors)["payment"].complete_order(
        app.payment_order_id
    )
    relayed = {
        "callback_body": callback.body,
        "payment_timestamp": callback.headers["X-Payment-Timestamp"],
        "payment_signature": callback.headers["X-Payment-Signature"],
    }
    paid = soap.recordPayment(**relayed)
    assert paid.outcome == "recorded" and paid.status == "sanction"
    with pytest.raises(Fault) as replay:
        soap.recordPayment(**relayed)
    assert fault_code(replay.value) == "payment_replayed"
    tampered = dict(relayed, callback_body=callback.body.replace(b"success", b"succes5"))
    with pytest.raises(Fault) as forged:
        soap.recordPayment(**tampered)
    assert fault_code(forged.value) == "payment_bad_signature"

    hub.officer(sw_id, "sanction", "dc_manager")
    hub.officer(sw_id, "release", "dc_assistant_manager")
    final = soap.getConnectionApplication(sw_application_id=sw_id)
    assert final.status == "closed" and final.consumer_number
    assert [e.action for e in final.history.event][-1] == "release"

    hub.drain()
    got = portal.updates_for(sw_id)
    assert [u.status for u in got][-3:] == ["sanction", "meter_installation", "closed"]
    assert [u.sequence for u in got] == list(range(1, len(got) + 1))
    assert got[-1].details["consumer_number"] == final.consumer_number


def test_soap_refusals_are_faults_with_stable_codes(soap: Any, hub: Hub, off_list_host: Any) -> None:
    form = _zeep_form(industrial_form())
    with pytest.raises(Fault) as unknown_version:
        soap.submitConnectionApplication(sw_application_id="SW-SOAP-V9", form_version=9, form_v1=form)
    assert fault_code(unknown_version.value) == "form_version_unknown"

    low = copy.deepcopy(form)
    low["supply"]["contract_demand"]["value"] = Decimal("10")
    with pytest.raises(Fault) as limits:
        soap.submitConnectionApplication(sw_application_id="SW-SOAP-LOW", form_version=1, form_v1=low)
    assert fault_code(limits.value) == "validation_failed"
    fields = [f.text for f in limits.value.detail.iter(f"{{{HUB_FAULT_NS}}}field")]
    assert "form/supply/contract_demand/value" in fields

    bad_hash = copy.deepcopy(form)
    bad_hash["documents"]["document"][1]["sha256"] = "0" * 64
    with pytest.raises(Fault) as mismatch:
        soap.submitConnectionApplication(sw_application_id="SW-SOAP-HASH", form_version=1, form_v1=bad_hash)
    assert fault_code(mismatch.value) == "document_hash_mismatch"

    off = copy.deepcopy(form)
    off["documents"]["document"][2] = {
        **{k: v for k, v in off["documents"]["document"][2].items() if k != "content_base64"},
        "url": off_list_host.server.url + "/incorporation.pdf",
    }
    with pytest.raises(Fault) as not_allowed:
        soap.submitConnectionApplication(sw_application_id="SW-SOAP-URL", form_version=1, form_v1=off)
    assert fault_code(not_allowed.value) == "document_url_not_allowed"
    assert off_list_host.requests == []

    ack = soap.submitConnectionApplication(sw_application_id="SW-SOAP-W", form_version=1, form_v1=form)
    withdrawn = soap.withdrawConnectionApplication(
        sw_application_id="SW-SOAP-W", reason="Project moved to Indore"
    )
    assert withdrawn.status == "withdrawn" and withdrawn.application_no == ack.application_no
    with pytest.raises(Fault) as closed:
        soap.respondToQuery(sw_application_id="SW-SOAP-W", answer="late")
    assert fault_code(closed.value) == "application_state_conflict"
