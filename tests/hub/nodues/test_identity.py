"""Who a certificate names: the Samagra registry's person, and only for an applicant who proved to be them.

Live mode through WebTest, as the portal (REST) and an officer (console form posts) use the hub;
the reference Samagra registry holds the demo personas.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.demo import PERSONAS
from connectors.reference_db import set_down
from connectors.samagra.tables import RefSamagraPerson
from hub.models.document import IssuedDocument
from hub.models.nodues import NoDuesApplication
from tests.hub.nodues.flow import PURPOSE, Flow

ATTACKER_MOBILE = "9876500001"
APPLY = "/api/v1/nodues/applications"


def _certified(flow: Flow, person: Any, officer: Any, **fields: Any) -> tuple[str, str, str]:
    """Apply for ``person`` from their own account, pass the checks, approve: (application, number, code)."""
    account = flow.open_account(person.mobile, status="*")  # type: ignore[arg-type]
    app_id = flow.apply(account["account_id"], person.mobile, samagra_id=person.samagra_id, **fields).json[
        "application_id"
    ]
    flow.drain()
    assert flow.application(app_id)["status"] == "awaiting_decision"
    flow.decide(officer, app_id, "approve")
    certificate = flow.application(app_id)["certificate"]
    texts = [m.text for m in flow.sms(person.mobile, "nodues_issued") if certificate["number"] in m.text]
    return app_id, certificate["number"], texts[-1].split("code=")[1].split()[0]


def _status(flow: Flow, number: str, code: str) -> str:
    return str(
        flow.app.post_json("/api/v1/certificates/verify", {"number": number, "code": code}).json["status"]
    )


def test_applying_for_another_persons_samagra_id_needs_the_otp_sent_to_their_registry_mobile(
    flow: Flow,
) -> None:
    victim = PERSONAS["no_connection"]  # no connection in billing: the only automatic check passes for anyone
    flow.officer("dgm.identity", ["dgm"], ["DIV-BPL-1"])
    dgm = flow.console("dgm.identity")
    _app, number, code = _certified(flow, victim, dgm, name_latin=victim.name_en, no_connection=True)
    assert _status(flow, number, code) == "valid"

    attacker = flow.open_account(ATTACKER_MOBILE)["account_id"]
    # The OTP that lets anyone apply as the victim goes to the mobile the Samagra registry holds for them.
    sent = flow.app.post_json(
        "/api/v1/nodues/otp",
        {"purpose": "apply", "account_id": attacker, "samagra_id": victim.samagra_id},
        headers=flow.headers,
        status=202,
    ).json
    assert sent["sent_to"] == "XXXXXX" + victim.mobile[-4:]
    flow.drain()
    assert [m.template_name for m in flow.sms(ATTACKER_MOBILE)] == ["otp"]  # only the account's own OTP
    body = {
        "account_id": attacker,
        "name_latin": "Fake Candidate",
        "samagra_id": victim.samagra_id,
        "no_connection": True,
        "purpose": PURPOSE,
    }
    guessed = flow.app.post_json(
        APPLY,
        {**body, "challenge_id": sent["challenge_id"], "otp": "000000"},
        headers=flow.headers,
        status=400,
    )
    assert guessed.json["code"] == "otp_invalid"
    # An OTP the attacker can read (its own mobile's) proves nothing about the victim.
    own = flow.otp(ATTACKER_MOBILE, purpose="account", mobile=ATTACKER_MOBILE)
    refused = flow.app.post_json(APPLY, {**body, **own}, headers=flow.headers, status=400)
    assert refused.json["code"] == "otp_invalid"
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    with Session(flow.engine) as session:
        typed = session.execute(
            select(NoDuesApplication.typed_name_latin).where(
                NoDuesApplication.samagra_id == victim.samagra_id
            )
        ).scalars()
        assert "Fake Candidate" not in list(typed)
    # The victim's certificate stands; their own new application (proved) supersedes it.
    assert _status(flow, number, code) == "valid"
    _app, renewed, new_code = _certified(flow, victim, dgm, name_latin=victim.name_en, no_connection=True)
    assert (_status(flow, number, code), _status(flow, renewed, new_code)) == ("superseded", "valid")


def test_the_registry_mobile_changed_after_the_otp_was_sent_is_not_proof(flow: Flow) -> None:
    person = PERSONAS["no_connection"]
    account = flow.open_account(ATTACKER_MOBILE, status="*")["account_id"]  # type: ignore[arg-type]
    proof = flow.otp(person.mobile, purpose="apply", account_id=account, samagra_id=person.samagra_id)
    with flow.reference.begin() as conn:
        conn.execute(
            update(RefSamagraPerson)
            .where(RefSamagraPerson.samagra_id == person.samagra_id)
            .values(mobile="9876500002")
        )
    try:
        refused = flow.app.post_json(
            APPLY,
            {
                "account_id": account,
                "name_latin": person.name_en,
                "samagra_id": person.samagra_id,
                "no_connection": True,
                "purpose": PURPOSE,
                **proof,
            },
            headers=flow.headers,
            status=403,
        )
        assert refused.json["code"] == "identity_not_proved"
    finally:
        with flow.reference.begin() as conn:
            conn.execute(
                update(RefSamagraPerson)
                .where(RefSamagraPerson.samagra_id == person.samagra_id)
                .values(mobile=person.mobile)
            )


def test_an_invented_samagra_id_is_refused_as_unknown(flow: Flow) -> None:
    person = PERSONAS["dues"]
    account = flow.open_account(person.mobile, status="*")["account_id"]  # type: ignore[arg-type]
    no_otp = flow.app.post_json(
        "/api/v1/nodues/otp",
        {"purpose": "apply", "account_id": account, "samagra_id": "123456789"},
        headers=flow.headers,
        status=422,
    )
    assert no_otp.json["code"] == "samagra_unknown"
    refused = flow.app.post_json(
        APPLY,
        {
            "account_id": account,
            "name_latin": person.name_en,
            "samagra_id": "123456789",
            "connections": [person.consumer_numbers[1]],  # the connection that owes nothing
            "purpose": PURPOSE,
            "challenge_id": "otp_0123456789abcdef",
            "otp": "123456",
        },
        headers=flow.headers,
        status=422,
    )
    assert refused.json["code"] == "samagra_unknown"


def test_dues_on_a_connection_left_out_of_the_application_reject_it(flow: Flow) -> None:
    person = PERSONAS["dues"]  # the first connection owes ₹4,572.50, the second nothing
    owing, clear = person.consumer_numbers
    account = flow.open_account(person.mobile, status="*")["account_id"]  # type: ignore[arg-type]
    app_id = flow.apply(
        account, person.mobile, samagra_id=person.samagra_id, name_latin=person.name_en, connections=[clear]
    ).json["application_id"]
    flow.drain()
    app = flow.application(app_id)
    assert app["status"] == "rejected" and app["certificate"] is None
    assert [(r["code"], r["consumer_number"], r["amount"]) for r in app["rejection_reasons"]] == [
        ("dues_outstanding", owing, "4572.50")
    ]


def test_officer_sees_the_registry_name_beside_the_typed_one_and_the_certificate_prints_the_registry_name(
    flow: Flow,
) -> None:
    person = PERSONAS["several_connections"]
    account = flow.open_account(person.mobile, status="*")["account_id"]  # type: ignore[arg-type]
    filed = flow.apply(
        account,
        person.mobile,
        samagra_id=person.samagra_id,
        name_latin="Fake Candidate",
        name_deva=person.name_hi,
    ).json
    applicant = filed["applicant"]
    assert (applicant["name_latin"], applicant["name_deva"]) == (person.name_en, person.name_hi)
    assert applicant["typed_name_latin"] == "Fake Candidate"
    assert (applicant["name_check"], applicant["identity_proof"]) == ("mismatch", "samagra_otp")
    flow.drain()
    flow.officer("dgm.names", ["dgm"], ["DIV-BPL-1"])
    dgm = flow.console("dgm.names")
    page = dgm.get(f"/console/cases/{flow.case_id(filed['application_id'])}").text
    assert "Samagra registry vs application" in page
    row = re.search(r'<tr class="fail"><td>[^<]*Name \(Latin\)</td>(.*?)</tr>', page)
    assert row is not None, page
    assert [c for c in re.findall(r"<td>(.*?)</td>", row.group(1))] == [
        person.name_en,
        "Fake Candidate",
        "मेल नहीं खाता / MISMATCH",
    ]
    assert re.search(r'<tr class=""><td>[^<]*Name \(Devanagari\)</td><td>' + person.name_hi, page)
    flow.decide(dgm, filed["application_id"], "approve")
    certificate = flow.application(filed["application_id"])["certificate"]
    xml = flow.app.get(certificate["links"]["xml"], headers=flow.headers)
    assert "Fake Candidate" not in xml.text and person.name_en in xml.text
    uploaded = flow.app.post(
        "/api/v1/certificates/verify-document", xml.body, headers={"Content-Type": "application/xml"}
    ).json
    assert uploaded["holder_name"].startswith(person.name_hi)


def test_names_are_compared_across_spellings_scripts_and_spacing(flow: Flow) -> None:
    person = PERSONAS["faulty_meter"]  # Mohammad Irfan Khan / मोहम्मद इरफ़ान ख़ान
    account = flow.open_account(person.mobile, status="*")["account_id"]  # type: ignore[arg-type]
    filed = flow.apply(
        account,
        person.mobile,
        samagra_id=person.samagra_id,
        name_latin="Mohammed IrfaanKhan",
        name_deva="मोहमद इरफान खान",
    ).json
    assert filed["applicant"]["name_check"] == "match"


def test_approval_while_billing_is_down_issues_nothing_and_the_case_waits(flow: Flow) -> None:
    person = PERSONAS["clean"]
    account = flow.open_account(person.mobile, status="*")["account_id"]  # type: ignore[arg-type]
    app_id = flow.apply(account, person.mobile, samagra_id=person.samagra_id, name_latin=person.name_en).json[
        "application_id"
    ]
    flow.drain()
    assert flow.application(app_id)["status"] == "awaiting_decision"
    flow.officer("dgm.billingdown", ["dgm"], ["DIV-BPL-1"])
    dgm = flow.console("dgm.billingdown")
    set_down(flow.reference, "billing")
    try:
        answer = flow.decide(dgm, app_id, "approve")
        assert answer.location.endswith("/console")
        queue = dgm.get("/console").text
        assert "is not answering; nothing changed, please try again later" in queue
        assert app_id in queue  # still waiting for a decision
        page = dgm.get(f"/console/cases/{flow.case_id(app_id)}").text
        assert 'value="approve"' in page  # the officer can try again
    finally:
        set_down(flow.reference, "billing", down=False)
    waiting = flow.application(app_id)
    assert waiting["status"] == "awaiting_decision" and waiting["certificate"] is None
    assert [h["action"] for h in waiting["history"]] == ["start", "checks_passed"]
    with Session(flow.engine) as session:
        issued = session.execute(select(IssuedDocument.id).where(IssuedDocument.subject_id == app_id)).all()
    assert issued == []
    flow.decide(dgm, app_id, "approve")
    approved = flow.application(app_id)
    assert approved["status"] == "approved" and approved["certificate"]["status"] == "valid"


def test_no_connection_counts_the_connections_linked_to_the_applying_account(flow: Flow) -> None:
    person = PERSONAS["no_connection"]
    account = flow.open_account(person.mobile, status="*")["account_id"]  # type: ignore[arg-type]
    theirs = PERSONAS["disconnected_smart"]
    number = theirs.consumer_numbers[0]
    proof = flow.otp(theirs.mobile, purpose="link", account_id=account, consumer_number=number)
    flow.app.post_json(
        f"/api/v1/nodues/accounts/{account}/connections",
        {"consumer_number": number, **proof},
        headers=flow.headers,
        status=201,
    )
    refused = flow.apply(
        account,
        person.mobile,
        status=422,
        samagra_id=person.samagra_id,
        name_latin=person.name_en,
        no_connection=True,
    )
    assert refused.json["code"] == "connections_exist" and refused.json["count"] == 1


def test_when_the_registry_is_down_readyz_says_so_and_nobody_applies(flow: Flow) -> None:
    person = PERSONAS["incomplete_kyc"]
    account = flow.open_account(person.mobile, status="*")["account_id"]  # type: ignore[arg-type]
    assert flow.app.get("/readyz").json["checks"]["samagra"]["status"] == "ok"
    set_down(flow.reference, "samagra")
    try:
        ready = flow.app.get("/readyz", status=503).json
        assert ready["checks"]["samagra"]["status"] != "ok"
        waiting = flow.app.post_json(
            "/api/v1/nodues/otp",
            {"purpose": "apply", "account_id": account, "samagra_id": person.samagra_id},
            headers=flow.headers,
            status=503,
        )
        assert waiting.json["code"] == "dependency_unavailable"
    finally:
        set_down(flow.reference, "samagra", down=False)


def test_an_application_without_proof_of_identity_supersedes_nothing(flow: Flow) -> None:
    person = PERSONAS["no_connection"]
    flow.officer("dgm.supersede", ["dgm"], ["DIV-BPL-1"])
    dgm = flow.console("dgm.supersede")
    _app, number, code = _certified(flow, person, dgm, name_latin=person.name_en, no_connection=True)
    account = flow.open_account(person.mobile, status="*")["account_id"]  # type: ignore[arg-type]
    app_id = flow.apply(
        account, person.mobile, samagra_id=person.samagra_id, name_latin=person.name_en, no_connection=True
    ).json["application_id"]
    flow.drain()
    # As an application filed before the hub asked for proof of identity.
    with flow.engine.begin() as conn:
        conn.execute(
            update(NoDuesApplication).where(NoDuesApplication.public_id == app_id).values(identity_proof=None)
        )
    flow.decide(dgm, app_id, "approve")
    assert flow.application(app_id)["certificate"]["status"] == "valid"
    assert _status(flow, number, code) == "valid"
