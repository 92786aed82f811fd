"""Shared set-up for the KYC API tests: records, consents, DBT clients with policies."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from connectors.kyc import KycRecord, KycStatus
from hub.kyc.policy import set_policy
from hub.kycstore import record_ekyc
from hub.models.kyc import KycConsent
from hub.models.meta import utcnow

SCHEME = "ladli-behna"
OTHER_SCHEME = "kisan-kalyan"

BASE = KycRecord(
    consumer_number="1019990020",
    holder_name_en="Sunita Devi Verma",
    holder_name_hi="सुनीता देवी वर्मा",
    samagra_id="900000021",
    mobile="9999000021",
    bank_account="50100234567812",
    ifsc="HDFC0001234",
    status=KycStatus.COMPLETE,
    kyc_date=date(2026, 10, 2),
    source="ekyc",
    updated_at=datetime(2026, 10, 2, 6, 30, tzinfo=UTC),
)


def kyc_record(number: str, samagra: str | None, **overrides: Any) -> KycRecord:
    mobile = overrides.pop("mobile", "98999" + number[-5:])
    return replace(BASE, consumer_number=number, samagra_id=samagra, mobile=mobile, **overrides)


def add_records(session: Session, *records: KycRecord) -> None:
    for record in records:
        record_ekyc(session, record, "ekyc")
    session.flush()


def give_consent(
    session: Session, samagra: str, purpose: str = SCHEME, *, days: int = 365, ago: timedelta = timedelta(0)
) -> KycConsent:
    given = utcnow() - ago
    consent = KycConsent(
        samagra_id=samagra,
        purpose=purpose,
        mobile="9999000021",
        challenge_id="t_" + secrets.token_hex(12),
        given_via_client="c_portal",
        given_at=given,
        expires_at=given + timedelta(days=days),
    )
    session.add(consent)
    session.flush()
    return consent


def dbt_client(
    make_client: Any,
    session: Session,
    fields: str,
    *,
    scopes: tuple[str, ...] = ("kyc:read",),
    purposes: tuple[str, ...] = (SCHEME,),
    full_bank_account: bool = False,
    uniform_absent: bool = False,
) -> dict[str, Any]:
    client = make_client(list(scopes), list(purposes))
    for purpose in purposes:
        set_policy(
            session,
            client["client_id"],
            purpose,
            fields,
            full_bank_account=full_bank_account,
            uniform_absent=uniform_absent,
        )
    session.flush()
    return dict(client)
