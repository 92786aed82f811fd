"""Bill corrections end to end, the way their users work: the office's form, the DGM's and GM's
console, the portal's REST reads, hub-worker posting the credit in reference billing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.reference_db import set_down
from hub.certificates.issuing import document_files, find_document
from hub.certificates.keys import DocumentKeys
from hub.lookup import process_service, registered
from hub.models.correction import BillCorrectionEvidence
from hub.models.outbox import OutboxMessage
from hub.outbox import OutboxHandlers
from hub.systems import Connectors
from hub.workflow import ESCALATION_JOB
from tests.hub.corrections.conftest import CSRF, OFFICE, PDF, PNG, CorrectionFlow


def _history(flow: CorrectionFlow, correction_no: str, number: str) -> list[str]:
    return [h["action"] for h in flow.portal_read(correction_no, number).json["history"]]


def test_small_correction_is_permitted_by_the_manager_and_credited_once(flow: CorrectionFlow) -> None:
    number, mobile = flow.persona()
    dc = flow.offices(number).dc
    assistant = flow.officer(OFFICE, [dc])
    answer = flow.propose(
        assistant, amount_billed="3200.50", amount_correct="1200.50", files=[("a.png", PNG)]
    )
    assert answer.status_int == 302, answer.text
    correction = flow.latest(number)
    assert (
        correction.amount == 2000 and correction.state == "proposed" and correction.with_role == "dc_manager"
    )
    assert flow.case(correction.correction_no).office_code == dc
    flow.drain()
    [told] = flow.sms(mobile, "correction_proposed")
    assert correction.correction_no in told.text

    # The assistant may not permit; the manager of another DC does not even see the case.
    assert flow.act(assistant, correction.correction_no, "permit", "ok").status_int == 409
    stranger = flow.officer(["dc_manager"], ["DC-NOWHERE"])
    assert flow.act(stranger, correction.correction_no, "permit", "ok").status_int == 302
    assert flow.latest(number).state == "proposed"

    manager = flow.officer(["dc_manager"], [dc])
    page = manager.get("/console")
    assert correction.correction_no in page.text
    assert flow.act(manager, correction.correction_no, "permit", "बिल जाँचा, सही / checked").status_int == 302
    assert flow.latest(number).state == "permitted"
    flow.drain()
    flow.drain()
    assert flow.credits(correction.correction_no) == 1
    read = flow.portal_read(correction.correction_no, number).json
    assert read["status"] == "permitted" and read["credited"] is True and read["credit"] == "2000.00"
    assert [h["action"] for h in read["history"]] == ["start", "permit"]
    assert len(flow.sms(mobile, "correction_decided")) == 1
    assert len(flow.sms(mobile, "correction_credited")) == 1


def test_large_correction_goes_through_dgm_questions_and_gm(flow: CorrectionFlow) -> None:
    number, mobile = flow.persona()
    offices = flow.offices(number)
    assistant = flow.officer(OFFICE, [offices.dc])
    assert flow.propose(assistant, amount_billed="90000", amount_correct="10000").status_int == 302
    correction = flow.latest(number)
    no = correction.correction_no
    # Beyond the manager's ₹5,000: with the division's DGM at once.
    assert correction.state == "examination" and correction.with_role == "dgm"
    assert flow.case(no).office_code == offices.division

    dgm = flow.officer(["dgm"], [offices.division])
    other_dgm = flow.officer(["dgm"], ["DIV-ELSEWHERE"])
    assert no not in other_dgm.get("/console").text
    assert no in dgm.get("/console").text
    assert flow.act(dgm, no, "return", "मीटर की फोटो भेजें / send the meter photo").status_int == 302
    assert flow.latest(number).state == "returned"
    assert flow.case(no).office_code == offices.dc
    assert flow.act(assistant, no, "resubmit", "Photo attached at the DC; reading 2410").status_int == 302
    assert flow.latest(number).state == "examination"

    # ₹80,000 is beyond the DGM's ₹50,000: the DGM may not permit, only recommend.
    refused = flow.act(dgm, no, "permit", "looks right", status=409)
    assert "delegation" in refused.text
    assert flow.latest(number).state == "examination"
    assert flow.act(dgm, no, "recommend", "Reading verified on site; recommend").status_int == 302
    assert flow.latest(number).state == "gm_decision"
    assert flow.case(no).office_code == offices.circle

    gm = flow.officer(["gm"], [offices.circle])
    # Two GMs' windows open at once: one decision wins, the other is told it is no longer possible.
    other_gm = flow.officer(["gm"], [offices.circle])
    first = flow.act(gm, no, "permit", "Permitted as recommended")
    assert first.status_int == 302
    second = flow.act(other_gm, no, "refuse", "no")
    assert second.status_int in (302, 409)
    assert flow.latest(number).state == "permitted"

    set_down(flow.reference, "billing", True)
    flow.drain()
    assert flow.credits(no) == 0 and flow.latest(number).posting_receipt is None
    set_down(flow.reference, "billing", False)
    with Session(flow.engine) as session:
        message = session.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "corrections.credit")
        ).scalar_one()
        message.next_attempt_at = message.created_at
        session.commit()
    flow.drain()
    assert flow.credits(no) == 1
    assert _history(flow, no, number) == ["start", "submit", "return", "resubmit", "recommend", "permit"]
    assert len(flow.sms(mobile, "correction_update")) >= 4


def test_dgm_decides_within_delegation_and_may_not_pass_it_up(flow: CorrectionFlow) -> None:
    number, _ = flow.persona()
    offices = flow.offices(number)
    assistant = flow.officer(OFFICE, [offices.dc])
    assert flow.propose(assistant, amount_billed="30000", amount_correct="10000").status_int == 302
    no = flow.latest(number).correction_no
    dgm = flow.officer(["dgm"], [offices.division])
    up = flow.act(dgm, no, "recommend", "GM please", status=409)
    assert "within your delegation" in up.text
    assert flow.act(dgm, no, "refuse", "Reading was right; photo shows 4210").status_int == 302
    assert flow.latest(number).state == "refused"
    flow.drain()
    assert flow.credits(no) == 0


def test_a_level_that_runs_out_of_time_is_escalated(flow: CorrectionFlow) -> None:
    number, mobile = flow.persona()
    offices = flow.offices(number)
    assistant = flow.officer(OFFICE, [offices.dc])
    assert flow.propose(assistant, amount_billed="30000", amount_correct="10000").status_int == 302
    no = flow.latest(number).correction_no
    due = flow.case(no).due_at
    created = flow.latest(number).created_at
    assert due is not None and round((due - created).total_seconds() / 86400) == 7
    flow.level_time_runs_out(no)
    flow.run_job(ESCALATION_JOB)
    case = flow.case(no)
    assert case.assigned_role == "gm" and case.office_code == offices.circle
    assert _history(flow, no, number)[-1] == "escalate"
    flow.drain()
    assert any("General Manager" in m.text for m in flow.sms(mobile, "correction_update"))
    # The GM holding it now decides; the DGM below it is refused.
    dgm = flow.officer(["dgm"], [offices.division])
    assert no not in dgm.get("/console").text
    gm = flow.officer(["gm"], [offices.circle])
    assert flow.act(gm, no, "permit", "Permitted after the DGM's delay").status_int == 302
    flow.drain()
    assert flow.credits(no) == 1


def test_crash_between_posting_and_recording_credits_once(flow: CorrectionFlow) -> None:
    number, _ = flow.persona()
    offices = flow.offices(number)
    assistant = flow.officer(OFFICE, [offices.dc])
    assert flow.propose(assistant, amount_billed="3000", amount_correct="1000").status_int == 302
    no = flow.latest(number).correction_no
    manager = flow.officer(["dc_manager"], [offices.dc])
    assert flow.act(manager, no, "permit", "ok").status_int == 302
    with Session(flow.engine) as session:
        message = session.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "corrections.credit")
        ).scalar_one()
        payload = dict(message.payload)
    # The worker posted the credit and died before recording it.
    billing = process_service(flow.registry, Connectors)["billing"]
    from decimal import Decimal

    billing.post_credit(number, Decimal(payload["amount"]), f"BC/{no}", "posted before a crash")
    flow.drain()
    assert flow.credits(no) == 1
    assert flow.latest(number).posting_receipt is not None
    # And a repeated delivery after recording changes nothing.
    with Session(flow.engine) as session:
        again = session.get(OutboxMessage, message.id)
        assert again is not None
        registered(flow.registry, OutboxHandlers)["corrections.credit"](
            again, process_service(flow.registry, Connectors)
        )
    assert flow.credits(no) == 1


def test_bad_input_is_refused_and_nothing_is_written(flow: CorrectionFlow) -> None:
    number, _ = flow.persona()
    offices = flow.offices(number)
    assistant = flow.officer(OFFICE, [offices.dc])
    start = flow.count()
    files_before = _evidence_files(flow)
    gif = flow.propose(assistant, files=[("bill.pdf", b"GIF89a" + b"\x00" * 20)], status=409)
    assert "not a PDF, JPEG or PNG" in gif.text
    html = flow.propose(assistant, files=[("x.png", b"<script>alert(1)</script>")], status=409)
    assert "<script>alert" not in html.text
    big = flow.propose(assistant, files=[("big.pdf", b"%PDF-" + b"0" * (600 * 1024))], status=409)
    assert "larger than" in big.text
    assert flow.propose(assistant, amount_billed="100", amount_correct="200", status=409)
    assert flow.propose(assistant, bill_period="2026-13", status=409)
    assert flow.propose(assistant, amount_billed="१००", status=409)
    assert flow.propose(assistant, consumer_number="12345\u202e6789", status=409)
    assert flow.propose(assistant, complaint_no="2612040000099", status=409)
    stranger = flow.officer(OFFICE, ["DC-NOWHERE"])
    assert "not served by your office" in flow.propose(stranger, status=403).text
    dgm_only = flow.officer(["dgm"], [offices.dc])
    assert flow.propose(dgm_only, status=403)
    assert flow.count() == start
    assert _evidence_files(flow) == files_before


def test_evidence_and_complaint_link_are_kept(flow: CorrectionFlow) -> None:
    number, _ = flow.persona()
    offices = flow.offices(number)
    complaint_no = flow.call(status=201, complaint_type="billing").json["complaint_no"]
    assistant = flow.officer(OFFICE, [offices.dc])
    answer = flow.propose(assistant, complaint_no=complaint_no, files=[("a.pdf", PDF), ("b.png", PNG)])
    assert answer.status_int == 302
    correction = flow.latest(number)
    assert correction.complaint_no == complaint_no
    with Session(flow.engine) as session:
        kinds = (
            session.execute(
                select(BillCorrectionEvidence.media_type).where(
                    BillCorrectionEvidence.correction_id == correction.id
                )
            )
            .scalars()
            .all()
        )
    assert sorted(kinds) == ["application/pdf", "image/png"]
    listed = flow.app.get("/api/v1/corrections", {"consumer_number": number}, headers=flow.portal).json
    assert listed["corrections"][0]["complaint_no"] == complaint_no
    # Another consumer's number reads it as missing.
    other, _ = flow.persona("dues")
    assert other != number
    flow.portal_read(correction.correction_no, other, status=404)
    flow.portal_read("BC<script>", number, status=404)
    dgm = flow.officer(["dgm"], [offices.division])
    page = dgm.get(f"/console/cases/{flow.case_id(correction.correction_no)}")
    assert "बिल संशोधन" in page.text and "application/pdf" in page.text


def _evidence_files(flow: CorrectionFlow) -> int:
    with Session(flow.engine) as session:
        return len(session.execute(select(BillCorrectionEvidence.id)).all())


def test_the_correction_order_is_signed_and_verifies(flow: CorrectionFlow, tmp_path: Path) -> None:
    number, mobile = flow.persona()
    offices = flow.offices(number)
    assistant = flow.officer(OFFICE, [offices.dc])
    assert flow.propose(assistant, amount_billed="2500", amount_correct="1500").status_int == 302
    no = flow.latest(number).correction_no
    manager = flow.officer(["dc_manager"], [offices.dc])
    assert flow.act(manager, no, "permit", "बिल जाँचा / checked").status_int == 302
    order = flow.latest(number).order_number
    assert order is not None and "/BC/" in order
    flow.drain()
    [told] = flow.sms(mobile, "correction_decided")
    link = re.search(r"(/api/v1/certificates/\S+/pdf)\?code=(\S+)", told.text)
    assert link is not None
    with Session(flow.engine) as session:
        record = find_document(session, order)
        assert record is not None and record.kind == "bill_correction_order"
        files = document_files(session, record)
        xml, pdf, qr = bytes(files.xml), bytes(files.pdf), files.qr_payload
    assert qr
    assert "बिल संशोधन आदेश".encode() in xml or b"bill_correction_order" in xml
    ca = tmp_path / "ca.pem"
    ca.write_bytes(process_service(flow.registry, DocumentKeys).keyring.trust_anchor_pem())
    (tmp_path / "order.xml").write_bytes(xml)
    run = subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--trusted-pem",
            str(ca),
            "--enabled-reference-uris",
            "empty",
            str(tmp_path / "order.xml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    (tmp_path / "order.pdf").write_bytes(pdf)
    pyhanko = shutil.which("pyhanko") or str(Path(sys.executable).parent / "pyhanko")
    run = subprocess.run(
        [
            pyhanko,
            "sign",
            "validate",
            "--trust",
            str(ca),
            "--trust-replace",
            "--no-revocation-check",
            str(tmp_path / "order.pdf"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # A single changed byte in the XML fails the check.
    tampered = xml.replace(b"1000.00", b"9000.00", 1)
    assert tampered != xml
    (tmp_path / "bad.xml").write_bytes(tampered)
    run = subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--trusted-pem",
            str(ca),
            "--enabled-reference-uris",
            "empty",
            str(tmp_path / "bad.xml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode != 0
    assert flow.portal_read(no, number).json["order_number"] == order


def test_a_correction_is_in_the_work_list_of_the_level_holding_it(flow: CorrectionFlow) -> None:
    number, _ = flow.persona()
    offices = flow.offices(number)
    assistant = flow.officer(OFFICE, [offices.dc])
    assert flow.propose(assistant, amount_billed="30000", amount_correct="10000").status_int == 302
    no = flow.latest(number).correction_no
    # With the division's DGM: in their work list across flows, found by the correction's number.
    dgm = flow.officer(["dgm"], [offices.division])
    listed = dgm.get("/console/work", {"flow": "corrections"})
    assert no in listed.text and "बिल संशोधन" in listed.text
    assert no in dgm.get("/console/work", {"q": no}).text
    # Not with another division's DGM, nor with the GM before the DGM has examined it.
    assert no not in flow.officer(["dgm"], ["DIV-ELSEWHERE"]).get("/console/work").text
    assert no not in flow.officer(["gm"], [offices.division]).get("/console/work").text


def test_permitting_asks_for_confirmation_first(flow: CorrectionFlow) -> None:
    number, _ = flow.persona()
    offices = flow.offices(number)
    assistant = flow.officer(OFFICE, [offices.dc])
    assert flow.propose(assistant, amount_billed="2500", amount_correct="2000").status_int == 302
    no = flow.latest(number).correction_no
    manager = flow.officer(["dc_manager"], [offices.dc])
    case_id = flow.case_id(no)
    page = manager.get(f"/console/cases/{case_id}")
    token = CSRF.search(page.text)
    assert token is not None
    confirm = manager.post(
        f"/console/cases/{case_id}/decide",
        {"action": "permit", "reason": "ok", "csrf_token": token.group(1)},
    )
    assert confirm.status_int == 200 and 'name="confirm"' in confirm.text
    assert flow.latest(number).state == "proposed"
