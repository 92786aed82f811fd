"""ReferenceBilling on SQLite and PostgreSQL: reads, postings, creation, switched off."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

import connectors.billing.tables
import connectors.kyc.tables  # noqa: F401 - registers the KYC tables on ReferenceBase.metadata
from connectors.base import ConnectorContext, load_connector
from connectors.billing import (
    ConnectionStatus,
    IBilling,
    NewConsumer,
    PaymentPosting,
    PostingReceipt,
    UnknownConsumers,
)
from connectors.billing.reference import ReferenceBilling, make_consumer_number
from connectors.demo import PERSONAS
from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.reference_db import ReferenceBase, set_down
from tests.connectors.refdb_fixtures import *  # noqa: F403 - the ref_engine/demo_engine fixtures

DUES = PERSONAS["dues"]
CLEAN = PERSONAS["clean"]
AS_OF = date(2026, 11, 30)
DUES_OWED = Decimal("4572.50")  # what each of the dues persona's connections owes in the demo data


def test_the_store_holds_the_tables_the_models_describe(ref_engine: Engine) -> None:
    """The reference side creates its own schema (open_reference_store); the hub's migrations do not."""
    ours = {t for t in ReferenceBase.metadata.tables if t.startswith("ref_")}
    with ref_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), ReferenceBase.metadata)
    relevant = [d for d in diff if any(name in repr(d) for name in ours)]
    assert relevant == []


def test_built_from_settings(demo_engine: Engine) -> None:
    context = ConnectorContext(
        "billing", {"backend": "connectors.billing.reference:ReferenceBilling"}, demo_engine
    )
    billing = load_connector(context.options["backend"], context)
    assert IBilling.providedBy(billing)
    billing.heartbeat()


def test_office_names_from_the_demo_hierarchy(demo_engine: Engine) -> None:
    from connectors.demo import office_hierarchy

    billing = ReferenceBilling(demo_engine)
    expected = next(o for o in office_hierarchy() if o.code == "DIV-BPL-1")
    office = billing.office("DIV-BPL-1")
    assert (office.level, office.name_en, office.name_hi) == ("division", expected.name_en, expected.name_hi)
    assert office.name_en != office.code
    with pytest.raises(NotFound):
        billing.office("DIV-XYZ-9")


def test_dues_as_of_a_date_and_evidence(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    number = DUES.consumer_numbers[0]
    now = billing.outstanding_dues(number, AS_OF)
    assert now.amount == Decimal("4572.50")
    assert now.last_bill_date is not None and now.last_bill_date < date(2026, 11, 1)
    # Before the last bill, only the arrears were due.
    before = billing.outstanding_dues(number, now.last_bill_date - timedelta(days=1))
    assert before.amount < now.amount
    # Same ledger, same evidence; a change in the ledger changes it.
    assert billing.outstanding_dues(number, AS_OF).evidence_id == now.evidence_id
    billing.post_payment(number, Decimal("100.00"), "PG-E1", datetime(2026, 11, 5, tzinfo=UTC), "upi")
    after = billing.outstanding_dues(number, AS_OF)
    assert after.amount == Decimal("4472.50")
    assert after.evidence_id != now.evidence_id


def test_batch_dues_and_unknown_numbers(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    numbers = [*DUES.consumer_numbers, *CLEAN.consumer_numbers]
    answer = billing.outstanding_dues_many(numbers, AS_OF)
    assert list(answer) == numbers
    unknown = make_consumer_number(101, 999_999)
    with pytest.raises(UnknownConsumers) as caught:
        billing.outstanding_dues_many([*numbers, unknown, "12"], AS_OF)
    assert set(caught.value.consumer_numbers) == {unknown, "12"}
    with pytest.raises(NotFound):
        billing.outstanding_dues(unknown)
    with pytest.raises(ConnectorRejected):
        billing.outstanding_dues_many([CLEAN.consumer_numbers[0]] * 1001)


def test_unknown_and_malformed_lookups(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    for bad in ("", "abc", "1019990012'; --", make_consumer_number(101, 999_999)):
        with pytest.raises(NotFound):
            billing.get_consumer(bad)
        with pytest.raises(NotFound):
            billing.meter_status(bad)
    assert billing.connections_by_samagra("12345") == []
    assert billing.connections_by_mobile("5999000011") == []


def test_payment_clears_dues_and_is_idempotent(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    number = DUES.consumer_numbers[0]
    paid_at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    receipt = billing.post_payment(number, Decimal("4572.50"), "PG-1", paid_at, "upi")
    assert not receipt.duplicate and receipt.balance_after == Decimal("0.00")
    again = billing.post_payment(number, Decimal("4572.5"), "PG-1", paid_at, "upi")
    assert again.duplicate and again.receipt_number == receipt.receipt_number
    assert billing.outstanding_dues(number, AS_OF).is_clear
    # Still owed as of a date before the payment.
    assert billing.outstanding_dues(number, date(2026, 11, 19)).amount == Decimal("4572.50")
    with pytest.raises(ConnectorRejected) as caught:
        billing.post_payment(DUES.consumer_numbers[1], Decimal("4572.50"), "PG-1", paid_at, "upi")
    assert caught.value.code == "reference_conflict"
    for amount in (Decimal("0"), Decimal("-5"), Decimal("1.005")):
        with pytest.raises(ConnectorRejected):
            billing.post_payment(number, amount, "PG-2", paid_at, "upi")
    with pytest.raises(NotFound):
        billing.post_payment(make_consumer_number(101, 999_999), Decimal("1"), "PG-3", paid_at, "upi")


def test_concurrent_same_payment_posts_once(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    number = DUES.consumer_numbers[0]
    paid_at = datetime(2026, 11, 20, tzinfo=UTC)
    results: list[object] = []

    def pay() -> None:
        try:
            results.append(billing.post_payment(number, Decimal("500.00"), "PG-RACE", paid_at, "app"))
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=pay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    receipts = [r for r in results if not isinstance(r, Exception)]
    # SQLite may refuse a racing writer with "database is locked": that is ConnectorUnavailable, never a 2nd posting.
    assert all(isinstance(r, ConnectorUnavailable) for r in results if isinstance(r, Exception))
    assert receipts and sum(not r.duplicate for r in receipts) == 1  # type: ignore[attr-defined]
    assert billing.outstanding_dues(number, AS_OF).amount == Decimal("4072.50")


def test_credit(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    number = CLEAN.consumer_numbers[0]
    receipt = billing.post_credit(number, Decimal("150.00"), "COMP-1", "late new connection compensation")
    assert receipt.balance_after == Decimal("-150.00")
    assert billing.post_credit(number, Decimal("150.00"), "COMP-1", "again").duplicate


def test_create_consumer(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    new = NewConsumer(
        "NC-2026-000123", "Kavita Sahu", "कविता साहू", "123456780", "9826012345", "DC-105", "LV2"
    )
    created = billing.create_consumer(new)
    assert created.consumer_number.startswith("105500")
    assert created.offices.dc == "DC-105" and created.offices.circle == "CIR-BPL"
    assert created.connection_status is ConnectionStatus.ACTIVE
    assert billing.get_consumer(created.consumer_number) == created
    assert billing.create_consumer(new) == created  # idempotent
    second = billing.create_consumer(
        NewConsumer("NC-2026-000124", "Asha Soni", "आशा सोनी", None, "9826012346", "DC-105", "LV1")
    )
    assert second.consumer_number != created.consumer_number
    assert billing.meter_status(created.consumer_number).supply.value == "connected"
    assert billing.outstanding_dues(created.consumer_number).is_clear
    for bad in (
        NewConsumer("NC-X", "A", "अ", None, "12345", "DC-105", "LV1"),
        NewConsumer("NC-X", "A", "अ", None, "9826012345", "DC-105", "LV99"),
        NewConsumer("NC-X", "A", "अ", None, "9826012345", "ZON-BPL-1A", "LV1"),
    ):
        with pytest.raises(ConnectorRejected):
            billing.create_consumer(bad)


def test_switched_off_billing_is_unavailable_then_recovers(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    number = CLEAN.consumer_numbers[0]
    set_down(demo_engine, "billing")
    try:
        for call in (
            billing.heartbeat,
            lambda: billing.get_consumer(number),
            lambda: billing.outstanding_dues_many([number]),
            lambda: billing.meter_status(number),
            lambda: billing.post_payment(number, Decimal("1"), "PG-DOWN", datetime.now(UTC), "upi"),
        ):
            with pytest.raises(ConnectorUnavailable):
                call()
    finally:
        set_down(demo_engine, "billing", False)
    billing.heartbeat()
    # Nothing was posted while down.
    assert billing.outstanding_dues(number).is_clear


def _posting(reference: str, number: str, amount: str) -> PaymentPosting:
    return PaymentPosting(
        number, Decimal(amount), reference, datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "bbps"
    )


def test_payments_posted_together_each_accepted_or_refused_alone(demo_engine: Engine) -> None:
    billing = ReferenceBilling(demo_engine)
    first, second = DUES.consumer_numbers[0], DUES.consumer_numbers[1]
    billing.post_payment(first, Decimal("72.50"), "PG-EARLIER", datetime(2026, 11, 20, tzinfo=UTC), "upi")
    second_owes = billing.outstanding_dues(second, AS_OF).amount
    postings = [
        _posting("PG-T1", first, "500.00"),
        _posting("PG-T2", first, "1000.00"),  # the same connection twice in one call
        _posting("PG-EARLIER", second, "72.50"),  # the reference was used for another connection
        _posting("PG-T3", make_consumer_number(101, 999_999), "10.00"),
        _posting("PG-T4", second, "0.001"),
        _posting("PG-T5", second, "-1.00"),
    ]
    answer = billing.post_payment_many(postings)
    receipts = {ref: r for ref, r in answer.items() if isinstance(r, PostingReceipt)}
    assert sorted(receipts) == ["PG-T1", "PG-T2"]
    assert {r.balance_after for r in receipts.values()} == {Decimal("3000.00")}  # after the call
    assert {ref: e.code for ref, e in answer.items() if isinstance(e, ConnectorRejected)} == {
        "PG-EARLIER": "reference_conflict",
        "PG-T3": "not_found",
        "PG-T4": "invalid_amount",
        "PG-T5": "invalid_amount",
    }
    again = billing.post_payment_many(postings[:2])
    assert all(isinstance(r, PostingReceipt) and r.duplicate for r in again.values())
    assert billing.outstanding_dues(first, AS_OF).amount == Decimal("3000.00")
    assert billing.outstanding_dues(second, AS_OF).amount == second_owes


def test_overlapping_postings_calls_post_each_payment_once(demo_engine: Engine) -> None:
    """Two workers' calls share payments (a message delivered twice): each is in the ledger once."""
    billing = ReferenceBilling(demo_engine)
    number = DUES.consumer_numbers[0]
    calls = [
        [_posting(f"PG-O{n}", number, "10.00") for n in (1, 2, 3)],
        [_posting(f"PG-O{n}", number, "10.00") for n in (3, 4, 1)],
        [_posting(f"PG-O{n}", number, "10.00") for n in (2, 4, 5)],
    ]
    answers: list[object] = []

    def post(postings: list[PaymentPosting]) -> None:
        try:
            answers.append(billing.post_payment_many(postings))
        except Exception as exc:  # collected and asserted below
            answers.append(exc)

    threads = [threading.Thread(target=post, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # SQLite may refuse a racing writer ("database is locked"): unavailable, never a second posting.
    assert all(isinstance(a, (dict, ConnectorUnavailable)) for a in answers)
    for answer in answers:
        if isinstance(answer, dict):
            assert all(isinstance(r, PostingReceipt) for r in answer.values())
    # Whatever did not get through is sent again, as the outbox would.
    for postings in calls:
        billing.post_payment_many(postings)
    paid = [p for p in billing.payments_posted(date(2026, 11, 20)) if p.reference.startswith("PG-O")]
    assert sorted(p.reference for p in paid) == [f"PG-O{n}" for n in (1, 2, 3, 4, 5)]
    assert billing.outstanding_dues(number, AS_OF).amount == DUES_OWED - Decimal("50.00")


def test_a_reference_posted_by_another_call_meanwhile_is_answered_with_that_posting(
    demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another call commits one of this call's references after this call looked for them: the
    call's insert collides, and each payment is then posted alone (the raced one answered with
    the first posting's receipt)."""
    if demo_engine.dialect.name == "sqlite":
        pytest.skip("SQLite takes one writer at a time: no other call commits inside this call's transaction")
    billing, other = ReferenceBilling(demo_engine), ReferenceBilling(demo_engine)
    number = DUES.consumer_numbers[0]
    postings = [_posting("PG-M1", number, "10.00"), _posting("PG-M2", number, "20.00")]
    original = ReferenceBilling._post_in
    raced: list[object] = []

    def post_in(self: ReferenceBilling, conn: Any, entries: Any, *, inserting: bool = True) -> Any:
        if self is billing and inserting and len(entries) == 2 and not raced:
            execute = conn.execute

            def racing_execute(statement: Any, *args: Any, **kwargs: Any) -> Any:
                if getattr(statement, "is_insert", False) and not raced:
                    raced.append(other.post_payment_many([postings[1]])["PG-M2"])
                return execute(statement, *args, **kwargs)

            monkeypatch.setattr(conn, "execute", racing_execute)
        return original(self, conn, entries, inserting=inserting)

    monkeypatch.setattr(ReferenceBilling, "_post_in", post_in)
    answer = billing.post_payment_many(postings)
    [first] = raced
    assert isinstance(first, PostingReceipt) and not first.duplicate
    mine, theirs = answer["PG-M1"], answer["PG-M2"]
    assert isinstance(mine, PostingReceipt) and not mine.duplicate
    assert isinstance(theirs, PostingReceipt) and theirs.duplicate
    assert theirs.receipt_number == first.receipt_number
    paid = [
        p.reference for p in billing.payments_posted(date(2026, 11, 20)) if p.reference.startswith("PG-M")
    ]
    assert sorted(paid) == ["PG-M1", "PG-M2"]
