"""Bad input and abuse: OTPs, limits, connections that are not the person's, races, scripts, shapes."""

from __future__ import annotations

import threading
import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.billing import NewConsumer
from connectors.demo import PERSONAS
from hub.lookup import process_service
from hub.models.meta import utcnow
from hub.models.nodues import LinkedConnection, NoDuesApplication
from hub.models.otp import OtpChallenge
from hub.models.outbox import OutboxMessage
from hub.models.workflow import WorkflowCase
from hub.systems import Connectors
from tests.hub.nodues.flow import PURPOSE, Flow

CLEAN = PERSONAS["clean"]


def _count(flow: Flow, model: Any, *where: Any) -> int:
    with Session(flow.engine) as session:
        return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_wrong_expired_reused_and_misdirected_otps(flow: Flow) -> None:
    mobile = PERSONAS["faulty_meter"].mobile
    proof = flow.otp(mobile, purpose="account", mobile=mobile)
    wrong = "000000" if proof["otp"] != "000000" else "111111"
    bad = flow.app.post_json(
        "/api/v1/nodues/accounts",
        {"mobile": mobile, "challenge_id": proof["challenge_id"], "otp": wrong},
        headers=flow.headers,
        status=400,
    )
    assert bad.content_type == "application/problem+json" and bad.json["code"] == "otp_invalid"
    # The failed attempt was committed although the request failed.
    assert _count(flow, OtpChallenge, OtpChallenge.failed_attempts == 1) == 1
    # Another mobile's OTP does not open this account.
    other = flow.app.post_json(
        "/api/v1/nodues/accounts", {"mobile": CLEAN.mobile, **proof}, headers=flow.headers, status=400
    )
    assert other.json["code"] == "otp_invalid"
    ok = flow.app.post_json(
        "/api/v1/nodues/accounts", {"mobile": mobile, **proof}, headers=flow.headers, status=201
    )
    account_id = ok.json["account_id"]
    reused = flow.app.post_json(
        "/api/v1/nodues/accounts", {"mobile": mobile, **proof}, headers=flow.headers, status=400
    )
    assert reused.json["code"] == "otp_used"
    # An account OTP cannot confirm an application (bound to its purpose).
    fresh = flow.otp(mobile, purpose="account", mobile=mobile)
    misused = flow.app.post_json(
        "/api/v1/nodues/applications",
        {
            "account_id": account_id,
            "name_latin": "Irfan Khan",
            "samagra_id": PERSONAS["faulty_meter"].samagra_id,
            "purpose": PURPOSE,
            **fresh,
        },
        headers=flow.headers,
        status=400,
    )
    assert misused.json["code"] == "otp_invalid"
    expiring = flow.otp(mobile, purpose="account", mobile=mobile)
    with flow.engine.begin() as conn:
        conn.execute(
            update(OtpChallenge)
            .where(OtpChallenge.challenge_id == expiring["challenge_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = flow.app.post_json(
        "/api/v1/nodues/accounts", {"mobile": mobile, **expiring}, headers=flow.headers, status=400
    )
    assert expired.json["code"] == "otp_expired"
    assert _count(flow, NoDuesApplication) == 0


def test_brute_force_exhausts_the_challenge_then_locks_the_mobile(flow: Flow) -> None:
    mobile = PERSONAS["disconnected_smart"].mobile

    def attempt(proof: dict[str, str], code: str) -> Any:
        return flow.app.post_json(
            "/api/v1/nodues/accounts",
            {"mobile": mobile, "challenge_id": proof["challenge_id"], "otp": code},
            headers=flow.headers,
            expect_errors=True,
        )

    codes = []
    for _ in range(4):
        proof = flow.otp(mobile, purpose="account", mobile=mobile)
        wrong = f"{(int(proof['otp']) + 1) % 1_000_000:06d}"
        codes = [attempt(proof, wrong).json["code"] for _ in range(3)]
        if codes[-1] == "otp_locked":
            break
        # After three wrong tries even the right code is refused.
        assert attempt(proof, proof["otp"]).json["code"] in ("otp_attempts_exhausted", "otp_locked")
    assert "otp_locked" in codes
    locked = flow.app.post_json(
        "/api/v1/nodues/otp", {"purpose": "account", "mobile": mobile}, headers=flow.headers, status=429
    )
    assert locked.json["code"] == "otp_locked"


def test_per_mobile_send_limit(flow: Flow) -> None:
    mobile = PERSONAS["incomplete_kyc"].mobile
    for _ in range(5):
        flow.app.post_json(
            "/api/v1/nodues/otp", {"purpose": "account", "mobile": mobile}, headers=flow.headers, status=202
        )
    refused = flow.app.post_json(
        "/api/v1/nodues/otp", {"purpose": "account", "mobile": mobile}, headers=flow.headers, status=429
    )
    assert refused.json["code"] == "otp_send_limit"
    assert _count(flow, OtpChallenge, OtpChallenge.mobile == mobile) == 5


@pytest.mark.parametrize(
    "number",
    [
        "12345",
        "१०१९९९००११",
        "10199900 11",
        "+911019990011",
        "1019990011123",
        "10199900l1",
        "",
        1019990011,
        None,
    ],
)
def test_consumer_numbers_in_wrong_shapes(flow: Flow, number: Any) -> None:
    account_id = _account(flow, CLEAN.mobile)
    answer = flow.app.post_json(
        f"/api/v1/nodues/accounts/{account_id}/connections",
        {"consumer_number": number},
        headers=flow.headers,
        status=400,
    )
    assert answer.json["code"] == "validation_failed"
    assert answer.json["errors"][0]["field"] == "consumer_number"
    assert (
        flow.app.delete(
            f"/api/v1/nodues/accounts/{account_id}/connections/12ab", headers=flow.headers, status=400
        ).json["errors"][0]["field"]
        == "consumer_number"
    )


def _account(flow: Flow, mobile: str) -> str:
    return str(flow.open_account(mobile, status="*")["account_id"])  # type: ignore[arg-type]


def test_unknown_and_someone_elses_connections_unlink_and_unlinked_applications(flow: Flow) -> None:
    account_id = _account(flow, CLEAN.mobile)
    base = f"/api/v1/nodues/accounts/{account_id}/connections"
    unknown = flow.app.post_json(base, {"consumer_number": "1019999999"}, headers=flow.headers, status=422)
    assert unknown.json["code"] == "unknown_consumer_number"
    theirs = PERSONAS["dues"].consumer_numbers[1]
    refused = flow.app.post_json(base, {"consumer_number": theirs}, headers=flow.headers, status=403)
    assert refused.json["code"] == "connection_not_yours"
    # Applying for it while not linked is refused, and nothing is written.
    not_linked = flow.apply(
        account_id,
        CLEAN.mobile,
        status=422,
        name_latin="Ramesh",
        samagra_id=CLEAN.samagra_id,
        connections=[theirs],
    )
    assert not_linked.json["code"] == "connection_not_linked" and not_linked.json["consumer_numbers"] == [
        theirs
    ]
    assert _count(flow, NoDuesApplication) == 0 and _count(flow, WorkflowCase) == 0
    # With an OTP to the connection's registered mobile (its owner consents), it links.
    proof = flow.otp(PERSONAS["dues"].mobile, purpose="link", account_id=account_id, consumer_number=theirs)
    linked = flow.app.post_json(base, {"consumer_number": theirs, **proof}, headers=flow.headers, status=201)
    assert linked.json["proof"] == "mobile_otp"
    assert len(flow.connections(account_id)["connections"]) == 2
    flow.app.delete(f"{base}/{theirs}", headers=flow.headers, status=204)
    assert [c["consumer_number"] for c in flow.connections(account_id)["connections"]] == [
        CLEAN.consumer_numbers[0]
    ]
    gone = flow.app.delete(f"{base}/{theirs}", headers=flow.headers, status=422)
    assert gone.json["code"] == "connection_not_linked"


def test_the_26th_connection_is_refused(flow: Flow) -> None:
    mobile = "9812345670"
    billing = process_service(flow.registry, Connectors)["billing"]
    numbers = [
        billing.create_consumer(
            NewConsumer(f"test-26-{i}", "Kamal Soni", "कमल सोनी", None, mobile, "DC-101", "LV1")
        ).consumer_number
        for i in range(26)
    ]
    account = flow.open_account(mobile)
    assert len(account["connections"]) == 25
    base = f"/api/v1/nodues/accounts/{account['account_id']}/connections"
    full = flow.app.post_json(base, {"consumer_number": numbers[25]}, headers=flow.headers, status=409)
    assert full.json["code"] == "connection_limit" and full.json["max_connections"] == 25
    otp = flow.app.post_json(
        "/api/v1/nodues/otp",
        {"purpose": "link", "account_id": account["account_id"], "consumer_number": numbers[25]},
        headers=flow.headers,
        status=409,
    )
    assert otp.json["code"] == "connection_limit"
    assert _count(flow, LinkedConnection, LinkedConnection.consumer_number == numbers[25]) == 0


def test_names_in_devanagari_latin_and_mixed_scripts(flow: Flow) -> None:
    person = PERSONAS["faulty_meter"]
    account_id = _account(flow, person.mobile)
    mixed = flow.apply(
        account_id,
        person.mobile,
        status=400,
        name_deva="मोहम्मद Irfan",
        name_latin="Irfan खान",
        samagra_id=person.samagra_id,
    ).json
    assert mixed["code"] == "validation_failed"
    assert {(e["field"], e["code"]) for e in mixed["errors"]} == {
        ("name_deva", "mixed_script"),
        ("name_latin", "mixed_script"),
    }
    nameless = flow.apply(account_id, person.mobile, status=400, samagra_id=person.samagra_id).json
    assert ("name_deva", "required") in {(e["field"], e["code"]) for e in nameless["errors"]}
    # Decomposed input (नुक़्ता as a separate mark) is stored composed, exactly as the person wrote it.
    decomposed = unicodedata.normalize("NFD", person.name_hi)
    filed = flow.apply(account_id, person.mobile, name_deva=decomposed, samagra_id=person.samagra_id).json
    assert filed["applicant"]["name_deva"] == unicodedata.normalize("NFC", person.name_hi)


def test_bad_fields_are_reported_together(flow: Flow) -> None:
    account_id = _account(flow, PERSONAS["several_connections"].mobile)
    answer = flow.app.post_json(
        "/api/v1/nodues/applications",
        {
            "account_id": account_id,
            "name_latin": "Rajesh Gupta",
            "samagra_id": "90000007",
            "purpose": {"election": "lok_sabha"},
            "dues_as_of": "2999-01-01",
            "challenge_id": "otp_x",
            "otp": "12ab",
        },
        headers=flow.headers,
        status=400,
    ).json
    fields = {e["field"] for e in answer["errors"]}
    assert {"samagra_id", "purpose/election", "purpose/body", "dues_as_of", "challenge_id", "otp"} <= fields


def test_duplicate_concurrent_applications_one_wins(flow: Flow) -> None:
    person = PERSONAS["several_connections"]
    account_id = _account(flow, person.mobile)
    proofs = [
        flow.otp(person.mobile, purpose="apply", account_id=account_id, samagra_id=person.samagra_id)
        for _ in range(2)
    ]
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def file(proof: dict[str, str]) -> None:
        browser = TestApp(flow.app.app)
        barrier.wait()
        answers.append(
            browser.post_json(
                "/api/v1/nodues/applications",
                {
                    "account_id": account_id,
                    "name_latin": person.name_en,
                    "samagra_id": person.samagra_id,
                    "purpose": PURPOSE,
                    **proof,
                },
                headers=flow.headers,
                expect_errors=True,
            )
        )

    threads = [threading.Thread(target=file, args=(p,)) for p in proofs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(a.status_int for a in answers) == [202, 409]
    loser = next(a for a in answers if a.status_int == 409)
    assert loser.content_type == "application/problem+json" and loser.json["code"] == "application_open"
    # Nothing half-written: one application, one case, one checks message.
    assert _count(flow, NoDuesApplication, NoDuesApplication.samagra_id == person.samagra_id) == 1
    winner = next(a for a in answers if a.status_int == 202).json["application_id"]
    assert _count(flow, WorkflowCase, WorkflowCase.subject_id == winner) == 1
    assert _count(flow, WorkflowCase) == _count(flow, NoDuesApplication)
    assert _count(flow, OutboxMessage, OutboxMessage.kind == "nodues.checks") == _count(
        flow, NoDuesApplication
    )
    again = flow.apply(
        account_id, person.mobile, status=409, name_latin=person.name_en, samagra_id=person.samagra_id
    )
    assert again.json["code"] == "application_open"


def test_each_client_sees_only_its_own_people_and_applications(flow: Flow, live_client: Any) -> None:
    person = PERSONAS["dues"]
    account_id = _account(flow, person.mobile)
    app_id = flow.apply(
        account_id, person.mobile, name_latin=person.name_en, samagra_id=person.samagra_id
    ).json["application_id"]
    other = live_client(["nodues:apply", "nodues:read"])["headers"]
    missing = flow.app.get(f"/api/v1/nodues/applications/{app_id}", headers=other, status=404)
    assert missing.json["code"] == "not_found"
    assert flow.app.get("/api/v1/nodues/applications", headers=other).json["applications"] == []
    assert (
        flow.app.get(f"/api/v1/nodues/accounts/{account_id}/connections", headers=other, status=404).json[
            "code"
        ]
        == "not_found"
    )
    assert [
        a["application_id"]
        for a in flow.app.get("/api/v1/nodues/applications", headers=flow.headers).json["applications"]
    ] == [app_id]
    reader = live_client(["nodues:read"])["headers"]
    forbidden = flow.app.post_json(
        "/api/v1/nodues/otp", {"purpose": "account", "mobile": person.mobile}, headers=reader, status=403
    )
    assert forbidden.json["code"] == "insufficient_scope"
