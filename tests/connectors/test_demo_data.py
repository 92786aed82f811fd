"""Demo data: deterministic, realistic, personas present, refuses to double-load."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from connectors.billing import ConnectionStatus, MeterHealth, MeterType, SupplyState
from connectors.billing.reference import ReferenceBilling, luhn_check_digit
from connectors.billing.tables import RefConsumer, RefLedgerEntry, RefMeter
from connectors.demo import (
    PERSONAS,
    DemoDataExists,
    generate_demo_data,
    office_hierarchy,
    reference_data_digest,
)
from connectors.kyc import KycStatus
from connectors.kyc.reference import ReferenceKyc
from connectors.kyc.tables import RefKycRecord, RefSamagraPerson
from tests.connectors.refdb_fixtures import *  # noqa: F403 - the ref_engine/demo_engine fixtures

REF = date(2026, 11, 1)


def test_same_seed_same_rows_other_seed_other_rows(ref_engine: Engine) -> None:
    generate_demo_data(ref_engine, 500, seed=3, replace=True, reference_date=REF)
    first = reference_data_digest(ref_engine)
    generate_demo_data(ref_engine, 500, seed=3, replace=True, reference_date=REF)
    assert reference_data_digest(ref_engine) == first
    generate_demo_data(ref_engine, 500, seed=4, replace=True, reference_date=REF)
    assert reference_data_digest(ref_engine) != first


def test_digest_is_the_same_on_sqlite_and_postgresql(ref_engine: Engine) -> None:
    generate_demo_data(ref_engine, 300, seed=11, replace=True, reference_date=REF)
    # Computed once on SQLite and pinned: PostgreSQL (COPY path) must produce the same rows.
    digest = reference_data_digest(ref_engine)
    pinned = _PINNED.setdefault("digest", digest)
    assert digest == pinned


_PINNED: dict[str, str] = {}


def test_refuses_to_load_twice_unless_replacing(ref_engine: Engine) -> None:
    generate_demo_data(ref_engine, 100, seed=1, replace=True, reference_date=REF)
    with pytest.raises(DemoDataExists):
        generate_demo_data(ref_engine, 100, seed=1, reference_date=REF)
    summary = generate_demo_data(ref_engine, 120, seed=1, replace=True, reference_date=REF)
    with ref_engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(RefConsumer)).scalar() == 120 == summary.consumers
        )


def test_two_thousand_consumers_with_progress_and_realistic_shapes(ref_engine: Engine) -> None:
    calls: list[tuple[int, int]] = []
    summary = generate_demo_data(
        ref_engine,
        2_000,
        seed=1,
        replace=True,
        reference_date=REF,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (2_000, 2_000)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert summary.consumers == 2_000
    # Realistic mix: some of everything the flows need.
    assert 0.05 * 2_000 < summary.with_dues < 0.3 * 2_000
    assert summary.faulty_meters > 10
    assert summary.disconnected_smart_meters > 5
    assert summary.kyc_incomplete > 100 and summary.kyc_pending > 20
    assert summary.persons_without_connection > 100
    assert summary.offices == len(office_hierarchy()) == 16 + 32 + 64 + 128
    with ref_engine.connect() as conn:
        numbers = conn.execute(select(RefConsumer.consumer_number)).scalars().all()
        assert len(set(numbers)) == 2_000
        assert all(re.fullmatch(r"[1-2][0-9]{9}", n) and luhn_check_digit(n[:-1]) == n[-1] for n in numbers)
        mobiles = conn.execute(select(RefConsumer.mobile)).scalars().all()
        assert all(re.fullmatch(r"[6-9][0-9]{9}", m) for m in mobiles)
        samagra = conn.execute(select(RefSamagraPerson.samagra_id, RefSamagraPerson.family_id)).all()
        assert all(re.fullmatch(r"[0-9]{9}", s) and re.fullmatch(r"[0-9]{8}", f) for s, f in samagra)
        # Some people hold several connections.
        several = conn.execute(
            select(RefConsumer.samagra_id)
            .where(RefConsumer.samagra_id.is_not(None))
            .group_by(RefConsumer.samagra_id)
            .having(func.count() > 1)
        ).all()
        assert len(several) > 20
        # Names in both scripts.
        name_hi = conn.execute(select(RefConsumer.name_hi).limit(50)).scalars().all()
        assert all(re.search("[\u0900-\u097f]", n) for n in name_hi)
        # Every connection has a meter and a KYC record; the ledger balances to the dues count.
        assert conn.execute(select(func.count()).select_from(RefMeter)).scalar() == 2_000
        assert conn.execute(select(func.count()).select_from(RefKycRecord)).scalar() == 2_000
        owing = conn.execute(
            select(RefLedgerEntry.consumer_number)
            .group_by(RefLedgerEntry.consumer_number)
            .having(func.sum(RefLedgerEntry.amount_paise) > 0)
        ).all()
        assert len(owing) == summary.with_dues


def test_personas_answer_as_documented(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    kyc = ReferenceKyc(demo_engine)
    as_of = date(2026, 11, 30)

    clean = PERSONAS["clean"]
    (number,) = clean.consumer_numbers
    consumer = billing.get_consumer(number)
    assert (consumer.name_en, consumer.name_hi) == ("Ramesh Kumar Sharma", "रमेश कुमार शर्मा")
    assert consumer.samagra_id == clean.samagra_id and consumer.mobile == clean.mobile
    assert billing.outstanding_dues(number, as_of).amount == Decimal("0.00")
    assert billing.meter_status(number).health is MeterHealth.HEALTHY
    assert kyc.get_record(number).status is KycStatus.COMPLETE

    dues = PERSONAS["dues"]
    owed = billing.outstanding_dues_many(dues.consumer_numbers, as_of)
    assert [owed[n].amount for n in dues.consumer_numbers] == [Decimal("4572.50"), Decimal("0.00")]
    assert [c.consumer_number for c in billing.connections_by_samagra(dues.samagra_id)] == list(
        dues.consumer_numbers
    )

    faulty = PERSONAS["faulty_meter"]
    meter = billing.meter_status(faulty.consumer_numbers[0])
    assert (meter.meter_type, meter.health) == (MeterType.CONVENTIONAL, MeterHealth.FAULTY)

    incomplete = PERSONAS["incomplete_kyc"]
    assert kyc.get_record(incomplete.consumer_numbers[0]).status is KycStatus.INCOMPLETE

    nobody = PERSONAS["no_connection"]
    assert billing.connections_by_samagra(nobody.samagra_id) == []
    assert billing.connections_by_mobile(nobody.mobile) == []

    cut = PERSONAS["disconnected_smart"]
    (number,) = cut.consumer_numbers
    assert billing.get_consumer(number).connection_status is ConnectionStatus.DISCONNECTED
    meter = billing.meter_status(number)
    assert (meter.meter_type, meter.supply) == (MeterType.SMART, SupplyState.DISCONNECTED)
    assert billing.outstanding_dues(number, as_of).amount == Decimal("1830.00")

    several = PERSONAS["several_connections"]
    assert len(billing.connections_by_mobile(several.mobile)) == 3
    assert all(d.is_clear for d in billing.outstanding_dues_many(several.consumer_numbers, as_of).values())
