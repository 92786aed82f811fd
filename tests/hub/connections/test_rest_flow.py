"""New connections over REST, LIVE mode, with the fake single window receiving signed callbacks."""

from __future__ import annotations

import copy
import hashlib
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.billing.tables import RefLedgerEntry
from connectors.payment import PaymentStatus
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.connection import ConnectionApplication, ConnectionIncident, ConnectionPayment
from hub.models.outbox import OutboxMessage
from hub.models.workflow import WorkflowBreach, WorkflowCase
from hub.systems import Connectors, ReferenceStore
from tests.connectors.fake_singlewindow import FakeSingleWindow
from tests.hub.connections.conftest import DocumentHost, Hub
from tests.hub.connections.samples import PDF, document, industrial_form, lt_industrial_form, submission

URL = "/api/v1/connections/applications"
PAY = "/api/v1/connections/payments"
OA, AM, MGR = "dc_office_assistant", "dc_assistant_manager", "dc_manager"


@pytest.fixture()
def client(live_client: Any) -> dict[str, Any]:
    made: dict[str, Any] = live_client(["connections:apply"])
    return made


def incidents(hub: Hub, code: str) -> int:
    with Session(hub.engine) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(ConnectionIncident).where(ConnectionIncident.code == code)
            )
            or 0
        )


def pay(hub: Hub, sw_id: str, **kw: Any) -> Any:
    """The gateway: the payer pays the demand note's order; returns the signed callback."""
    order_id = hub.application(sw_id).payment_order_id
    assert order_id
    return process_service(hub.app.app.registry, Connectors)["payment"].complete_order(order_id, **kw)


def post_callback(hub: Hub, callback: Any, status: int = 200) -> Any:
    return hub.app.post(PAY, callback.body, headers=dict(callback.headers), status=status)


def statuses(portal: FakeSingleWindow, sw_id: str) -> list[str]:
    return [u.status for u in portal.updates_for(sw_id)]


def test_industrial_application_from_submission_to_release(
    hub: Hub, client: dict[str, Any], portal: FakeSingleWindow
) -> None:
    sw_id = "SW-REST-0001"
    body = submission(sw_id, industrial_form())
    first = hub.app.post_json(URL, body, headers=client["headers"], status=201).json
    assert first["status"] == "document_scrutiny"
    assert first["statutory_days"] == 7  # other urban
    assert first["application_no"].startswith("MPCZ/NC/")
    assert [s["step"] for s in first["next_steps"]][0] == "document_scrutiny"
    assert first["next_steps"][1]["hi"]
    # Same id, same payload: the same acknowledgement. Different payload: a conflict.
    assert hub.app.post_json(URL, body, headers=client["headers"], status=200).json == first
    changed = copy.deepcopy(body)
    changed["form"]["supply"]["contract_demand"]["value"] = "1300"
    conflict = hub.app.post_json(URL, changed, headers=client["headers"], status=409).json
    assert conflict["code"] == "application_conflict"
    assert conflict["application_no"] == first["application_no"]

    # Query round trip: the clock pauses while the single window owes the answer.
    hub.officer(sw_id, "raise_query", OA, reason="Ownership proof is not attested")
    due_before = hub.application(sw_id).acknowledgement["statutory_due_at"]
    answered = hub.app.post_json(
        f"{URL}/{sw_id}/query-response",
        {"answer": "Attested copy attached", "documents": [document("ownership_proof", b"attested")]},
        headers=client["headers"],
    ).json
    assert answered["status"] == "document_scrutiny"
    assert answered["statutory_due_at"] > due_before  # moved by the paused time

    hub.officer(sw_id, "accept_documents", OA)
    hub.officer(sw_id, "inspection_passed", AM)
    hub.officer(sw_id, "issue_demand_note", MGR)
    app = hub.application(sw_id)
    # 1,200 kVA HT: 5,000 + 1,50,000 fixed, 800 + 1,000 per kVA.
    assert app.demand_amount == Decimal("2315000.00")
    assert app.demand_note_number and "/DN/" in app.demand_note_number

    # The payment: a wrong amount is refused and changes nothing; the real one moves it on; a replay is refused.
    wrong = pay(hub, sw_id, amount=Decimal("100.00"))
    assert post_callback(hub, wrong, 422).json["code"] == "payment_amount_mismatch"
    assert hub.application(sw_id).status == "awaiting_payment"
    forged = copy.copy(wrong)
    forged_headers = dict(wrong.headers) | {"X-Payment-Signature": "v1=" + "0" * 64}
    assert (
        hub.app.post(PAY, wrong.body, headers=forged_headers, status=401).json["code"]
        == "payment_bad_signature"
    )
    good = pay(hub, sw_id)
    assert post_callback(hub, good).json["outcome"] == "recorded"
    assert post_callback(hub, good, 409).json["code"] == "payment_replayed"
    assert hub.application(sw_id).status == "sanction"
    assert incidents(hub, "payment_replayed") >= 1 and incidents(hub, "payment_amount_mismatch") >= 1
    del forged

    hub.officer(sw_id, "sanction", MGR)
    hub.officer(sw_id, "release", AM)
    app = hub.application(sw_id)
    assert app.status == "closed" and app.consumer_number and app.sanction_letter_number
    assert app.delay_days == 0 and app.compensation_amount is None

    hub.drain()
    assert statuses(portal, sw_id) == [
        "document_scrutiny",
        "query_on_documents",
        "document_scrutiny",
        "site_inspection",
        "demand_note",
        "awaiting_payment",
        "sanction",
        "meter_installation",
        "closed",
    ]
    updates = portal.updates_for(sw_id)
    assert [u.sequence for u in updates] == list(range(1, 10))
    assert updates[1].details["query"] == "Ownership proof is not attested"
    assert updates[5].details["amount"] == "2315000.00"
    assert updates[-1].details["consumer_number"] == app.consumer_number
    assert portal.kids == {"hub-sw-test-1"}  # every callback verified against our JWS key
    assert len({u.delivery_id for u in updates}) == 9

    pulled = hub.app.get(f"{URL}/{sw_id}", headers=client["headers"]).json
    assert pulled["status"] == "closed" and pulled["consumer_number"] == app.consumer_number
    assert [h["action"] for h in pulled["history"]][:3] == ["start", "raise_query", "answer"]


def test_rejection_with_reasons_reaches_the_single_window(
    hub: Hub, client: dict[str, Any], portal: FakeSingleWindow
) -> None:
    sw_id = "SW-REST-REJECT"
    hub.app.post_json(URL, submission(sw_id, lt_industrial_form()), headers=client["headers"], status=201)
    with pytest.raises(Problem) as refused_without_reason:
        hub.officer(sw_id, "reject", OA)
    assert refused_without_reason.value.extra == {"field": "reason"}
    hub.officer(sw_id, "reject", OA, reason="Premises lie in a no-industry zone")
    hub.drain()
    last = portal.updates_for(sw_id)[-1]
    assert last.status == "rejected" and last.details["reason"] == "Premises lie in a no-industry zone"
    refused = hub.app.post_json(
        f"{URL}/{sw_id}/withdrawal", {"reason": "too late"}, headers=client["headers"], status=409
    ).json
    assert refused["code"] == "application_state_conflict"


def test_withdrawal_and_objects_of_other_clients_look_missing(
    hub: Hub, client: dict[str, Any], live_client: Any
) -> None:
    sw_id = "SW-REST-WITHDRAW"
    hub.app.post_json(URL, submission(sw_id, lt_industrial_form()), headers=client["headers"], status=201)
    other = live_client(["connections:apply"])
    assert hub.app.get(f"{URL}/{sw_id}", headers=other["headers"], status=404).json["code"] == "not_found"
    done = hub.app.post_json(
        f"{URL}/{sw_id}/withdrawal", {"reason": "Plan dropped"}, headers=client["headers"]
    ).json
    assert done["status"] == "withdrawn"


def test_overdue_state_escalates_and_missed_statutory_date_is_compensated(
    hub: Hub, client: dict[str, Any], portal: FakeSingleWindow
) -> None:
    sw_id = "SW-REST-LATE"
    ack = hub.app.post_json(
        URL, submission(sw_id, lt_industrial_form(area_class="metro")), headers=client["headers"], status=201
    ).json
    assert ack["statutory_days"] == 3
    service = hub.service
    no = ack["application_no"]
    # Scrutiny has 48 hours: three days on, the periodic job records a breach and hands it to the DGM.
    later = hub.application(sw_id).created_at + timedelta(days=3)
    assert service.escalate_overdue(now=later) >= 1
    with Session(hub.engine) as session:
        case = session.scalars(select(WorkflowCase).where(WorkflowCase.subject_id == no)).one()
        assert case.assigned_role == "dgm" and case.escalation_level == 1
        breaches = session.scalars(select(WorkflowBreach).where(WorkflowBreach.case_id == case.id)).all()
        assert [b.state for b in breaches] == ["document_scrutiny"]
    # The DGM now holds it (the office assistant's role no longer sees the case move, the DGM acts).
    hub.officer(sw_id, "accept_documents", "dgm")
    hub.officer(sw_id, "inspection_passed", AM)
    hub.officer(sw_id, "issue_demand_note", MGR)
    post_callback(hub, pay(hub, sw_id))
    hub.officer(sw_id, "sanction", MGR)
    due = hub.app.get(f"{URL}/{sw_id}", headers=client["headers"]).json["statutory_due_at"]
    from datetime import datetime

    released_at = datetime.fromisoformat(due) + timedelta(days=2, hours=5)
    hub.officer(sw_id, "release", AM, now=released_at)
    app = hub.application(sw_id)
    assert app.delay_days == 3 and app.compensation_amount == Decimal("3000.00")
    hub.drain()
    app = hub.application(sw_id)
    assert app.compensation_receipt
    with Session(process_service(hub.app.app.registry, ReferenceStore).engine) as billing:
        credits = billing.scalars(
            select(RefLedgerEntry).where(RefLedgerEntry.reference == f"COMP/{no}")
        ).all()
        assert [(c.kind, c.amount_paise) for c in credits] == [("credit", -300000)]  # a credit lowers dues
    with Session(hub.engine) as session:
        statutory = session.scalars(
            select(WorkflowBreach).where(WorkflowBreach.state == "statutory_due_date")
        ).all()
        assert len(statutory) == 1
    closed = portal.updates_for(sw_id)[-1]
    assert closed.status == "closed" and closed.details["compensation"] == "3000.00"
    # Escalation is not a change of status: nothing was pushed for it.
    assert [u.status for u in portal.updates_for(sw_id)][:2] == ["document_scrutiny", "site_inspection"]


def test_callbacks_survive_an_outage_and_a_garbage_answer_in_order(
    hub: Hub, client: dict[str, Any], portal: FakeSingleWindow
) -> None:
    hub.drain()
    ids = [f"SW-REST-OUTAGE-{n}" for n in range(3)]
    portal.down()
    try:
        for sw_id in ids:
            hub.app.post_json(
                URL, submission(sw_id, lt_industrial_form()), headers=client["headers"], status=201
            )
            hub.officer(sw_id, "accept_documents", OA)
            hub.officer(sw_id, "inspection_passed", AM)
        hub.deliverer.deliver(hub.pending())
        with Session(hub.engine) as session:
            waiting = session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending")).all()
            assert len(waiting) == 9 and any(m.attempts == 1 for m in waiting)
    finally:
        portal.up()
    portal.mode = "garbage"
    try:
        hub.make_due()
        hub.deliverer.deliver(hub.pending())
        with Session(hub.engine) as session:
            errors = session.scalars(
                select(OutboxMessage.last_error).where(OutboxMessage.status == "pending")
            ).all()
            tried = [e for e in errors if e]  # the head of each application's queue; the rest wait behind it
            assert len(tried) == 3 and all("garbage answer" in e for e in tried)
    finally:
        portal.mode = "ok"
    hub.make_due()
    hub.drain()
    assert hub.pending() == []
    for sw_id in ids:
        got = portal.updates_for(sw_id)
        assert [u.status for u in got] == ["document_scrutiny", "site_inspection", "demand_note"]
        assert [u.sequence for u in got] == [1, 2, 3]
    with Session(hub.engine) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "parked")
            )
            == 0
        )


# -- bad input: clear code, recorded, nothing changed ----------------------------------------


def _count_applications(hub: Hub) -> int:
    with Session(hub.engine) as session:
        return int(session.scalar(select(func.count()).select_from(ConnectionApplication)) or 0)


@pytest.mark.parametrize(
    ("mutate", "field", "code"),
    [
        (lambda f: f["supply"].update(supply_voltage="415V"), "form/supply/supply_voltage", "out_of_limits"),
        (
            lambda f: f["supply"]["contract_demand"].update(value="20", unit="kVA"),
            "form/supply/contract_demand/value",
            "out_of_limits",
        ),
        (lambda f: f["supply"].update(category="agricultural"), "form/supply/category", "choice"),
        (
            lambda f: f["supply"]["connected_load"].update(value="2", unit="MW"),
            "form/supply/connected_load/unit",
            "choice",
        ),
        (lambda f: f.__setitem__("documents", f["documents"][:3]), "form/documents", "document_missing"),
    ],
)
def test_limits_and_categories_are_enforced(
    hub: Hub, client: dict[str, Any], mutate: Any, field: str, code: str
) -> None:
    form = industrial_form()
    mutate(form)
    before = _count_applications(hub)
    problem = hub.app.post_json(
        URL, submission("SW-BAD-LIMITS", form), headers=client["headers"], status=400
    ).json
    assert problem["code"] == "validation_failed"
    assert any(e["field"] == field and e["code"] == code for e in problem["errors"]), problem["errors"]
    assert _count_applications(hub) == before


def test_unknown_form_version(hub: Hub, client: dict[str, Any]) -> None:
    problem = hub.app.post_json(
        URL, submission("SW-BAD-VERSION", industrial_form(), version=9), headers=client["headers"], status=400
    ).json
    assert problem["code"] == "form_version_unknown"
    assert incidents(hub, "form_version_unknown") >= 1


def test_document_hash_mismatch(hub: Hub, client: dict[str, Any]) -> None:
    form = industrial_form()
    form["documents"][0]["sha256"] = hashlib.sha256(b"something else").hexdigest()
    before = _count_applications(hub)
    problem = hub.app.post_json(
        URL, submission("SW-BAD-HASH", form), headers=client["headers"], status=422
    ).json
    assert problem["code"] == "document_hash_mismatch" and problem["field"] == "documents/0/sha256"
    assert _count_applications(hub) == before and incidents(hub, "document_hash_mismatch") >= 1


def test_url_off_the_allow_list_is_never_fetched(
    hub: Hub, client: dict[str, Any], off_list_host: DocumentHost, doc_host: DocumentHost
) -> None:
    off_list_host.files["/site_plan.pdf"] = PDF
    doc_host.files["/identity.pdf"] = PDF + b"id"
    form = industrial_form()
    form["documents"][0] = document("identity_proof", PDF + b"id", url=doc_host.server.url + "/identity.pdf")
    form["documents"][3] = document("site_plan", PDF, url=off_list_host.server.url + "/site_plan.pdf")
    problem = hub.app.post_json(
        URL, submission("SW-BAD-URL", form), headers=client["headers"], status=422
    ).json
    assert problem["code"] == "document_url_not_allowed" and problem["field"] == "documents/3/url"
    assert off_list_host.requests == [] and doc_host.requests == []  # refused before anything was fetched
    assert incidents(hub, "document_url_not_allowed") >= 1


def test_url_on_the_allow_list_is_fetched_once_and_verified(
    hub: Hub, client: dict[str, Any], doc_host: DocumentHost
) -> None:
    doc_host.files["/plan-7.pdf"] = PDF + b"plan"
    seen = len(doc_host.requests)
    form = industrial_form()
    form["documents"][3] = document("site_plan", PDF + b"plan", url=doc_host.server.url + "/plan-7.pdf")
    body = submission("SW-URL-OK", form)
    hub.app.post_json(URL, body, headers=client["headers"], status=201)
    hub.app.post_json(URL, body, headers=client["headers"], status=200)  # replay: nothing fetched again
    assert len(doc_host.requests) == seen + 1
    form["documents"][3]["sha256"] = hashlib.sha256(b"tampered").hexdigest()
    problem = hub.app.post_json(
        URL, submission("SW-URL-TAMPERED", form), headers=client["headers"], status=422
    ).json
    assert problem["code"] == "document_hash_mismatch"


@pytest.mark.parametrize("mode", ["trickle_body", "trickle"])
def test_a_host_sending_a_byte_at_a_time_is_given_up_on_at_the_deadline(
    hub: Hub, client: dict[str, Any], doc_host: DocumentHost, mode: str
) -> None:
    # Every byte comes well within any read timeout; the whole takes 8 s (16 s with the headers).
    content = PDF + b"x" * 11
    doc_host.files["/slow.pdf"] = content
    form = industrial_form()
    form["documents"][3] = document("site_plan", content, url=doc_host.server.url + "/slow.pdf")
    budget = hub.service.settings.fetch_timeout
    doc_host.server.mode, doc_host.server.trickle_seconds = mode, 0.1
    started = time.monotonic()
    try:
        problem = hub.app.post_json(
            URL, submission(f"SW-SLOW-{mode}", form), headers=client["headers"], status=422
        ).json
    finally:
        doc_host.server.mode = "ok"
    elapsed = time.monotonic() - started
    assert problem["code"] == "document_fetch_failed"
    assert problem["detail"] == f"documents/3: the host did not send it within {budget:g} seconds"
    assert budget <= elapsed < budget + 1.5


def test_failed_payment_is_noted_and_changes_nothing(hub: Hub, client: dict[str, Any]) -> None:
    sw_id = "SW-REST-PAYFAIL"
    hub.app.post_json(URL, submission(sw_id, lt_industrial_form()), headers=client["headers"], status=201)
    hub.officer(sw_id, "accept_documents", OA)
    hub.officer(sw_id, "inspection_passed", AM)
    hub.officer(sw_id, "issue_demand_note", MGR)
    failed = pay(hub, sw_id, status=PaymentStatus.FAILED)
    assert post_callback(hub, failed).json["outcome"] == "payment_failed"
    assert hub.application(sw_id).status == "awaiting_payment"
    stale = pay(hub, sw_id, signed_at=1_000_000_000)
    assert post_callback(hub, stale, 400).json["code"] == "payment_stale"
    with Session(hub.engine) as session:
        app = hub.application(sw_id)
        assert (
            session.scalar(
                select(func.count())
                .select_from(ConnectionPayment)
                .where(ConnectionPayment.application_id == app.id)
            )
            == 0
        )


def test_openapi_lists_the_operations(hub: Hub) -> None:
    spec = hub.app.get("/openapi.json").json
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "submitConnectionApplication",
        "getConnectionApplication",
        "respondToQuery",
        "withdrawConnectionApplication",
        "recordPayment",
    } <= operations
    body = spec["paths"]["/api/v1/connections/applications"]["post"]["requestBody"]
    form = body["content"]["application/json"]["schema"]["properties"]["form"]["oneOf"][0]
    assert form["properties"]["supply"]["properties"]["category"]["enum"][-1] == "ht_industrial"
