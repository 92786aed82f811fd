"""The whole no-dues flow through WebTest: OTP -> account -> e-KYC -> apply -> checks -> officer -> certificate.

Live mode: the reference billing, KYC and SMS systems commit on their own
connections and the outbox is delivered in-process, as the worker would.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.demo import PERSONAS
from connectors.reference_db import set_down
from hub.models.audit import AuditEntry
from hub.models.outbox import OutboxMessage
from tests.hub.nodues.flow import Flow

CLEAN = PERSONAS["clean"]


def _verify(flow: Flow, number: str, code: str) -> str:
    answer = flow.app.post_json("/api/v1/certificates/verify", {"number": number, "code": code}).json
    return str(answer["status"])


def _issued_code(flow: Flow, mobile: str, number: str) -> str:
    texts = [m.text for m in flow.sms(mobile, "nodues_issued") if number in m.text]
    assert texts, "the applicant got no SMS with the certificate link"
    return texts[-1].split("code=")[1].split()[0]


def test_clean_candidate_gets_a_verified_certificate_then_reapplies_and_the_officer_revokes(
    flow: Flow,
) -> None:
    number = CLEAN.consumer_numbers[0]
    account = flow.open_account(CLEAN.mobile)
    assert [c["consumer_number"] for c in account["connections"]] == [number]
    assert account["connections"][0]["proof"] == "registered_mobile"
    assert account["samagra_verified"] is False
    account_id = account["account_id"]

    assert flow.ekyc(account_id, number, CLEAN.samagra_id, CLEAN.mobile) == "complete"
    assert flow.connections(account_id)["samagra_verified"] is True

    filed = flow.apply(
        account_id,
        CLEAN.mobile,
        name_deva=CLEAN.name_hi,
        name_latin=CLEAN.name_en,
        samagra_id=CLEAN.samagra_id,
    ).json
    app_id = filed["application_id"]
    assert filed["status"] == "checks_pending"
    assert filed["applicant"]["identity_proof"] == "ekyc"  # the account's e-KYC carries this Samagra ID
    assert filed["connections"] == [number]

    flow.drain()
    app = flow.application(app_id)
    assert app["status"] == "awaiting_decision", app
    assert {(c["name"], c["result"]) for c in app["checks"]} == {
        ("identity", "pass"),
        ("registered_connections", "pass"),
        ("dues", "pass"),
        ("meter", "pass"),
        ("ekyc", "pass"),
    }
    dues = next(c for c in app["checks"] if c["name"] == "dues")
    assert dues["evidence_ref"].startswith("RB-") and dues["details"]["amount"] == "0.00"
    assert app["certificate"] is None and "decision_due_at" in app

    flow.officer("dgm.bpl1", ["dgm"], ["DIV-BPL-1"])
    dgm = flow.console("dgm.bpl1")
    queue = dgm.get("/console")
    assert app_id in queue.text
    case_page = dgm.get(f"/console/cases/{flow.case_id(app_id)}")
    assert dues["evidence_ref"] in case_page.text
    assert "बकाया राशि" in case_page.text and "Outstanding dues" in case_page.text
    flow.decide(dgm, app_id, "approve")

    app = flow.application(app_id)
    assert app["status"] == "approved"
    assert [h["action"] for h in app["history"]] == ["start", "checks_passed", "approve"]
    certificate = app["certificate"]
    assert certificate["status"] == "valid" and certificate["number"].startswith("DIV-BPL-1/ND/")
    code = _issued_code(flow, CLEAN.mobile, certificate["number"])
    assert _verify(flow, certificate["number"], code) == "valid"
    # The calling client fetches both documents with its own token.
    xml = flow.app.get(certificate["links"]["xml"], headers=flow.headers)
    assert xml.content_type == "application/xml"
    assert flow.app.get(certificate["links"]["pdf"], headers=flow.headers).body.startswith(b"%PDF")
    uploaded = flow.app.post(
        "/api/v1/certificates/verify-document", xml.body, headers={"Content-Type": "application/xml"}
    ).json
    assert uploaded["status"] == "valid" and uploaded["holder_name"].startswith(CLEAN.name_hi)
    assert uploaded["connections"][0]["consumer_number"] == number

    # Re-application supersedes the valid certificate.
    second = flow.apply(account_id, CLEAN.mobile, name_latin=CLEAN.name_en, samagra_id=CLEAN.samagra_id).json
    flow.drain()
    flow.decide(dgm, second["application_id"], "approve")
    renewed = flow.application(second["application_id"])["certificate"]
    assert _verify(flow, certificate["number"], code) == "superseded"
    assert flow.application(app_id)["status"] == "superseded"
    new_code = _issued_code(flow, CLEAN.mobile, renewed["number"])
    assert _verify(flow, renewed["number"], new_code) == "valid"

    # Revocation needs a reason, then shows everywhere.
    page = flow.decide(dgm, second["application_id"], "revoke", reason="", status=409)
    assert "कारण लिखना आवश्यक है" in page.text
    flow.decide(dgm, second["application_id"], "revoke", reason="dues found later on a second connection")
    assert _verify(flow, renewed["number"], new_code) == "revoked"
    final = flow.application(second["application_id"])
    assert final["status"] == "revoked" and final["certificate"]["status"] == "revoked"
    assert final["history"][-1]["reason"] == "dues found later on a second connection"
    revoked_texts = [m.text for m in flow.sms(CLEAN.mobile, "certificate_revoked")]
    assert len(revoked_texts) == 1 and renewed["number"] in revoked_texts[0]
    with Session(flow.engine) as session:
        actions = set(session.execute(select(AuditEntry.action)).scalars())
    assert {"nodues.approve", "nodues.revoke", "document.issued", "document.revoked"} <= actions


def test_candidate_with_dues_is_rejected_with_the_amount_per_connection(flow: Flow) -> None:
    person = PERSONAS["dues"]
    account = flow.open_account(person.mobile)
    assert len(account["connections"]) == 2
    app_id = flow.apply(
        account["account_id"], person.mobile, name_deva=person.name_hi, samagra_id=person.samagra_id
    ).json["application_id"]
    flow.drain()
    app = flow.application(app_id)
    assert app["status"] == "rejected"
    reasons = app["rejection_reasons"]
    assert [(r["code"], r["consumer_number"], r["amount"]) for r in reasons] == [
        ("dues_outstanding", person.consumer_numbers[0], "4572.50")
    ]
    assert "₹4,572.50" in reasons[0]["message_en"]
    assert app["history"][-1]["action"] == "checks_failed"
    assert app["certificate"] is None
    decided = flow.sms(person.mobile, "nodues_decided")
    assert decided and "4,572.50" in decided[-1].text


def test_incomplete_kyc_rejects_until_ekyc_is_done(flow: Flow) -> None:
    person = PERSONAS["incomplete_kyc"]
    number = person.consumer_numbers[0]
    account = flow.open_account(person.mobile)
    app_id = flow.apply(
        account["account_id"], person.mobile, name_latin=person.name_en, samagra_id=person.samagra_id
    ).json["application_id"]
    flow.drain()
    app = flow.application(app_id)
    assert app["status"] == "rejected"
    assert [(r["code"], r["consumer_number"], r["kyc_status"]) for r in app["rejection_reasons"]] == [
        ("ekyc_incomplete", number, "incomplete")
    ]
    assert flow.ekyc(account["account_id"], number, person.samagra_id, person.mobile) == "complete"
    again = flow.apply(
        account["account_id"], person.mobile, name_latin=person.name_en, samagra_id=person.samagra_id
    )
    flow.drain()
    assert flow.application(again.json["application_id"])["status"] == "awaiting_decision"


def test_faulty_meter_rejects(flow: Flow) -> None:
    person = PERSONAS["faulty_meter"]
    account = flow.open_account(person.mobile)
    app_id = flow.apply(
        account["account_id"], person.mobile, name_deva=person.name_hi, samagra_id=person.samagra_id
    ).json["application_id"]
    flow.drain()
    app = flow.application(app_id)
    assert app["status"] == "rejected"
    assert [r["code"] for r in app["rejection_reasons"]] == ["meter_faulty"]
    meter = next(c for c in app["checks"] if c["name"] == "meter")
    assert meter["result"] == "fail" and meter["details"]["health"] == "faulty"


def test_no_connection_declaration_is_checked_against_billing_and_certified(flow: Flow) -> None:
    person = PERSONAS["no_connection"]
    account = flow.open_account(person.mobile)
    assert account["connections"] == []
    # Someone with connections cannot declare none (the OTP goes to the mobile Samagra holds for them).
    refused = flow.apply(
        account["account_id"],
        PERSONAS["clean"].mobile,
        status=422,
        name_latin=person.name_en,
        samagra_id=PERSONAS["clean"].samagra_id,
        no_connection=True,
    ).json
    assert refused["code"] == "connections_exist"
    missing = flow.apply(
        account["account_id"], person.mobile, status=422, name_latin="X", samagra_id=person.samagra_id
    )
    assert missing.json["code"] == "nothing_to_cover"
    app_id = flow.apply(
        account["account_id"],
        person.mobile,
        name_deva=person.name_hi,
        samagra_id=person.samagra_id,
        no_connection=True,
    ).json["application_id"]
    flow.drain()
    app = flow.application(app_id)
    assert app["status"] == "awaiting_decision"
    assert [(c["name"], c["result"]) for c in app["checks"]] == [
        ("identity", "pass"),
        ("no_connection", "pass"),
    ]
    flow.officer("dgm.noconn", ["dgm"], ["DIV-BPL-1"])
    dgm = flow.console("dgm.noconn")
    flow.decide(dgm, app_id, "approve")
    certificate = flow.application(app_id)["certificate"]
    code = _issued_code(flow, person.mobile, certificate["number"])
    answer = flow.app.post_json(
        "/api/v1/certificates/verify", {"number": certificate["number"], "code": code}
    ).json
    assert answer["status"] == "valid" and answer["no_connection"] is True and answer["connections"] == []


def test_billing_down_during_checks_waits_then_completes_never_early(flow: Flow) -> None:
    person = PERSONAS["several_connections"]
    account = flow.open_account(person.mobile)
    assert len(account["connections"]) == 3
    app_id = flow.apply(
        account["account_id"], person.mobile, name_latin=person.name_en, samagra_id=person.samagra_id
    ).json["application_id"]
    flow.officer("dgm.down", ["dgm"], ["DIV-BPL-1"])
    dgm = flow.console("dgm.down")
    set_down(flow.reference, "billing")
    try:
        outcomes = flow.drain()
        assert [o.result for o in outcomes] == ["retry"]
        app = flow.application(app_id)
        assert app["status"] == "checks_pending"
        assert app["checks"] == [] and app["certificate"] is None
        assert app["checks_pending"]["attempts"] == 1 and "billing" in app["checks_pending"]["last_error"]
        assert app_id not in dgm.get("/console").text
        # Still down at the next attempt (backoff elapsed).
        _due_now(flow)
        assert [o.result for o in flow.drain()] == ["retry"]
        assert flow.application(app_id)["status"] == "checks_pending"
    finally:
        set_down(flow.reference, "billing", down=False)
    _due_now(flow)
    flow.drain()
    app = flow.application(app_id)
    assert app["status"] == "awaiting_decision"
    assert len([c for c in app["checks"] if c["name"] == "dues"]) == 3
    assert app_id in dgm.get("/console").text

    # The officer may also reject, with a reason the applicant is told.
    flow.decide(dgm, app_id, "reject", reason="नामांकन पत्र में नाम भिन्न है")
    app = flow.application(app_id)
    assert app["status"] == "rejected" and app["history"][-1]["reason"] == "नामांकन पत्र में नाम भिन्न है"
    assert "नामांकन पत्र में नाम भिन्न है" in flow.sms(person.mobile, "nodues_decided")[-1].text


def _due_now(flow: Flow) -> None:
    from hub.models.meta import utcnow

    with flow.engine.begin() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def test_revocation_through_rest_moves_the_application_too(flow: Flow, live_client: Any) -> None:
    person = PERSONAS["several_connections"]
    account = flow.open_account(person.mobile)
    account_id = account["account_id"]
    for number in person.consumer_numbers:
        assert flow.ekyc(account_id, number, person.samagra_id, person.mobile) == "complete"
    filed = flow.apply(
        account_id, person.mobile, name_latin=person.name_en, samagra_id=person.samagra_id
    ).json
    flow.drain()
    flow.officer("dgm.rest", ["dgm"], ["DIV-BPL-1"])
    flow.decide(flow.console("dgm.rest"), filed["application_id"], "approve")
    certificate = flow.application(filed["application_id"])["certificate"]
    assert certificate["status"] == "valid"

    url = f"/api/v1/certificates/{certificate['number']}/revocation"
    # Another partner holding the scope cannot touch the portal's certificate: it looks missing.
    stranger = live_client(["certificates:revoke"])
    flow.app.post_json(url, {"reason": "x"}, headers=stranger["headers"], status=404)
    assert flow.application(filed["application_id"])["certificate"]["status"] == "valid"

    flow.app.post_json(url, {"reason": "dues found after issue"}, headers=flow.headers)
    app = flow.application(filed["application_id"])
    assert app["status"] == "revoked" and app["certificate"]["status"] == "revoked"
    assert app["history"][-1]["action"] == "revoke"
    assert app["history"][-1]["reason"] == "dues found after issue"
    flow.drain()
    texts = [m.text for m in flow.sms(person.mobile, "certificate_revoked")]
    assert len(texts) == 1 and certificate["number"] in texts[0]
    assert "निरस्त" in texts[0] and "revoked" in texts[0]
