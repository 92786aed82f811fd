"""The KYC API for DBT clients and the person's side, through the real app (rolled back per test)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.audit import verify_chain
from hub.models.kyc import ConnectionKyc
from hub.models.otp import OtpChallenge
from hub.models.outbox import OutboxMessage
from tests.hub.kyc.kycdata import (
    OTHER_SCHEME,
    SCHEME,
    add_records,
    dbt_client,
    give_consent,
    kyc_record,
)

LOOKUP = "/api/v1/kyc/records/lookup"
CHANGES = "/api/v1/kyc/changes"
ALL_FIELDS = (
    "consumer_number,holder_name_en,holder_name_hi,samagra_id,mobile,bank_account,ifsc,kyc_status,kyc_date"
)


@pytest.fixture()
def people(dbsession: Session) -> dict[str, Any]:
    """Two consenting people (one with two connections), one without consent, one without Samagra ID."""
    add_records(
        dbsession,
        kyc_record("1019990020", "900000021"),
        kyc_record("1019990038", "900000021"),
        kyc_record(
            "1019990046", "900000031", holder_name_hi="रामेश्वर प्रसाद द्विवेदी", holder_name_en="Rameshwar"
        ),
        kyc_record("1019990053", "900000041"),
        kyc_record("1019990061", None, bank_account=None, ifsc=None),
    )
    give_consent(dbsession, "900000021")
    give_consent(dbsession, "900000031")
    return {}


def lookup(testapp: TestApp, client: dict[str, Any], status: int = 200, **body: Any) -> Any:
    body.setdefault("purpose", SCHEME)
    return testapp.post_json(LOOKUP, body, headers=client["headers"], status=status)


def test_reading_outside_the_clients_purposes_is_refused(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    client = dbt_client(make_client, dbsession, "consumer_number")
    answer = lookup(testapp, client, 403, purpose=OTHER_SCHEME, consumer_numbers=["1019990020"])
    assert answer.json["code"] == "kyc_purpose_not_allowed"
    # A registered purpose without a field policy releases nothing either (deny by default).
    bare = make_client(["kyc:read"], [OTHER_SCHEME])
    assert lookup(testapp, bare, 403, purpose=OTHER_SCHEME, consumer_numbers=["1019990020"]).json["code"] == (
        "kyc_purpose_not_allowed"
    )
    # Consent for one scheme is not consent for another, even for a client holding both purposes.
    both = dbt_client(make_client, dbsession, "consumer_number", purposes=(SCHEME, OTHER_SCHEME))
    item = lookup(testapp, both, purpose=OTHER_SCHEME, consumer_numbers=["1019990020"]).json["items"][0]
    assert item["status"] == "no_consent" and "record" not in item


def test_scopes_are_kept_apart(testapp: TestApp, make_client: Any, dbsession: Session, people: Any) -> None:
    reader = dbt_client(make_client, dbsession, "consumer_number")
    exporter = dbt_client(make_client, dbsession, "consumer_number", scopes=("kyc:export",))
    portal = make_client(["kyc:consent"], [SCHEME])
    testapp.get("/api/v1/kyc/export", {"purpose": SCHEME}, headers=reader["headers"], status=403)
    for other in (exporter, portal):
        answer = lookup(testapp, other, 403, consumer_numbers=["1019990020"])
        assert answer.json["code"] == "insufficient_scope"
        testapp.get(CHANGES, {"purpose": SCHEME}, headers=other["headers"], status=403)
    testapp.post_json(
        "/api/v1/kyc/my/disclosures",
        {"samagra_id": "900000021", "mobile": "9890020"},
        headers=reader["headers"],
        status=403,
    )


def test_field_policy_masking_and_devanagari(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    masked = dbt_client(make_client, dbsession, "holder_name_hi,bank_account,ifsc")
    item = lookup(testapp, masked, consumer_numbers=["1019990046"]).json["items"][0]
    assert item == {
        "consumer_number": "1019990046",
        "status": "found",
        "record": {
            "holder_name_hi": "रामेश्वर प्रसाद द्विवेदी",
            "bank_account": "XXXXXX7812",
            "ifsc": "HDFC0001234",
        },
    }
    full = dbt_client(make_client, dbsession, ALL_FIELDS, full_bank_account=True)
    answer = lookup(testapp, full, samagra_ids=["900000021"])
    assert "सुनीता देवी वर्मा".encode() in answer.body  # UTF-8 as is, not \u escapes
    records = answer.json["items"][0]["records"]
    assert [r["consumer_number"] for r in records] == ["1019990020", "1019990038"]
    assert records[0]["bank_account"] == "50100234567812"
    assert set(records[0]) == set(ALL_FIELDS.split(","))
    assert answer.headers["Cache-Control"] == "no-store"
    # At rest the account is ciphertext only.
    stored = dbsession.execute(
        select(ConnectionKyc.bank_account_enc).where(ConnectionKyc.consumer_number == "1019990020")
    ).scalar_one()
    assert stored and "50100234567812" not in stored


def test_withdrawn_and_expired_consent(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    client = dbt_client(make_client, dbsession, "consumer_number,mobile")
    portal = make_client(["kyc:consent"])
    assert lookup(testapp, client, consumer_numbers=["1019990020"]).json["items"][0]["status"] == "found"
    withdrawn = testapp.post_json(
        "/api/v1/kyc/consents/withdrawal",
        {"samagra_id": "900000021", "mobile": "9899990020", "purpose": SCHEME},
        headers=portal["headers"],
    )
    assert withdrawn.json["withdrawn"] == 1
    # The next pull already sees it.
    item = lookup(testapp, client, consumer_numbers=["1019990020"]).json["items"][0]
    assert item == {"consumer_number": "1019990020", "status": "no_consent"}
    # Expired consent: given 400 days ago for 365 days.
    give_consent(dbsession, "900000041", days=365, ago=timedelta(days=400))
    assert lookup(testapp, client, consumer_numbers=["1019990053"]).json["items"][0]["status"] == "no_consent"
    give_consent(dbsession, "900000041", days=30)
    assert lookup(testapp, client, consumer_numbers=["1019990053"]).json["items"][0]["status"] == "found"


def test_absent_answers_look_alike_when_the_policy_says_so(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    asked: dict[str, Any] = {
        "consumer_numbers": ["1019990053", "1019999992", "1019990061", "x1"],
        "samagra_ids": ["900000041", "900000099"],
    }
    plain = dbt_client(make_client, dbsession, "consumer_number")
    statuses = [i["status"] for i in lookup(testapp, plain, **asked).json["items"]]
    assert statuses == ["no_consent", "unknown", "no_consent", "invalid", "no_consent", "unknown"]
    uniform = dbt_client(make_client, dbsession, "consumer_number", uniform_absent=True)
    items = lookup(testapp, uniform, **asked).json["items"]
    assert [i["status"] for i in items] == ["not_available"] * 3 + ["invalid"] + ["not_available"] * 2
    # Nothing else in the item tells them apart either.
    assert {frozenset(i) for i in items if i["status"] == "not_available"} == {
        frozenset({"consumer_number", "status"}),
        frozenset({"samagra_id", "status"}),
    }


def test_batch_cap_and_malformed_body(testapp: TestApp, make_client: Any, dbsession: Session) -> None:
    client = dbt_client(make_client, dbsession, "consumer_number")
    too_many = lookup(
        testapp,
        client,
        400,
        consumer_numbers=[f"10199{i:05d}" for i in range(600)],
        samagra_ids=[f"9{i:08d}" for i in range(401)],
    )
    assert too_many.json["errors"][0]["code"] == "too_many"
    assert lookup(testapp, client, 400, consumer_numbers="1019990020").json["code"] == "validation_failed"
    assert lookup(testapp, client, 400).json["code"] == "validation_failed"


def test_probing_by_enumeration_is_stopped(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    client = dbt_client(make_client, dbsession, "consumer_number", uniform_absent=True)
    guesses = [f"10{i:08d}" for i in range(30_000_000, 30_001_000)]
    first = lookup(testapp, client, consumer_numbers=guesses)
    assert {i["status"] for i in first.json["items"]} == {"not_available"}
    # The answers looked alike, but the hub counted them: the next batch is refused for the minute.
    refused = lookup(testapp, client, 429, consumer_numbers=["1019990020"])
    assert refused.json["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another client is not affected.
    other = dbt_client(make_client, dbsession, "consumer_number")
    assert lookup(testapp, other, consumer_numbers=["1019990020"]).json["items"][0]["status"] == "found"


def _tamper(cursor: str) -> list[str]:
    body, tag = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["a"] = 0
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    return [forged + "." + tag, flipped, "garbage", cursor + "x", "." * 3]


def test_change_feed_and_cursor_tampering(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    from hub.kycstore import record_ekyc

    client = dbt_client(make_client, dbsession, "consumer_number,bank_account")
    other = dbt_client(make_client, dbsession, "consumer_number")
    give_consent(dbsession, "900000021", OTHER_SCHEME)  # another scheme's consent: not in this feed
    events: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        params = {"purpose": SCHEME, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = testapp.get(CHANGES, params, headers=client["headers"]).json
        events += page["events"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    kinds = [(e["kind"], e.get("record", {}).get("consumer_number")) for e in events]
    # Records of consenting people only (900000041 and the connection without Samagra ID stay out).
    assert kinds == [("kyc_new", "1019990020"), ("kyc_new", "1019990038"), ("kyc_new", "1019990046")]
    assert events[0]["record"] == {"consumer_number": "1019990020", "bank_account": "XXXXXX7812"}
    # Nothing new: an empty page, same position.
    page = testapp.get(CHANGES, {"purpose": SCHEME, "cursor": cursor}, headers=client["headers"]).json
    assert page["events"] == [] and page["has_more"] is False
    # A changed account and a withdrawal arrive on the next call.
    record_ekyc(dbsession, kyc_record("1019990046", "900000031", bank_account="777788889999"), "sync")
    from hub.kyc.consent import withdraw_consent

    withdraw_consent(dbsession, "900000021", SCHEME, "c_portal")
    page = testapp.get(CHANGES, {"purpose": SCHEME, "cursor": cursor}, headers=client["headers"]).json
    assert [(e["kind"], e["samagra_id"]) for e in page["events"]] == [
        ("bank_account_changed", "900000031"),
        ("consent_withdrawn", "900000021"),
    ]
    assert page["events"][0]["record"]["bank_account"] == "XXXXXX9999"
    # Tampered cursors, and a cursor shown to another client, are refused.
    assert cursor is not None
    for bad in [*_tamper(cursor), page["next_cursor"]]:
        who = other if bad == page["next_cursor"] else client
        answer = testapp.get(CHANGES, {"purpose": SCHEME, "cursor": bad}, headers=who["headers"], status=400)
        assert answer.json["code"] == "kyc_cursor_invalid"
    # A feed cursor is not an export cursor.
    exporter = dbt_client(make_client, dbsession, "consumer_number", scopes=("kyc:export",))
    answer = testapp.get(
        "/api/v1/kyc/export", {"purpose": SCHEME, "cursor": cursor}, headers=exporter["headers"], status=400
    )
    assert answer.json["code"] == "kyc_cursor_invalid"


def _outbox_code(dbsession: Session, mobile: str) -> str:
    message = dbsession.execute(
        select(OutboxMessage).where(OutboxMessage.kind == "sms").order_by(OutboxMessage.id.desc()).limit(1)
    ).scalar_one()
    payload = message.payload if isinstance(message.payload, dict) else json.loads(message.payload)
    assert payload["mobile"] == mobile and payload["template"] == "otp"
    return str(payload["text"].split()[0])


def test_consent_by_otp_to_the_mobile_on_record(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    reader = dbt_client(make_client, dbsession, "consumer_number,holder_name_hi")
    portal = make_client(["kyc:consent"])
    person = {"samagra_id": "900000041", "purpose": SCHEME, "days": 90}
    assert lookup(testapp, reader, consumer_numbers=["1019990053"]).json["items"][0]["status"] == "no_consent"
    sent = testapp.post_json("/api/v1/kyc/consents/otp", person, headers=portal["headers"], status=202).json
    assert sent["sent_to"] == "XXXXXX0053"
    code = _outbox_code(dbsession, "9899990053")
    wrong = "000000" if code != "000000" else "111111"
    refused = testapp.post_json(
        "/api/v1/kyc/consents",
        {**person, "challenge_id": sent["challenge_id"], "otp": wrong},
        headers=portal["headers"],
        status=400,
    )
    assert refused.json["code"] == "otp_invalid"
    # The failed attempt was kept (the view returned the problem, so the transaction committed).
    challenge = dbsession.execute(
        select(OtpChallenge).where(OtpChallenge.challenge_id == sent["challenge_id"])
    ).scalar_one()
    dbsession.refresh(challenge)
    assert challenge.failed_attempts == 1
    # The OTP was sent for 90 days of this scheme: it cannot confirm another scheme or duration.
    for other in ({**person, "purpose": OTHER_SCHEME}, {**person, "days": 700}):
        testapp.post_json(
            "/api/v1/kyc/consents",
            {**other, "challenge_id": sent["challenge_id"], "otp": code},
            headers=portal["headers"],
            status=400,
        )
    given = testapp.post_json(
        "/api/v1/kyc/consents",
        {**person, "challenge_id": sent["challenge_id"], "otp": code},
        headers=portal["headers"],
        status=201,
    ).json
    assert given["status"] == "live" and given["purpose"] == SCHEME
    item = lookup(testapp, reader, consumer_numbers=["1019990053"]).json["items"][0]
    assert item["status"] == "found" and item["record"]["holder_name_hi"] == "सुनीता देवी वर्मा"
    listed = testapp.post_json(
        "/api/v1/kyc/my/consents",
        {"samagra_id": "900000041", "mobile": "9899990053"},
        headers=portal["headers"],
    ).json["consents"]
    assert [(c["purpose"], c["status"]) for c in listed] == [(SCHEME, "live")]
    # Unknown scheme, unknown person.
    testapp.post_json(
        "/api/v1/kyc/consents/otp",
        {**person, "purpose": "no-such-scheme"},
        headers=portal["headers"],
        status=422,
    )
    testapp.post_json(
        "/api/v1/kyc/consents/otp",
        {**person, "samagra_id": "900000099"},
        headers=portal["headers"],
        status=404,
    )


def test_person_views_need_the_mobile_on_record(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    portal = make_client(["kyc:consent"])
    for path in ("/api/v1/kyc/my/consents", "/api/v1/kyc/my/disclosures"):
        wrong = testapp.post_json(
            path, {"samagra_id": "900000021", "mobile": "9899990046"}, headers=portal["headers"], status=404
        )
        unknown = testapp.post_json(
            path, {"samagra_id": "900000099", "mobile": "9899990020"}, headers=portal["headers"], status=404
        )
        assert wrong.json["code"] == unknown.json["code"] == "not_found"
    testapp.post_json(
        "/api/v1/kyc/consents/withdrawal",
        {"samagra_id": "900000021", "mobile": "9899990046", "purpose": SCHEME},
        headers=portal["headers"],
        status=404,
    )


def test_disclosure_history_is_exactly_what_was_released(
    testapp: TestApp, make_client: Any, dbsession: Session, people: Any
) -> None:
    narrow = dbt_client(make_client, dbsession, "holder_name_hi,bank_account")
    wide = dbt_client(make_client, dbsession, "consumer_number,mobile,bank_account", full_bank_account=True)
    released: list[tuple[str, str, str, tuple[str, ...]]] = []

    def note(
        client: dict[str, Any], via: str, numbers: list[str], record_keys: set[str], policy_fields: list[str]
    ) -> None:
        fields = tuple(
            f"bank_account:{'full' if client is wide else 'masked'}" if f == "bank_account" else f
            for f in policy_fields
        )
        assert record_keys == set(policy_fields)  # what left is what the policy says
        released.extend((client["client_id"], via, n, fields) for n in numbers)

    answer = lookup(testapp, narrow, consumer_numbers=["1019990020", "1019990053", "1019999992"]).json
    note(narrow, "getKycRecords", ["1019990020"], set(answer["items"][0]["record"]), answer["fields"])
    answer = lookup(
        testapp, wide, samagra_ids=["900000021", "900000031"], consumer_numbers=["1019990020"]
    ).json
    # 1019990020 asked twice in one request (number and Samagra ID): released once, logged once.
    note(
        wide,
        "getKycRecords",
        ["1019990020", "1019990038"],
        set(answer["items"][1]["records"][0]),
        answer["fields"],
    )
    page = testapp.get(CHANGES, {"purpose": SCHEME, "limit": "1"}, headers=wide["headers"]).json
    note(
        wide,
        "listKycChanges",
        ["1019990020"],
        set(page["events"][0]["record"]),
        ["consumer_number", "mobile", "bank_account"],
    )

    portal = make_client(["kyc:consent"])
    history = testapp.post_json(
        "/api/v1/kyc/my/disclosures",
        {"samagra_id": "900000021", "mobile": "9899990020"},
        headers=portal["headers"],
    ).json
    seen = [
        (d["client_id"], d["via"], d["consumer_number"], tuple(d["fields"])) for d in history["disclosures"]
    ]
    assert sorted(seen) == sorted(released)
    assert all(d["purpose"] == SCHEME and d["client_name"] == "test client" for d in history["disclosures"])
    # The person with no consent had nothing disclosed; the other person sees only their own entries.
    nobody = testapp.post_json(
        "/api/v1/kyc/my/disclosures",
        {"samagra_id": "900000041", "mobile": "9899990053"},
        headers=portal["headers"],
    ).json
    assert nobody["disclosures"] == []
    other = testapp.post_json(
        "/api/v1/kyc/my/disclosures",
        {"samagra_id": "900000031", "mobile": "9899990046"},
        headers=portal["headers"],
    ).json
    assert [(d["consumer_number"], d["via"]) for d in other["disclosures"]] == [
        ("1019990046", "getKycRecords")
    ]
    # Paging: one at a time, newest first, same entries.
    paged: list[Any] = []
    before = None
    while True:
        body = {
            "samagra_id": "900000021",
            "mobile": "9899990020",
            "limit": 1,
            **({"before": before} if before else {}),
        }
        got = testapp.post_json("/api/v1/kyc/my/disclosures", body, headers=portal["headers"]).json
        paged += got["disclosures"]
        before = got["next_before"]
        if before is None:
            break
    assert paged == history["disclosures"]
    assert verify_chain(dbsession).ok
