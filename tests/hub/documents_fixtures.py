"""Issue real documents in tests, through the same service the flows use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from certs.document import Check, Connection, Holder, Issuer, Purpose, mask_mobile
from hub.certificates.issuing import DocumentRequest, Issued, issue_document
from hub.certificates.keys import DocumentKeys
from hub.lookup import process_service

ISSUER = Issuer(
    discom_name_en="Madhya Pradesh Madhya Kshetra Vidyut Vitaran Company Limited",
    discom_name_hi="मध्य प्रदेश मध्य क्षेत्र विद्युत वितरण कंपनी लिमिटेड",
    office_name="Bhopal City Circle",
    officer_name="R. K. Sharma",
    officer_designation_en="Deputy General Manager",
    officer_designation_hi="उप महाप्रबंधक",
    office_code="MPCZ",
)


def no_dues_request(
    *,
    client_id: str | None = None,
    valid_for: timedelta = timedelta(days=90),
    connections: bool = True,
    **kw: Any,
) -> DocumentRequest:
    now = datetime.now(UTC)
    conns = (
        (
            Connection("4512300001", Decimal("0.00"), now, "healthy"),
            Connection("4512300002", Decimal("0.00"), now, "healthy"),
        )
        if connections
        else ()
    )
    return DocumentRequest(
        kind="no_dues_certificate",
        office_code="MPCZ",
        subject_type="test",
        subject_id="t-1",
        issuer=ISSUER,
        holder=Holder(
            name_deva="किरण शर्मा",
            name_latin="Kiran Sharma",
            samagra_id="123456789",
            mobile_masked=mask_mobile("9876543210"),
        ),
        valid_for=valid_for,
        connections=conns,
        checks=(Check("dues", "passed", "BILL-REF-1", now), Check("ekyc", "passed", "KYC-1", now)),
        purpose=Purpose(
            description="Gram panchayat election",
            election="Panchayat 2026",
            body="Gram Panchayat Berasia",
            ward="7",
        ),
        requested_by_client=client_id,
        **kw,
    )


def issue(
    session: Session, registry: Any, request: DocumentRequest | None = None, now: datetime | None = None
) -> Issued:
    return issue_document(
        session,
        process_service(registry, DocumentKeys),
        request or no_dues_request(),
        "http://hub.test",
        now=now,
    )
