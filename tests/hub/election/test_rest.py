"""REST: verifyCertificate by an authority, verifyCertificates (mixed batch), getDuesStatus; the holder's SMS."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.errors import ConnectorUnavailable
from hub.lookup import process_service
from hub.models.document import DocumentVerification
from hub.systems import Connectors
from tests.hub.election.conftest import AUTHORITY_NAME, Election

VERIFY = "/api/v1/certificates/verify"
BATCH = "/api/v1/election/verifications"
DUES = "/api/v1/election/dues"


def test_authority_verification_texts_the_holder_once_a_day(election: Election) -> None:
    record, code, mobile = election.certificate()
    authority = election.authority()
    app = election.app
    for _ in range(3):
        answer = app.post_json(
            VERIFY, {"number": record.number, "code": code}, headers=authority["headers"]
        ).json
        assert answer["status"] == "valid"
    answer = app.post_json(
        VERIFY, {"number": record.number, "samagra_id": "000000000"}, headers=authority["headers"]
    ).json
    assert answer == {"number": record.number, "status": "unknown"}
    election.drain()
    sent = election.sms(mobile)
    assert len(sent) == 1
    assert record.number in sent[0].text and AUTHORITY_NAME in sent[0].text
    # Every verification is logged, the wrong Samagra ID included.
    with election.engine.connect() as conn:
        logged = conn.execute(
            select(func.count()).where(
                DocumentVerification.number_given == record.number,
                DocumentVerification.verifier == f"client:{authority['client_id']}",
            )
        ).scalar_one()
    assert logged == 4


def test_public_verification_by_code_sends_no_sms(election: Election) -> None:
    record, code, mobile = election.certificate()
    answer = election.app.post_json(VERIFY, {"number": record.number, "code": code}).json
    assert answer["status"] == "valid"
    election.drain()
    assert election.sms(mobile) == []


def test_batch_answers_every_item_on_its_own(election: Election) -> None:
    good, code, mobile = election.certificate(name_latin="Sunita Devi Verma")
    revoked, revoked_code, _ = election.certificate(revoked=True)
    expired, expired_code, _ = election.certificate(issued_days_ago=100)
    authority = election.authority()
    items: list[Any] = [
        {"ref": "A-1", "number": good.number, "code": code},
        {"ref": "A-2", "number": good.number, "holder_name": "sunita  devi VERMA"},
        {"ref": "A-3", "number": good.number, "code": "WRNG-CODE-0000"},
        {"ref": "A-4", "number": "MPCZ/ND/1999-00/999999", "code": code},
        {"ref": "A-5", "number": "not a number!", "code": code},
        {"ref": "A-6", "number": good.number},
        "not an object",
        {"number": revoked.number, "code": revoked_code},
        {"number": expired.number, "code": expired_code},
        {"number": good.number, "code": code},
    ]
    answer = election.app.post_json(BATCH, {"items": items}, headers=authority["headers"]).json
    assert answer["count"] == len(items)
    got = [
        (i["index"], i.get("ref"), i.get("result", {}).get("status"), i.get("error", {}).get("field"))
        for i in answer["items"]
    ]
    assert got == [
        (0, "A-1", "valid", None),
        (1, "A-2", "valid", None),
        (2, "A-3", "unknown", None),
        (3, "A-4", "unknown", None),
        (4, "A-5", None, "number"),
        (5, "A-6", None, "code"),
        (6, None, None, "6"),
        (7, None, "revoked", None),
        (8, None, "expired", None),
        (9, None, "valid", None),
    ]
    assert answer["items"][4]["error"]["code"] == "validation_failed"
    # The batch's valid answer is exactly REST verifyCertificate's.
    single = election.app.post_json(
        VERIFY, {"number": good.number, "code": code}, headers=authority["headers"]
    ).json
    assert answer["items"][0]["result"] == single
    assert answer["items"][7]["result"]["revocation_reason"] == "dues found after issue"
    election.drain()
    assert len(election.sms(mobile)) == 1  # named four times, verified twice: one SMS


def test_batch_limits(election: Election) -> None:
    authority = election.authority()
    app = election.app
    too_many = [{"number": "MPCZ/ND/2026-27/000001", "code": "AAAA-BBBB-CCCC"}] * 1001
    problem = app.post_json(BATCH, {"items": too_many}, headers=authority["headers"], status=400).json
    assert problem["code"] == "validation_failed"
    assert app.post_json(BATCH, {"items": []}, headers=authority["headers"], status=400).json["code"] == (
        "validation_failed"
    )
    assert app.post_json(BATCH, {"items": [{}]}, status=401).json["code"] == "invalid_token"
    dues_only = election.authority(["dues:read"])
    assert app.post_json(BATCH, {"items": [{}]}, headers=dues_only["headers"], status=403).json["code"] == (
        "insufficient_scope"
    )


def test_dues_by_consumer_numbers_and_by_samagra(election: Election) -> None:
    from connectors.demo import PERSONAS

    authority = election.authority()
    dues = PERSONAS["dues"]
    answer = election.app.post_json(
        DUES, {"consumer_numbers": [*dues.consumer_numbers, "1234567890"]}, headers=authority["headers"]
    ).json
    statuses = {c["consumer_number"]: c["status"] for c in answer["connections"]}
    assert statuses == {
        dues.consumer_numbers[0]: "dues",
        dues.consumer_numbers[1]: "clear",
        "1234567890": "unknown",
    }
    assert answer["connections"][0]["amount"] == "4572.50"
    assert answer["clear"] is False
    clean = PERSONAS["clean"]
    by_samagra = election.app.post_json(
        DUES, {"samagra_id": clean.samagra_id}, headers=authority["headers"]
    ).json
    assert by_samagra["clear"] is True and by_samagra["no_connection"] is False
    assert [c["consumer_number"] for c in by_samagra["connections"]] == list(clean.consumer_numbers)
    none = election.app.post_json(
        DUES, {"samagra_id": PERSONAS["no_connection"].samagra_id}, headers=authority["headers"]
    ).json
    assert none["no_connection"] is True and none["connections"] == []


def test_dues_for_a_samagra_id_the_registry_does_not_know_is_unknown_never_clear(election: Election) -> None:
    authority = election.authority()
    answer = election.app.post_json(DUES, {"samagra_id": "123456789"}, headers=authority["headers"]).json
    assert (answer["status"], answer["clear"], answer["no_connection"], answer["connections"]) == (
        "unknown",
        False,
        False,
        [],
    )
    from connectors.demo import PERSONAS

    known = election.app.post_json(
        DUES, {"samagra_id": PERSONAS["no_connection"].samagra_id}, headers=authority["headers"]
    ).json
    assert (known["status"], known["clear"], known["no_connection"]) == ("clear", True, True)
    owing = election.app.post_json(
        DUES, {"samagra_id": PERSONAS["dues"].samagra_id}, headers=authority["headers"]
    ).json
    assert (owing["status"], owing["clear"]) == ("dues", False)


def test_dues_refuses_bad_questions(election: Election) -> None:
    authority = election.authority()
    app = election.app
    for body in (
        {},
        {"consumer_numbers": ["12"]},
        {"consumer_numbers": ["1234567890"], "samagra_id": "900000011"},
        {"samagra_id": "900000011", "as_of": "2999-01-01"},
    ):
        assert (
            app.post_json(DUES, body, headers=authority["headers"], status=400).json["code"]
            == "validation_failed"
        )
    verify_only = election.authority(["certificates:verify"])
    assert app.post_json(DUES, {"samagra_id": "900000011"}, headers=verify_only["headers"], status=403)


def test_dues_when_billing_is_down_is_503_not_a_guess(
    election: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority = election.authority()
    billing = process_service(election.registry, Connectors)["billing"]

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectorUnavailable("billing timed out", system="billing")

    monkeypatch.setattr(billing, "outstanding_dues_many", down)
    problem = election.app.post_json(
        DUES, {"consumer_numbers": ["1234567890"]}, headers=authority["headers"], status=503
    )
    assert problem.json["code"] == "dependency_unavailable"
    assert problem.headers["Retry-After"] == "30"


def test_openapi_lists_the_operations(election: Election) -> None:
    spec = election.app.get("/openapi.json").json
    ids = {
        op.get("operationId")
        for path in spec["paths"].values()
        for op in path.values()
        if isinstance(op, dict)
    }
    assert {
        "verifyCertificate",
        "verifyCertificates",
        "getDuesStatus",
        "createVerificationJob",
        "getVerificationJob",
        "getVerificationJobCsv",
        "getVerificationJobXml",
    } <= ids
