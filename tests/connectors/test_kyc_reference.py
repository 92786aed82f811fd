"""ReferenceKyc on SQLite and PostgreSQL: records, e-KYC rules, change feed, switched off."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from connectors.base import ConnectorContext, load_connector
from connectors.billing.reference import make_consumer_number
from connectors.billing.tables import RefConsumer
from connectors.demo import PERSONAS
from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.kyc import EkycRefusal, IKyc, KycStatus
from connectors.kyc.reference import ReferenceKyc
from connectors.reference_db import set_down
from tests.connectors.refdb_fixtures import *  # noqa: F403 - the ref_engine/demo_engine fixtures


def test_built_from_settings(demo_engine: Engine) -> None:
    context = ConnectorContext("kyc", {"backend": "connectors.kyc.reference:ReferenceKyc"}, demo_engine)
    kyc = load_connector(context.options["backend"], context)
    assert IKyc.providedBy(kyc)
    kyc.heartbeat()


def test_records_by_number_batch_and_samagra(demo_engine: Engine) -> None:
    kyc = ReferenceKyc(demo_engine)
    dues = PERSONAS["dues"]
    record = kyc.get_record(dues.consumer_numbers[0])
    assert record.holder_name_hi == "सुनीता देवी वर्मा"
    assert record.samagra_id == dues.samagra_id
    assert (record.bank_account, record.ifsc) == (dues.bank_account, dues.ifsc)
    assert record.is_complete and record.kyc_date is not None
    unknown = make_consumer_number(101, 999_999)
    batch = kyc.get_records([*dues.consumer_numbers, unknown, "not-a-number"])
    assert set(batch) == set(dues.consumer_numbers)
    assert [r.consumer_number for r in kyc.records_by_samagra(dues.samagra_id)] == list(dues.consumer_numbers)
    assert kyc.records_by_samagra(PERSONAS["no_connection"].samagra_id) == []
    with pytest.raises(NotFound):
        kyc.get_record(unknown)
    with pytest.raises(ConnectorRejected):
        kyc.get_records(["1"] * 1001)


def test_incomplete_kyc_is_completed_by_ekyc(demo_engine: Engine) -> None:
    kyc = ReferenceKyc(demo_engine)
    persona = PERSONAS["incomplete_kyc"]
    (number,) = persona.consumer_numbers
    before = kyc.get_record(number)
    assert before.status is KycStatus.INCOMPLETE and before.bank_account is None
    outcome = kyc.submit_ekyc(number, persona.samagra_id, persona.mobile)
    assert outcome.accepted and outcome.refusal is None and outcome.record is not None
    assert outcome.record.status is KycStatus.COMPLETE
    assert outcome.record.bank_account == persona.bank_account
    assert outcome.record.source == "ekyc"
    assert kyc.get_record(number) == outcome.record


def test_ekyc_refusals(demo_engine: Engine) -> None:
    kyc = ReferenceKyc(demo_engine)
    clean, other = PERSONAS["clean"], PERSONAS["dues"]
    number = clean.consumer_numbers[0]
    cases = {
        EkycRefusal.UNKNOWN_CONSUMER: (make_consumer_number(101, 999_999), clean.samagra_id),
        EkycRefusal.UNKNOWN_SAMAGRA: (number, "999999999"),
        EkycRefusal.SAMAGRA_MISMATCH: (number, other.samagra_id),
    }
    for reason, (consumer_number, samagra) in cases.items():
        outcome = kyc.submit_ekyc(consumer_number, samagra)
        assert (outcome.accepted, outcome.refusal, outcome.record) == (False, reason, None)
    with demo_engine.begin() as conn:
        conn.execute(
            update(RefConsumer)
            .where(RefConsumer.consumer_number == number)
            .values(connection_status="permanently_disconnected")
        )
    assert kyc.submit_ekyc(number, clean.samagra_id).refusal is EkycRefusal.CONNECTION_CLOSED
    with pytest.raises(ConnectorRejected):
        kyc.submit_ekyc(number, clean.samagra_id, mobile="12345")


def test_change_feed_pages_and_picks_up_new_changes(demo_engine: Engine) -> None:
    kyc = ReferenceKyc(demo_engine)
    seen: list[str] = []
    cursor = None
    while True:
        page = kyc.changes_since(cursor, limit=70)
        if not page.records:
            assert page.next_cursor == cursor
            break
        seen.extend(r.consumer_number for r in page.records)
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == DEMO_CONSUMERS  # noqa: F405
    persona = PERSONAS["incomplete_kyc"]
    kyc.submit_ekyc(persona.consumer_numbers[0], persona.samagra_id)
    page = kyc.changes_since(cursor)
    assert [r.consumer_number for r in page.records] == list(persona.consumer_numbers)
    assert page.records[0].status is KycStatus.COMPLETE
    for bad in ("abc", "-1", "1" * 40):
        with pytest.raises(ConnectorRejected):
            kyc.changes_since(bad)


def test_switched_off_kyc_is_unavailable(demo_engine: Engine) -> None:
    kyc = ReferenceKyc(demo_engine)
    persona = PERSONAS["incomplete_kyc"]
    set_down(demo_engine, "kyc")
    try:
        for call in (
            kyc.heartbeat,
            lambda: kyc.get_record(persona.consumer_numbers[0]),
            lambda: kyc.submit_ekyc(persona.consumer_numbers[0], persona.samagra_id),
            lambda: kyc.changes_since(None),
        ):
            with pytest.raises(ConnectorUnavailable):
                call()
    finally:
        set_down(demo_engine, "kyc", False)
    assert kyc.get_record(persona.consumer_numbers[0]).status is KycStatus.INCOMPLETE
