"""Complaints end to end, through the paths their users have: REST, the console, hub-worker."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.billing.reference import ledger_t
from connectors.reference_db import set_down
from hub.models.audit import AuditEntry
from hub.models.complaint import Complaint
from hub.models.meta import utcnow
from hub.models.outbox import OutboxMessage
from hub.models.workflow import WorkflowCase
from hub.workflow import ESCALATION_JOB
from tests.hub.complaints.conftest import CASE_LINK, ComplaintFlow

NUMBER = re.compile(r"[0-9]{13}")


def _count(flow: ComplaintFlow) -> int:
    with Session(flow.engine) as session:
        return int(session.execute(select(func.count()).select_from(Complaint)).scalar_one())


def _credits(flow: ComplaintFlow, complaint_no: str) -> int:
    with flow.reference.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(ledger_t)
                .where(ledger_t.c.reference == f"COMP/{complaint_no}")
            ).scalar_one()
        )


def test_call_centre_registers_routes_and_texts_the_consumer(flow: ComplaintFlow) -> None:
    number, mobile = flow.persona()
    start = _count(flow)
    answer = flow.call(status=201, ticket_id="T-1912-0001")
    body = answer.json
    assert NUMBER.fullmatch(body["complaint_no"])
    assert body["status"] == "open" and body["level"] == 0
    assert body["office_code"] == flow.dc_of(number)
    assert body["with_role"] == "dc_assistant_manager"
    # The standard (4 hours for no supply) is the time the consumer is told.
    assert body["standard_hours"] == 4
    flow.drain()
    [sms] = flow.sms(mobile, "complaint_registered")
    assert body["complaint_no"] in sms.text and "शिकायत" in sms.text

    # The same ticket again: the same complaint, nothing new written or sent.
    again = flow.call(status=200, ticket_id="T-1912-0001")
    assert again.json == body
    assert _count(flow) == start + 1
    flow.drain()
    assert len(flow.sms(mobile, "complaint_registered")) == 1

    # The ticket id reused for another complaint: 409, nothing written.
    clash = flow.call(status=409, ticket_id="T-1912-0001", description="Meter burnt")
    assert clash.content_type == "application/problem+json"
    assert clash.json["code"] == "complaint_conflict"
    assert clash.json["complaint_no"] == body["complaint_no"]
    assert _count(flow) == start + 1


def test_bad_input_is_refused_and_nothing_is_written(flow: ComplaintFlow) -> None:
    before = _count(flow)
    unknown = flow.call(status=422, consumer_number="1019999999")
    assert unknown.json["code"] == "unknown_consumer_number"
    bad = flow.call(status=400, complaint_type="ghosts", consumer_number="12ab", caller_mobile="12345")
    assert bad.json["code"] == "validation_failed"
    assert {e["field"] for e in bad.json["errors"]} == {"complaint_type", "consumer_number", "caller_mobile"}
    missing = flow.call(status=400, ticket_id=None)
    assert [e["field"] for e in missing.json["errors"]] == ["ticket_id"]
    extra = flow.call(status=400, priority="high")
    assert extra.json["errors"][0]["code"] == "unknown_field"
    # The portal's token cannot register as the call centre.
    flow.app.post_json(
        "/api/v1/complaints/callcentre",
        {"ticket_id": "x", "consumer_number": "1", "complaint_type": "meter", "description": "x"},
        headers=flow.portal,
        status=403,
    )
    assert (
        flow.app.get("/api/v1/complaints/2612040000000", headers=flow.portal, status=404).json["code"]
        == "not_found"
    )
    assert (
        flow.app.get("/api/v1/complaints/abc", headers=flow.portal, status=400).json["code"]
        == "validation_failed"
    )
    assert _count(flow) == before


def test_billing_down_refuses_cleanly_and_the_retry_registers(flow: ComplaintFlow) -> None:
    before = _count(flow)
    set_down(flow.reference, "billing", True)
    down = flow.call(status=503, ticket_id="T-DOWN-1")
    assert down.json["code"] == "dependency_unavailable"
    assert _count(flow) == before
    set_down(flow.reference, "billing", False)
    assert flow.call(status=201, ticket_id="T-DOWN-1").json["status"] == "open"


def test_officer_assigns_and_resolves_from_the_console(flow: ComplaintFlow) -> None:
    number, mobile = flow.persona("dues")
    complaint_no = flow.call(status=201, consumer_number=number, complaint_type="meter").json["complaint_no"]
    dc = flow.dc_of(number)
    officer = flow.officer(["dc_assistant_manager"], [dc])
    queue = officer.get("/console")
    assert str(flow.case_id(complaint_no)) in CASE_LINK.findall(queue.text)
    page = officer.get(f"/console/cases/{flow.case_id(complaint_no)}")
    assert "मीटर बंद" in page.text and "Standard of performance" in page.text

    # Another distribution centre's officer does not see it, nor can act on it.
    stranger = flow.officer(["dc_assistant_manager"], ["DC-999"])
    assert str(flow.case_id(complaint_no)) not in CASE_LINK.findall(stranger.get("/console").text)
    assert flow.act(stranger, complaint_no, "resolve", "done").status_int in (302, 404)
    assert flow.complaint(complaint_no).state == "open"

    # Resolving needs the action taken.
    refused = flow.act(officer, complaint_no, "resolve", "")
    assert refused.status_int == 409
    assert flow.act(officer, complaint_no, "assign", "Lineman Ramesh sent").status_int == 302
    assert flow.act(officer, complaint_no, "resolve", "Burnt meter replaced, seal 44512").status_int == 302
    status = flow.status(complaint_no)
    assert status["status"] == "resolved"
    assert status["action_taken"] == "Burnt meter replaced, seal 44512"
    assert [h["action"] for h in status["history"]] == ["start", "assign", "resolve"]
    assert status["compensation"] is None  # resolved within the standard
    flow.drain()
    assert len(flow.sms(mobile, "complaint_update")) == 1
    [resolved] = flow.sms(mobile, "complaint_resolved")
    assert "Burnt meter replaced" in resolved.text
    # A closed complaint takes no more officer actions.
    assert flow.act(officer, complaint_no, "resolve", "again").status_int == 409


def test_escalation_by_time_and_by_hand_keeps_the_standard(flow: ComplaintFlow) -> None:
    number, mobile = flow.persona("clean")
    complaint_no = flow.call(status=201).json["complaint_no"]
    registered = flow.complaint(complaint_no)
    dc = flow.dc_of(number)
    first = flow.officer(["dc_assistant_manager"], [dc])
    manager = flow.officer(["dc_manager"], [dc])
    dgm = flow.officer(["dgm"], [dc])

    # The level's time runs out: the manager has it, the standard's clock runs on unchanged.
    flow.level_time_runs_out(complaint_no)
    flow.run_job(ESCALATION_JOB)
    status = flow.status(complaint_no)
    assert status["level"] == 1 and status["with_role"] == "dc_manager"
    assert flow.complaint(complaint_no).sop_due_at == registered.sop_due_at
    assert str(flow.case_id(complaint_no)) in CASE_LINK.findall(manager.get("/console").text)
    assert str(flow.case_id(complaint_no)) not in CASE_LINK.findall(first.get("/console").text)

    # The first level may no longer act on it.
    assert flow.act(first, complaint_no, "resolve", "fuse replaced").status_int == 409
    assert flow.complaint(complaint_no).state == "open"

    # The manager escalates by hand to the DGM; assigning keeps it at the DGM's level.
    assert flow.act(manager, complaint_no, "escalate", "Transformer needs DGM sanction").status_int == 302
    status = flow.status(complaint_no)
    assert status["level"] == 2 and status["with_role"] == "dgm"
    assert flow.act(dgm, complaint_no, "assign", "Team from zone sent").status_int == 302
    status = flow.status(complaint_no)
    assert status["status"] == "in_progress" and status["with_role"] == "dgm"
    assert flow.act(manager, complaint_no, "resolve", "x").status_int == 409
    flow.drain()
    texts = [m.text for m in flow.sms(mobile, "complaint_update")]
    assert any("Manager" in t for t in texts) and any("Deputy General Manager" in t for t in texts)


def test_missed_standard_is_compensated_once_even_when_billing_was_down(flow: ComplaintFlow) -> None:
    number, mobile = flow.persona("clean")
    complaint_no = flow.call(status=201).json["complaint_no"]
    officer = flow.officer(["dc_assistant_manager", "dc_manager", "dgm", "gm"], [flow.dc_of(number)])

    # The periodic watch: past the standard, escalated and the consumer told, once.
    flow.standard_passed(complaint_no, hours_ago=13)
    assert flow.run_job("complaints.standards") == 1
    assert flow.run_job("complaints.standards") == 0
    status = flow.status(complaint_no)
    assert status["history"][-1]["action"] == "statutory_breach"
    assert status["level"] == 1 and status["with_role"] == "dc_manager"
    flow.drain()
    [late] = [m for m in flow.sms(mobile, "complaint_update") if "past its time limit" in m.text]
    assert complaint_no in late.text and "Manager" in late.text

    # Resolved 13 hours after the standard: ₹50 for each started 6 hours, three of them.
    assert flow.act(officer, complaint_no, "resolve", "Service line rejoined").status_int == 302
    status = flow.status(complaint_no)
    assert status["compensation"] == "150.00" and status["compensation_credited"] is False

    set_down(flow.reference, "billing", True)
    flow.drain()
    assert _credits(flow, complaint_no) == 0
    with Session(flow.engine) as session:
        message = session.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "complaints.compensation")
        ).scalar_one()
        assert message.status == "pending" and message.attempts == 1
        message_id = message.id
        # Retried later (the backoff passed).
        message.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.commit()
    set_down(flow.reference, "billing", False)
    flow.drain()
    assert _credits(flow, complaint_no) == 1
    status = flow.status(complaint_no)
    assert status["compensation_credited"] is True
    [told] = flow.sms(mobile, "complaint_compensation")
    assert "150.00" in told.text

    # A second delivery of the same message (a worker died before marking it) credits nothing more.
    from hub.lookup import process_service, registered
    from hub.models.outbox import OutboxMessage as Message
    from hub.outbox import OutboxHandlers
    from hub.systems import Connectors

    with Session(flow.engine) as session:
        again = session.get(Message, message_id)
        assert again is not None
        registered(flow.registry, OutboxHandlers)["complaints.compensation"](
            again, process_service(flow.registry, Connectors)
        )
    assert _credits(flow, complaint_no) == 1
    flow.drain()
    assert len(flow.sms(mobile, "complaint_compensation")) == 1


def test_consumer_files_reopens_and_rates(flow: ComplaintFlow) -> None:
    number, mobile = flow.persona("several_connections")
    filed = flow.app.post_json(
        "/api/v1/complaints/consumer",
        {
            "request_id": "app-77",
            "consumer_number": number,
            "complaint_type": "billing",
            "description": "Bill too high",
        },
        headers=flow.portal,
        status=201,
    ).json
    assert filed["channel"] == "portal" and filed["with_role"] == "dc_office_assistant"
    complaint_no = filed["complaint_no"]
    base = f"/api/v1/complaints/{complaint_no}"
    # Not resolved yet: neither reopen nor rating.
    early = flow.app.post_json(
        base + "/rating", {"consumer_number": number, "rating": 5}, headers=flow.portal, status=409
    )
    assert early.json["code"] == "complaint_state_conflict"

    officer = flow.officer(["dc_office_assistant"], [flow.dc_of(number)])
    assert flow.act(officer, complaint_no, "resolve", "Reading corrected").status_int == 302

    # Someone else's consumer number: as if there were no such complaint.
    other, _ = flow.persona("clean")
    flow.app.post_json(
        base + "/reopen", {"consumer_number": other, "reason": "no"}, headers=flow.portal, status=404
    )
    reopened = flow.app.post_json(
        base + "/reopen", {"consumer_number": number, "reason": "Still wrong"}, headers=flow.portal
    ).json
    assert reopened["status"] == "open" and reopened["reopen_count"] == 1 and reopened["resolved_at"] is None
    assert str(flow.case_id(complaint_no)) in CASE_LINK.findall(officer.get("/console").text)
    twice = flow.app.post_json(
        base + "/reopen", {"consumer_number": number, "reason": "x"}, headers=flow.portal, status=409
    )
    assert twice.json["code"] == "complaint_state_conflict"

    assert flow.act(officer, complaint_no, "resolve", "Bill revised").status_int == 302
    rated = flow.app.post_json(
        base + "/rating", {"consumer_number": number, "rating": 4, "remarks": "ok"}, headers=flow.portal
    ).json
    assert rated["rating"] == 4
    again = flow.app.post_json(
        base + "/rating", {"consumer_number": number, "rating": 1}, headers=flow.portal, status=409
    )
    assert again.json["code"] == "complaint_state_conflict"
    bad = flow.app.post_json(
        base + "/rating", {"consumer_number": number, "rating": 9}, headers=flow.portal, status=400
    )
    assert bad.json["errors"][0]["field"] == "rating"


def test_reopen_after_the_period_is_refused(flow: ComplaintFlow) -> None:
    number, _ = flow.persona("clean")
    complaint_no = flow.call(status=201, complaint_type="voltage").json["complaint_no"]
    officer = flow.officer(["dc_assistant_manager"], [flow.dc_of(number)])
    assert flow.act(officer, complaint_no, "resolve", "Tap changed").status_int == 302
    from sqlalchemy import update

    with flow.engine.begin() as conn:
        conn.execute(
            update(Complaint)
            .where(Complaint.complaint_no == complaint_no)
            .values(resolved_at=utcnow() - timedelta(days=8))
        )
    late = flow.app.post_json(
        f"/api/v1/complaints/{complaint_no}/reopen",
        {"consumer_number": number, "reason": "again"},
        headers=flow.portal,
        status=422,
    )
    assert late.json["code"] == "reopen_period_over"
    assert flow.status(complaint_no)["status"] == "resolved"


def test_openapi_lists_the_operations(flow: ComplaintFlow) -> None:
    document = flow.app.get("/openapi.json").json
    ops = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "registerCallCentreComplaint",
        "fileConsumerComplaint",
        "getComplaint",
        "reopenComplaint",
        "rateComplaint",
    } <= ops


def test_office_registers_a_complaint_for_a_consumer_it_serves(flow: ComplaintFlow) -> None:
    from tests.hub.complaints.conftest import CSRF

    number, mobile = flow.persona("faulty_meter")
    consumer = flow.connectors["billing"].get_consumer(number)
    zone = flow.officer(["dc_office_assistant"], [consumer.offices.zone])
    form = zone.get("/console/complaints/new")
    token = CSRF.search(form.text)
    assert token is not None and "मीटर बंद" in form.text
    fields = {"consumer_number": number, "complaint_type": "meter", "description": "Meter display blank"}
    answer = zone.post("/console/complaints/new", {**fields, "csrf_token": token.group(1)})
    assert answer.status_int == 302
    registered = re.search(r"Complaint ([0-9]{13}) registered", zone.get(answer.location).text)
    assert registered is not None
    complaint = flow.complaint(registered.group(1))
    assert complaint.channel == "office" and complaint.office_code == consumer.offices.dc
    assert complaint.filed_by.startswith("officer:")
    flow.drain()
    assert len(flow.sms(mobile, "complaint_registered")) == 1

    # The discom's head office serves every consumer; it is routed to the consumer's DC all the same.
    head = flow.officer(["dc_office_assistant"], ["DISCOM"])
    head_token = CSRF.search(head.get("/console/complaints/new").text)
    assert head_token is not None
    fields_again = {**fields, "description": "Meter display still blank", "csrf_token": head_token.group(1)}
    answer = head.post("/console/complaints/new", fields_again)
    assert answer.status_int == 302
    registered = re.search(r"Complaint ([0-9]{13}) registered", head.get(answer.location).text)
    assert registered is not None
    assert flow.complaint(registered.group(1)).office_code == consumer.offices.dc

    before = _count(flow)
    # Another office's consumer, an unknown consumer, a bad type, an expired form: refused, nothing written.
    other = flow.officer(["dc_office_assistant"], ["DC-999"])
    other_token = CSRF.search(other.get("/console/complaints/new").text)
    assert other_token is not None
    refused = other.post(
        "/console/complaints/new", {**fields, "csrf_token": other_token.group(1)}, status=403
    )
    assert "not served by your office" in refused.text
    unknown = {**fields, "consumer_number": "1019999999", "csrf_token": token.group(1)}
    assert zone.post("/console/complaints/new", unknown, status=409).status_int == 409
    bad = {**fields, "complaint_type": "ghosts", "csrf_token": token.group(1)}
    assert "complaint_type" in zone.post("/console/complaints/new", bad, status=409).text
    zone.post("/console/complaints/new", {**fields, "csrf_token": "forged"}, status=403)
    assert _count(flow) == before


def test_lapses_at_the_last_level_stay_with_it_and_are_told_once(flow: ComplaintFlow) -> None:
    _, mobile = flow.persona("clean")
    complaint_no = flow.call(status=201, complaint_type="transformer_failure").json["complaint_no"]
    # dc_manager -> dgm -> gm, then further lapses stay with the GM.
    for _ in range(4):
        flow.level_time_runs_out(complaint_no)
        flow.run_job(ESCALATION_JOB)
    status = flow.status(complaint_no)
    assert status["level"] == 2 and status["with_role"] == "gm"
    assert [h["action"] for h in status["history"]].count("escalate") == 4
    flow.drain()
    assert len(flow.sms(mobile, "complaint_update")) == 2


def test_one_sweep_hands_up_many_complaints_and_tells_each_consumer_once(flow: ComplaintFlow) -> None:
    _, mobile = flow.persona("clean")
    supply = [flow.call(status=201).json["complaint_no"] for _ in range(3)]
    transformer = flow.call(status=201, complaint_type="transformer_failure").json["complaint_no"]
    for _ in range(2):  # dc_manager -> dgm -> gm, its last level
        flow.level_time_runs_out(transformer)
        flow.run_job(ESCALATION_JOB)
    flow.drain()
    told = len(flow.sms(mobile, "complaint_update"))
    for complaint_no in [*supply, transformer]:
        flow.level_time_runs_out(complaint_no)

    flow.run_job(ESCALATION_JOB)  # one sweep, both types

    for complaint_no in supply:
        status = flow.status(complaint_no)
        assert (status["level"], status["with_role"]) == (1, "dc_manager")
        assert [h["action"] for h in status["history"]] == ["start", "escalate"]
    last = flow.status(transformer)
    assert (last["level"], last["with_role"]) == (2, "gm")
    assert [h["action"] for h in last["history"]].count("escalate") == 3
    with Session(flow.engine) as session:
        assert session.get(WorkflowCase, flow.case_id(transformer)).escalation_level == 2  # type: ignore[union-attr]
        audited = session.execute(
            select(AuditEntry.subject_id).where(AuditEntry.action.like("complaint.%.escalate"))
        ).scalars()
        assert sorted(a for a in audited if a in supply) == sorted(supply)
    flow.drain()
    # The three handed to the manager are told; the lapse at the GM's level is recorded, not texted.
    texts = [m.text for m in flow.sms(mobile, "complaint_update")[told:]]
    assert sorted(texts) == sorted(
        f"शिकायत {n}: प्रबंधक को भेजी गई। Complaint {n} is now with the Manager. -MPCZED" for n in supply
    )


def test_an_officer_escalates_to_the_level_above_their_own(flow: ComplaintFlow) -> None:
    number, _ = flow.persona("clean")
    complaint_no = flow.call(status=201).json["complaint_no"]
    dgm = flow.officer(["dgm"], [flow.dc_of(number)])
    assert flow.act(dgm, complaint_no, "escalate", "Needs the GM's sanction").status_int == 302
    status = flow.status(complaint_no)
    assert status["level"] == 3 and status["with_role"] == "gm"
    gm = flow.officer(["gm"], [flow.dc_of(number)])
    assert flow.act(gm, complaint_no, "escalate", "no one above").status_int == 409
    assert flow.status(complaint_no)["level"] == 3


def test_consumer_lists_their_complaints(flow: ComplaintFlow) -> None:
    number, _ = flow.persona("disconnected_smart")
    first = flow.call(status=201, consumer_number=number, complaint_type="meter").json["complaint_no"]
    second = flow.call(status=201, consumer_number=number, complaint_type="billing").json["complaint_no"]
    listed = flow.app.get("/api/v1/complaints", {"consumer_number": number}, headers=flow.portal).json
    assert [c["complaint_no"] for c in listed["complaints"]][:2] == [second, first]
    assert {c["consumer_number"] for c in listed["complaints"]} == {number}
    bad = flow.app.get("/api/v1/complaints", {"consumer_number": "x1"}, headers=flow.portal, status=400)
    assert bad.json["errors"][0]["field"] == "consumer_number"
    flow.app.get("/api/v1/complaints", {"consumer_number": number}, headers=flow.callcentre, status=403)
