"""Certificates through the WSGI app: numbering, fetching, verification, revocation."""

from __future__ import annotations

import re
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.certificates.issuing import document_files, financial_year, normalise_code, revoke_document
from hub.certificates.keys import DocumentKeys
from hub.lookup import process_service
from hub.models import AuditEntry, DocumentVerification
from tests.hub.documents_fixtures import issue, no_dues_request

NUMBER = re.compile(r"^MPCZ/ND/\d{4}-\d{2}/\d{6}$")


def test_financial_year_turns_in_april_ist() -> None:
    assert financial_year(datetime(2026, 3, 31, 18, 29, tzinfo=UTC)) == "2025-26"  # 23:59 IST on 31 March
    assert financial_year(datetime(2026, 3, 31, 18, 31, tzinfo=UTC)) == "2026-27"  # 00:01 IST on 1 April
    assert financial_year(datetime(2099, 12, 1, tzinfo=UTC)) == "2099-00"


def test_numbers_follow_the_series_without_gaps(testapp: TestApp, dbsession: Session) -> None:
    registry = testapp.app.registry
    first = issue(dbsession, registry).record.number
    second = issue(dbsession, registry).record.number
    assert NUMBER.match(first) and NUMBER.match(second)
    assert int(second.rsplit("/", 1)[1]) == int(first.rsplit("/", 1)[1]) + 1


def test_issue_is_audited(testapp: TestApp, dbsession: Session) -> None:
    issued = issue(dbsession, testapp.app.registry)
    actions = (
        dbsession.execute(select(AuditEntry.action).where(AuditEntry.subject_id == issued.record.number))
        .scalars()
        .all()
    )
    assert actions == ["document.issued"]


def test_fetch_with_code_and_download(testapp: TestApp, dbsession: Session) -> None:
    issued = issue(dbsession, testapp.app.registry)
    number, code = issued.record.number, issued.verification_code
    body = testapp.get(f"/api/v1/certificates/{number}", params={"code": code}).json
    assert body["status"] == "valid"
    assert body["holder_name"] == "किरण शर्मा (Kiran Sharma)"
    assert [c["consumer_number"] for c in body["connections"]] == ["4512300001", "4512300002"]
    assert "samagra_id" not in body and "9876543210" not in str(body)
    xml = testapp.get(f"/api/v1/certificates/{number}/xml", params={"code": code})
    assert xml.content_type == "application/xml"
    assert xml.body == document_files(dbsession, issued.record).xml
    pdf = testapp.get(f"/api/v1/certificates/{number}/pdf", params={"code": code})
    assert pdf.body.startswith(b"%PDF")


def test_wrong_code_and_unknown_number_look_the_same(testapp: TestApp, dbsession: Session) -> None:
    issued = issue(dbsession, testapp.app.registry)
    wrong = testapp.get(
        f"/api/v1/certificates/{issued.record.number}", params={"code": "AAAA-BBBB-CCCC"}, status=404
    )
    missing = testapp.get(
        "/api/v1/certificates/MPCZ/ND/2026-27/999999", params={"code": "AAAA-BBBB-CCCC"}, status=404
    )
    assert wrong.json["code"] == missing.json["code"] == "not_found"
    assert wrong.json.keys() == missing.json.keys()


def test_fetch_with_token_only_for_the_requesting_client(
    testapp: TestApp, dbsession: Session, make_client: Any
) -> None:
    owner = make_client(["certificates:read"])
    other = make_client(["certificates:read"])
    issued = issue(dbsession, testapp.app.registry, no_dues_request(client_id=owner["client_id"]))
    url = f"/api/v1/certificates/{issued.record.number}/pdf"
    assert testapp.get(url, headers=owner["headers"]).body.startswith(b"%PDF")
    testapp.get(url, headers=other["headers"], status=404)


def test_verify_by_code_then_revoke(testapp: TestApp, dbsession: Session, make_client: Any) -> None:
    portal = make_client(["certificates:revoke"])
    issued = issue(dbsession, testapp.app.registry, no_dues_request(client_id=portal["client_id"]))
    number, code = issued.record.number, issued.verification_code
    assert (
        testapp.post_json("/api/v1/certificates/verify", {"number": number, "code": code.lower()}).json[
            "status"
        ]
        == "valid"
    )
    assert testapp.post_json(
        "/api/v1/certificates/verify", {"number": number, "code": "ZZZZ-ZZZZ-ZZZZ"}
    ).json == {
        "number": number,
        "status": "unknown",
    }
    revoked = testapp.post_json(
        f"/api/v1/certificates/{number}/revocation",
        {"reason": "dues found later on 4512300002"},
        headers=portal["headers"],
    ).json
    assert revoked["status"] == "revoked"
    after = testapp.post_json("/api/v1/certificates/verify", {"number": number, "code": code}).json
    assert after["status"] == "revoked"
    assert after["revocation_reason"] == "dues found later on 4512300002"
    again = testapp.post_json(
        f"/api/v1/certificates/{number}/revocation",
        {"reason": "again"},
        headers=portal["headers"],
        status=409,
    )
    assert again.json["code"] == "conflict"
    actions = (
        dbsession.execute(
            select(AuditEntry.action).where(AuditEntry.subject_id == number).order_by(AuditEntry.seq)
        )
        .scalars()
        .all()
    )
    assert actions == ["document.issued", "document.revoked"]


def test_revoke_needs_scope(testapp: TestApp, dbsession: Session, make_client: Any) -> None:
    reader = make_client(["certificates:verify"])
    issued = issue(dbsession, testapp.app.registry, no_dues_request(client_id=reader["client_id"]))
    testapp.post_json(
        f"/api/v1/certificates/{issued.record.number}/revocation",
        {"reason": "x"},
        headers=reader["headers"],
        status=403,
    )


def test_a_client_revokes_only_its_own_certificates_and_a_strangers_look_missing(
    testapp: TestApp, dbsession: Session, make_client: Any
) -> None:
    owner = make_client(["certificates:revoke"])
    stranger = make_client(["certificates:revoke"])
    issued = issue(dbsession, testapp.app.registry, no_dues_request(client_id=owner["client_id"]))
    number = issued.record.number
    url = f"/api/v1/certificates/{number}/revocation"
    refused = testapp.post_json(url, {"reason": "x"}, headers=stranger["headers"], status=404).json
    missing = testapp.post_json(
        "/api/v1/certificates/MPCZ/ND/1999-00/000001/revocation",
        {"reason": "x"},
        headers=stranger["headers"],
        status=404,
    ).json
    per_request = ("instance", "request_id")
    assert {k: v for k, v in refused.items() if k not in per_request} == {
        k: v for k, v in missing.items() if k not in per_request
    }
    dbsession.refresh(issued.record)
    assert issued.record.status == "valid"
    # A certificate the hub issued without a partner's request (console, CLI) is the officers' alone.
    unowned = issue(dbsession, testapp.app.registry)
    testapp.post_json(
        f"/api/v1/certificates/{unowned.record.number}/revocation",
        {"reason": "x"},
        headers=owner["headers"],
        status=404,
    )
    testapp.post_json(url, {"reason": "issued in error"}, headers=owner["headers"])
    dbsession.refresh(issued.record)
    assert issued.record.status == "revoked"


def test_the_revoking_actor_is_the_authenticated_client_never_the_body(
    testapp: TestApp, dbsession: Session, make_client: Any
) -> None:
    owner = make_client(["certificates:revoke"])
    issued = issue(dbsession, testapp.app.registry, no_dues_request(client_id=owner["client_id"]))
    url = f"/api/v1/certificates/{issued.record.number}/revocation"
    named = testapp.post_json(
        url, {"reason": "x", "revoked_by": "Chief Minister"}, headers=owner["headers"], status=400
    ).json
    assert named["code"] == "validation_failed"
    assert [e["field"] for e in named["errors"]] == ["revoked_by"]
    too_long = testapp.post_json(url, {"reason": "x" * 501}, headers=owner["headers"], status=400).json
    assert [(e["field"], e["code"]) for e in too_long["errors"]] == [("reason", "too_long")]
    testapp.post_json(url, {}, headers=owner["headers"], status=400)
    # The longest reason fits whatever the database (a name of 178+ characters used to fail on PostgreSQL).
    testapp.post_json(url, {"reason": "ख" * 500}, headers=owner["headers"])
    entry = dbsession.execute(
        select(AuditEntry).where(
            AuditEntry.subject_id == issued.record.number, AuditEntry.action == "document.revoked"
        )
    ).scalar_one()
    assert entry.actor == f"client:{owner['client_id']}"
    dbsession.refresh(issued.record)
    assert issued.record.revoked_by == f"client:{owner['client_id']}"
    assert issued.record.revocation_reason == "ख" * 500


def test_expired_and_superseded(testapp: TestApp, dbsession: Session) -> None:
    registry = testapp.app.registry
    old = issue(
        dbsession,
        registry,
        no_dues_request(valid_for=timedelta(days=1)),
        now=datetime.now(UTC) - timedelta(days=3),
    )
    assert (
        testapp.post_json(
            "/api/v1/certificates/verify", {"number": old.record.number, "code": old.verification_code}
        ).json["status"]
        == "expired"
    )
    first = issue(dbsession, registry)
    second = issue(dbsession, registry, no_dues_request(supersedes=first.record))
    assert (
        testapp.post_json(
            "/api/v1/certificates/verify", {"number": first.record.number, "code": first.verification_code}
        ).json["status"]
        == "superseded"
    )
    assert (
        testapp.post_json(
            "/api/v1/certificates/verify", {"number": second.record.number, "code": second.verification_code}
        ).json["status"]
        == "valid"
    )


def test_a_verification_answer_is_utf8_json_with_the_holder_name_unescaped(
    testapp: TestApp, dbsession: Session
) -> None:
    issued = issue(dbsession, testapp.app.registry)
    answer = testapp.post_json(
        "/api/v1/certificates/verify",
        {"number": issued.record.number, "code": issued.verification_code},
    )
    assert answer.headers["Content-Type"] == "application/json"  # UTF-8 by definition (RFC 8259)
    assert int(answer.headers["Content-Length"]) == len(answer.body)
    holder = issued.record.public_summary["holder_name"]
    assert any(ord(ch) > 0x7F for ch in holder)  # the fixture's holder is written in Devanagari
    assert holder.encode() in answer.body
    assert answer.json["holder_name"] == holder


def test_verify_by_holder_needs_election_authority_token(
    testapp: TestApp, dbsession: Session, make_client: Any
) -> None:
    issued = issue(dbsession, testapp.app.registry)
    number = issued.record.number
    testapp.post_json(
        "/api/v1/certificates/verify", {"number": number, "samagra_id": "123456789"}, status=401
    )
    authority = make_client(["certificates:verify"])
    by_samagra = testapp.post_json(
        "/api/v1/certificates/verify",
        {"number": number, "samagra_id": "123456789"},
        headers=authority["headers"],
    ).json
    assert by_samagra["status"] == "valid"
    by_name = testapp.post_json(
        "/api/v1/certificates/verify",
        {"number": number, "holder_name": "kiran  sharma"},
        headers=authority["headers"],
    ).json
    assert by_name["status"] == "valid"
    wrong = testapp.post_json(
        "/api/v1/certificates/verify",
        {"number": number, "samagra_id": "999999999"},
        headers=authority["headers"],
    ).json
    assert wrong["status"] == "unknown"


def test_verification_by_name_needs_the_whole_name_and_tolerates_only_how_it_is_typed(
    testapp: TestApp, dbsession: Session, make_client: Any
) -> None:
    import dataclasses
    import unicodedata

    from certs.document import Holder, mask_mobile

    # "ज़ाकिर" typed with the precomposed letter ज़ (U+095B); verifiers may send ज + nukta.
    holder = Holder("ज़ाकिर ख़ान", "Zakir Khan", "223456789", mask_mobile("9876543211"))
    zakir = issue(dbsession, testapp.app.registry, dataclasses.replace(no_dues_request(), holder=holder))
    kirans = [issue(dbsession, testapp.app.registry) for _ in range(7)]
    numbers = [zakir.record.number] + [k.record.number for k in kirans]
    authority = make_client(["certificates:verify"])

    def status(number: str, name: str) -> str:
        return str(
            testapp.post_json(
                "/api/v1/certificates/verify",
                {"number": number, "holder_name": name},
                headers=authority["headers"],
            ).json["status"]
        )

    # One letter, a first name, a surname, a name and a half: nothing is disclosed.
    for guess in ("a", "A", "n", "क", "Kiran", "sharma", "ज़ाकिर", "Zakir", "Kiran Sharma (", "r Khan"):
        assert [status(n, guess) for n in numbers] == ["unknown"] * 8, guess
    # A miss reveals nothing: the answer is the unknown number's answer.
    miss = testapp.post_json(
        "/api/v1/certificates/verify",
        {"number": numbers[1], "holder_name": "Kiran Sharm"},
        headers=authority["headers"],
    ).json
    assert miss == {"number": numbers[1], "status": "unknown"}

    # Whole names, however they are typed: case, spacing, Unicode form, zero-width joiners.
    for name in (
        "kiran  SHARMA",
        " Kiran Sharma ",
        "किरण शर्मा",
        "किरण\u200d शर्मा",
        "किरण शर्मा (Kiran Sharma)",
    ):
        assert status(numbers[1], name) == "valid", name
    for name in (
        "zakir khan",
        "ज़ाकिर ख़ान",
        unicodedata.normalize("NFD", "ज़ाकिर ख़ान"),
        "ज\u093cाकिर ख\u093cान",
    ):
        assert status(zakir.record.number, name) == "valid", name
    # Somebody else's whole name is a miss.
    assert status(zakir.record.number, "Kiran Sharma") == "unknown"


def test_verify_validation_errors(testapp: TestApp) -> None:
    response = testapp.post_json(
        "/api/v1/certificates/verify", {"number": "bad number!", "code": 5}, status=400
    )
    assert response.json["code"] == "validation_failed"
    fields = {e["field"] for e in response.json["errors"]}
    assert fields == {"number", "code"}
    testapp.post("/api/v1/certificates/verify", "{not json", content_type="application/json", status=400)
    wrong_type = testapp.post(
        "/api/v1/certificates/verify",
        "number=1",
        content_type="application/x-www-form-urlencoded",
        status=415,
    )
    assert wrong_type.json["code"] == "unsupported_media_type"


def test_each_verification_is_logged(testapp: TestApp, dbsession: Session) -> None:
    issued = issue(dbsession, testapp.app.registry)
    before = dbsession.execute(select(func.count()).select_from(DocumentVerification)).scalar_one()
    testapp.post_json(
        "/api/v1/certificates/verify", {"number": issued.record.number, "code": issued.verification_code}
    )
    testapp.post_json(
        "/api/v1/certificates/verify", {"number": issued.record.number, "code": "AAAA-AAAA-AAAA"}
    )
    rows = (
        dbsession.execute(select(DocumentVerification).order_by(DocumentVerification.id.desc()).limit(2))
        .scalars()
        .all()
    )
    assert (
        dbsession.execute(select(func.count()).select_from(DocumentVerification)).scalar_one() == before + 2
    )
    assert [r.outcome for r in rows] == ["unknown", "valid"]


def test_upload_verification(testapp: TestApp, dbsession: Session) -> None:
    issued = issue(dbsession, testapp.app.registry)
    xml = document_files(dbsession, issued.record).xml
    ok = testapp.post("/api/v1/certificates/verify-document", xml, content_type="application/xml").json
    assert ok["status"] == "valid" and ok["number"] == issued.record.number
    # One byte of the holder's name changed: the signature no longer matches.
    tampered = xml.replace(b"Kiran", b"Karan", 1)
    assert tampered != xml
    bad = testapp.post("/api/v1/certificates/verify-document", tampered, content_type="application/xml").json
    assert bad["status"] == "tampered"
    assert "holder_name" not in bad
    revoke_document(dbsession, issued.record, "test", "test")
    dbsession.flush()
    assert (
        testapp.post("/api/v1/certificates/verify-document", xml, content_type="application/xml").json[
            "status"
        ]
        == "revoked"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
            "xml_doctype_forbidden",
        ),
        (
            b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>',
            "xml_doctype_forbidden",
        ),
        (b"<not-closed>", "xml_malformed"),
        (b"<a>" * 200 + b"</a>" * 200, "xml_too_deep"),
        ("<प्रमाण>किरण</प्रमाण>".encode(), "document_malformed"),
        (b"\xff\xfe\x00garbage", "xml_malformed"),
    ],
)
def test_hostile_or_malformed_upload_is_a_problem_not_a_500(testapp: TestApp, body: bytes, code: str) -> None:
    response = testapp.post(
        "/api/v1/certificates/verify-document", body, content_type="application/xml", status=400
    )
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == code
    assert "passwd" not in response.text and "lol" not in response.text


def test_upload_wrong_content_type(testapp: TestApp) -> None:
    testapp.post("/api/v1/certificates/verify-document", b"<a/>", content_type="text/plain", status=415)


def test_qr_verification(testapp: TestApp, dbsession: Session) -> None:
    issued = issue(dbsession, testapp.app.registry)
    payload = document_files(dbsession, issued.record).qr_payload
    assert testapp.post_json("/api/v1/certificates/verify-qr", {"payload": payload}).json["status"] == "valid"
    head, body, sig = payload.split(".")
    forged = f"{head}.{body}.{sig[:-4]}AAAA"
    result = testapp.post_json("/api/v1/certificates/verify-qr", {"payload": forged}).json
    assert result["status"] == "tampered"


def test_published_keys(testapp: TestApp) -> None:
    pem = testapp.get("/.well-known/hub-certificates.pem")
    assert pem.body.count(b"BEGIN CERTIFICATE") >= 3
    # The evidence signer (SOAP answers) is published beside the document signer and the CA.
    current = process_service(testapp.app.registry, DocumentKeys).keyring.current
    published = x509.load_pem_x509_certificates(pem.body)
    assert current.evidence is not None
    assert current.certificate in published and current.evidence.certificate in published
    jwks = testapp.get("/.well-known/jwks.json").json
    assert any(k["kty"] == "EC" and k.get("crv") == "P-256" for k in jwks["keys"]), "QR keys are published"
    assert any(k["kty"] == "RSA" for k in jwks["keys"]), "token keys are published"


def test_downloaded_xml_verifies_with_xmlsec1(testapp: TestApp, dbsession: Session, tmp_path: Path) -> None:
    issued = issue(dbsession, testapp.app.registry)
    xml = testapp.get(
        f"/api/v1/certificates/{issued.record.number}/xml", params={"code": issued.verification_code}
    ).body
    (tmp_path / "doc.xml").write_bytes(xml)
    (tmp_path / "ca.pem").write_bytes(
        process_service(testapp.app.registry, DocumentKeys).keyring.trust_anchor_pem()
    )
    run = subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--trusted-pem",
            str(tmp_path / "ca.pem"),
            "--enabled-reference-uris",
            "empty",
            str(tmp_path / "doc.xml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def test_downloaded_pdf_validates_with_pyhanko(testapp: TestApp, dbsession: Session, tmp_path: Path) -> None:
    issued = issue(dbsession, testapp.app.registry)
    pdf = testapp.get(
        f"/api/v1/certificates/{issued.record.number}/pdf", params={"code": issued.verification_code}
    ).body
    (tmp_path / "doc.pdf").write_bytes(pdf)
    (tmp_path / "ca.pem").write_bytes(
        process_service(testapp.app.registry, DocumentKeys).keyring.trust_anchor_pem()
    )
    run = subprocess.run(
        [
            str(Path(__import__("sys").executable).parent / "pyhanko"),
            "sign",
            "validate",
            "--trust",
            str(tmp_path / "ca.pem"),
            "--trust-replace",
            "--no-revocation-check",
            str(tmp_path / "doc.pdf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_verify_page_in_hindi_and_english(testapp: TestApp, dbsession: Session) -> None:
    issued = issue(dbsession, testapp.app.registry)
    page = testapp.get("/verify", params={"number": issued.record.number, "code": issued.verification_code})
    assert "मान्य / Valid" in page.text
    assert "किरण शर्मा" in page.text
    hostile = testapp.get("/verify", params={"number": "<script>", "code": "x"})
    assert "<script>" not in hostile.text
    assert "नहीं मिला" in hostile.text


@pytest.mark.postgresql_only
def test_concurrent_issuance_has_no_duplicates_or_gaps(engine: Any, wsgi_app: Any) -> None:
    registry = wsgi_app.registry
    numbers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    series_probe = "MPCZ/ND/" + financial_year(datetime.now(UTC)) + "/"

    def worker() -> None:
        try:
            for _ in range(3):
                with Session(engine) as session, session.begin():
                    number = issue(session, registry).record.number
                with lock:
                    numbers.append(number)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(numbers) == len(set(numbers)) == 18
    serials = sorted(int(n.rsplit("/", 1)[1]) for n in numbers if n.startswith(series_probe))
    assert serials == list(range(serials[0], serials[0] + 18))
    # These rows were committed for real; take them out again.
    from sqlalchemy import delete

    from hub.models import DocumentFiles, IssuedDocument

    with Session(engine) as session, session.begin():
        ids = (
            session.execute(select(IssuedDocument.id).where(IssuedDocument.number.in_(numbers)))
            .scalars()
            .all()
        )
        session.execute(delete(DocumentFiles).where(DocumentFiles.document_id.in_(ids)))
        session.execute(delete(IssuedDocument).where(IssuedDocument.id.in_(ids)))


def test_a_token_sent_with_a_code_is_checked(testapp: TestApp, dbsession: Session, make_client: Any) -> None:
    issued = issue(dbsession, testapp.app.registry)
    question = {"number": issued.record.number, "code": issued.verification_code}
    bad = testapp.post_json(
        "/api/v1/certificates/verify", question, headers={"Authorization": "Bearer not.a.token"}, status=401
    )
    assert bad.json["code"] == "invalid_token"
    other = make_client(["hub:ping"])
    wrong = testapp.post_json("/api/v1/certificates/verify", question, headers=other["headers"], status=403)
    assert wrong.json["code"] == "insufficient_scope"
    assert 'scope="certificates:verify"' in wrong.headers["WWW-Authenticate"]


def test_optional_partner_authenticates_a_token_no_view_deriver_checked(
    testapp: TestApp, make_client: Any
) -> None:
    from pyramid.request import apply_request_extensions

    from hub.errors import Problem
    from hub.request import HubRequest
    from hub.view_helpers import optional_partner

    def request(headers: dict[str, str]) -> HubRequest:
        made = HubRequest.blank("/", headers=headers)
        made.registry = testapp.app.registry
        apply_request_extensions(made)  # what the router does for every request
        return made

    reader = make_client(["certificates:read"])
    signed_in = request(reader["headers"])
    assert optional_partner(signed_in, "certificates:read").client_id == reader["client_id"]
    assert signed_in.partner.client_id == reader["client_id"]
    assert optional_partner(request({}), "certificates:read") is None
    with pytest.raises(Problem) as refused:
        optional_partner(request({"Authorization": "Bearer not.a.token"}), "certificates:read")
    assert refused.value.code == "invalid_token"
    with pytest.raises(Problem) as refused:
        optional_partner(request(reader["headers"]), "certificates:verify")
    assert refused.value.code == "insufficient_scope"


@pytest.mark.parametrize(
    ("given", "issued"),
    [
        ("K7QF-2MXD-9TZA", "K7QF-2MXD-9TZA"),  # as printed: left as it is
        ("k7qf-2mxd-9tza", "K7QF-2MXD-9TZA"),
        (" K7QF 2MXD 9TZA ", "K7QF-2MXD-9TZA"),
        ("K7QF2MXD9TZA", "K7QF-2MXD-9TZA"),
        ("K7-QF-2MXD-9TZA", "K7QF-2MXD-9TZA"),
        ("K7QF-2MXD-9TZ", "K7QF2MXD9TZ"),  # not 12 long: not grouped
        ("K7QF-2MXD-9TZAB", "K7QF2MXD9TZAB"),
        ("k7qf-2mxd-9tz\u0430", "K7QF-2MXD-9TZ\u0410"),  # a Cyrillic a: not the printed form
    ],
)
def test_codes_are_read_as_issued(given: str, issued: str) -> None:
    assert normalise_code(given) == issued
    cleaned = given.strip().upper().replace("-", "").replace(" ", "")
    slow = f"{cleaned[:4]}-{cleaned[4:8]}-{cleaned[8:]}" if len(cleaned) == 12 else cleaned
    assert normalise_code(given) == slow, "the printed form's shortcut answers as the general rule"
