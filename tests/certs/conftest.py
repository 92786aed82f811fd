"""Fixtures for certs tests: a development key ring in a temp dir, a foreign one, sample documents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from certs.document import Check, Connection, Document, Holder, Issuer, Purpose, mask_mobile
from certs.issuer import DocumentIssuer, IssuedDocument
from certs.keys import KeyRing

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
CHECK_TIME = dt.datetime(2026, 11, 20, 10, 30, tzinfo=IST)


def make_document(
    *,
    number: str = "MPCZ/ND/2026-27/000123",
    connections: bool = True,
    name_deva: str = "किरण शर्मा",
    issued_at: dt.datetime | None = None,
    valid_days: int = 30,
) -> Document:
    issued = issued_at or dt.datetime.now(dt.UTC).replace(microsecond=0)
    conns = (
        (
            Connection("N3456789012", Decimal("0"), CHECK_TIME, "working"),
            Connection("N3456789013", Decimal("0.00"), CHECK_TIME, "working"),
        )
        if connections
        else ()
    )
    return Document(
        number=number,
        kind="no_dues_certificate",
        verification_code="K7Q2-M9XD-4TPA",
        issuer=Issuer(
            discom_name_en="Madhya Pradesh Madhya Kshetra Vidyut Vitaran Co. Ltd.",
            discom_name_hi="मध्य प्रदेश मध्य क्षेत्र विद्युत वितरण कंपनी लिमिटेड",
            office_name="Distribution Centre Govindpura, Bhopal",
            officer_name="Smt. Anjali Verma",
            officer_designation_en="Deputy General Manager",
            officer_designation_hi="उप महाप्रबंधक",
            office_code="DC-BPL-017",
        ),
        holder=Holder(name_deva, "Kiran Sharma", "123456789", mask_mobile("9876543210")),
        issued_at=issued,
        valid_until=issued + dt.timedelta(days=valid_days),
        verification_url="https://hub.example.in/verify/MPCZ-ND-2026-27-000123",
        connections=conns,
        checks=(
            Check("dues_outstanding", "passed", "NGB:bill:2026-11:N3456789012", CHECK_TIME),
            Check("ekyc_complete", "passed", "KYC:552211", CHECK_TIME),
        ),
        purpose=Purpose(
            "Nomination, gram panchayat election 2026",
            "Panchayat General Election 2026",
            "Gram Panchayat Bhojpur",
            "Ward 7",
        ),
        details={"complaint_note": "शिकायत क्रमांक: कोई नहीं", "load_kw": Decimal("2.00")},
    )


@pytest.fixture(scope="session")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    ring, created = KeyRing.ensure_development(tmp_path_factory.mktemp("keys"))
    assert created
    return ring


@pytest.fixture(scope="session")
def foreign_keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """Another development CA: structurally identical, but not ours."""
    ring, _ = KeyRing.ensure_development(tmp_path_factory.mktemp("foreign-keys"))
    return ring


@pytest.fixture(scope="session")
def issuer(keyring: KeyRing) -> DocumentIssuer:
    return DocumentIssuer(keyring)


@pytest.fixture(scope="session")
def issued_doc() -> Document:
    return make_document()


@pytest.fixture(scope="session")
def issued(issuer: DocumentIssuer, issued_doc: Document) -> IssuedDocument:
    return issuer.issue(issued_doc)


@pytest.fixture(scope="session")
def ca_pem(keyring: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trust") / "ca.pem"
    path.write_bytes(keyring.trust_anchor_pem())
    return path


@pytest.fixture(scope="session")
def foreign_ca_pem(foreign_keyring: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("foreign-trust") / "ca.pem"
    path.write_bytes(foreign_keyring.trust_anchor_pem())
    return path
