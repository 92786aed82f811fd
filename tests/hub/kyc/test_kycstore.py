"""hub.kycstore: upsert per connection, encryption at rest, the change feed, refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.kyc import KycRecord, KycStatus
from hub import kycstore
from hub.models.kyc import ConnectionKyc, KycChange

SECRET = "test-secret-key"


def make_record(**overrides: object) -> KycRecord:
    base = KycRecord(
        consumer_number="N1234567890",
        holder_name_en="Kiran Sharma",
        holder_name_hi="किरण शर्मा",
        samagra_id="900000011",
        mobile="9876543210",
        bank_account="123456789012",
        ifsc="SBIN0001234",
        status=KycStatus.COMPLETE,
        kyc_date=date(2026, 3, 1),
        source="ekyc",
        updated_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def changes(session: Session, consumer_number: str) -> list[str]:
    return list(
        session.execute(
            select(KycChange.kind).where(KycChange.consumer_number == consumer_number).order_by(KycChange.id)
        ).scalars()
    )


def test_upsert_encrypts_the_account_and_feeds_changes(dbsession: Session) -> None:
    record = make_record()
    kycstore.record_ekyc(dbsession, record, "ekyc", secret_key=SECRET)
    row = dbsession.execute(
        select(ConnectionKyc).where(ConnectionKyc.consumer_number == record.consumer_number)
    ).scalar_one()
    assert row.holder_name_hi == "किरण शर्मा"
    assert row.bank_account_enc is not None and "123456789012" not in row.bank_account_enc
    assert kycstore.bank_box(SECRET).decrypt(row.bank_account_enc) == "123456789012"
    assert row.bank_account_last4 == "9012"
    assert row.source == "ekyc"

    # The same record again: nothing changed, nothing in the feed.
    kycstore.record_ekyc(dbsession, record, "sync", secret_key=SECRET)
    later = record.updated_at + timedelta(days=1)
    kycstore.record_ekyc(
        dbsession, replace(record, bank_account="555566667777", updated_at=later), "sync", secret_key=SECRET
    )
    kycstore.record_ekyc(
        dbsession,
        replace(record, bank_account="555566667777", mobile="9123456789", updated_at=later),
        "sync",
        secret_key=SECRET,
    )
    assert changes(dbsession, record.consumer_number) == ["kyc_new", "bank_account_changed", "kyc_updated"]
    dbsession.refresh(row)
    assert row.source == "sync" and row.bank_account_last4 == "7777"


def test_a_late_older_version_does_not_overwrite(dbsession: Session) -> None:
    record = make_record(consumer_number="N2000000001")
    kycstore.record_ekyc(dbsession, record, "sync", secret_key=SECRET)
    older = replace(record, mobile="9000000000", updated_at=record.updated_at - timedelta(days=3))
    kycstore.record_ekyc(dbsession, older, "sync", secret_key=SECRET)
    row = dbsession.execute(
        select(ConnectionKyc).where(ConnectionKyc.consumer_number == "N2000000001")
    ).scalar_one()
    assert row.mobile == "9876543210"


@pytest.mark.parametrize(
    "overrides",
    [
        {"samagra_id": "123412341234"},  # an Aadhaar number in the Samagra field
        {"mobile": "123412341234"},
        {"holder_name_en": "Kiran 1234 1234 1234"[:5] + "123412341234"},
        {"bank_account": "12ab"},
        {"ifsc": "sbin1234"},
        # Other scripts' digits: no bank, registry or SMS gateway issues them.
        {"bank_account": "१२३४५६७८९०१"},
        {"mobile": "९८७६५४३२१०"},
        {"samagra_id": "१२३४५६७८९"},
        # An Aadhaar number typed in Devanagari digits in a name is still one.
        {"holder_name_hi": "किरण १२३४१२३४१२३४"},
    ],
)
def test_aadhaar_like_and_malformed_values_are_refused(
    dbsession: Session, overrides: dict[str, object]
) -> None:
    with pytest.raises(kycstore.KycRecordRejected):
        kycstore.record_ekyc(
            dbsession, make_record(consumer_number="N3000000001", **overrides), "ekyc", secret_key=SECRET
        )
    assert (
        dbsession.execute(select(ConnectionKyc).where(ConnectionKyc.consumer_number == "N3000000001")).first()
        is None
    )
