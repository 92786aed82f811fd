"""Reference billing: the discom's billing system simulated on ``ref_`` tables.

Like an outside system it keeps its own store (connectors.reference_db, never the
hub's database) and commits its own short transactions there. Switch it off with
``connectors.reference_db.set_down(engine, "billing")``: every call then raises
ConnectorUnavailable, which is how tests show the hub failing closed.

ini: ``hub.billing.backend = connectors.billing.reference:ReferenceBilling``
(no other option; it uses the reference store, ``hub.reference.database_url``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, case, func, insert, select, text
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing import (
    MAX_CONTACT_PAGE,
    MAX_DUES_BATCH,
    SYSTEM,
    Bill,
    ConnectionRecord,
    ConnectionStatus,
    Consumer,
    ConsumerSales,
    ContactChange,
    ContactPage,
    IBilling,
    LedgerPayment,
    MeterHealth,
    MeterStatus,
    MeterType,
    NewConsumer,
    Office,
    OfficeCodes,
    OutstandingDues,
    PaymentPosting,
    PostingReceipt,
    SupplyState,
    TariffLine,
    UnknownConsumers,
    check_postings,
    connections_asked,
    is_consumer_number,
    is_mobile,
    is_period,
    is_samagra_id,
)
from connectors.billing.tables import (
    RefConsumer,
    RefContact,
    RefLedgerEntry,
    RefMeter,
    RefOffice,
    next_counter_value,
    record_contact_change,
)
from connectors.errors import ConnectorError, ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.reference_db import SystemStatus

INDIA = ZoneInfo("Asia/Kolkata")
CENTS = Decimal("0.01")
# Tariff categories the reference billing accepts for a new connection.
CATEGORY_CODES = frozenset({"LV1", "LV2", "LV3", "LV4", "LV5", "HV3"})
# Serials of connections released through the hub start here, above anything the
# demo generator hands out (< 500000 per DC) and below the demo personas (999xxx).
NEW_CONNECTION_FIRST_SERIAL = 500_000
# A bill is payable for this many days; after it the late-payment surcharge applies.
BILL_PAYABLE_DAYS = 15
LATE_SURCHARGE_RATE = Decimal("0.0125")  # of the current bill, once past the due date
# Energy charge per unit by tariff category (rupees per kWh), for the bill's tariff lines.
ENERGY_RATE = {
    "LV1": Decimal("6.30"),
    "LV2": Decimal("7.90"),
    "LV3": Decimal("6.60"),
    "LV4": Decimal("7.10"),
    "LV5": Decimal("5.20"),
    "HV3": Decimal("7.40"),
}
# How a bill's total splits into its lines (the remainder is the energy charge).
DEFAULT_ENERGY_RATE = Decimal("6.50")
FIXED_SHARE = Decimal("0.12")
DUTY_SHARE = Decimal("0.09")

consumers_t = cast(Table, RefConsumer.__table__)
ledger_t = cast(Table, RefLedgerEntry.__table__)
meters_t = cast(Table, RefMeter.__table__)
offices_t = cast(Table, RefOffice.__table__)
contacts_t = cast(Table, RefContact.__table__)


def india_today() -> date:
    return datetime.now(INDIA).date()


def luhn_check_digit(digits: str) -> str:
    """The Luhn digit that makes ``digits + check`` valid (catches typos and swaps)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def make_consumer_number(dc_number: int, serial: int) -> str:
    """The demo/reference 10-digit format: DDD (DC number) SSSSSS (serial) C (Luhn)."""
    if not 100 <= dc_number <= 999 or not 0 < serial <= 999_999:
        raise ValueError("DC number must have 3 digits and the serial at most 6")
    body = f"{dc_number:03d}{serial:06d}"
    return body + luhn_check_digit(body)


def _consumer(row: Row[Any]) -> Consumer:
    return Consumer(
        consumer_number=row.consumer_number,
        name_en=row.name_en,
        name_hi=row.name_hi,
        samagra_id=row.samagra_id,
        mobile=row.mobile,
        district=row.district,
        offices=OfficeCodes(
            dc=row.dc_code, zone=row.zone_code, division=row.division_code, circle=row.circle_code
        ),
        category=row.category,
        connection_status=ConnectionStatus(row.connection_status),
    )


def _consumer_columns() -> list[Any]:
    c = consumers_t.c
    return [
        c.consumer_number,
        c.name_en,
        c.name_hi,
        c.samagra_id,
        c.mobile,
        c.district,
        c.dc_code,
        c.zone_code,
        c.division_code,
        c.circle_code,
        c.category,
        c.connection_status,
    ]


def _rupees(paise: Any) -> Decimal:
    """Rupees with two decimals from whole paise (None: nothing booked)."""
    return (Decimal(int(paise or 0)) / 100).quantize(CENTS)


# Lines per page of payments_posted_tsv on PostgreSQL: pages follow the references' order, the
# lines within a page need none (a sort of each page cost as much as reading it).
TSV_PAGE_LINES = 50_000
_TSV_PAGE = text(
    "SELECT STRING_AGG(reference || E'\\t' || CAST(-amount_paise AS TEXT) || E'\\n', ''), "
    "MAX(reference) FROM (SELECT reference, amount_paise FROM ref_ledger_entry WHERE kind = 'payment' "
    "AND entry_date = :day AND reference > :after ORDER BY reference LIMIT :size) page"
)


@dataclass(frozen=True)
class _Entry:
    """A ledger entry to post: a payment or a credit."""

    reference: str
    consumer_number: str
    amount: Decimal
    kind: str
    entry_date: date
    note: str


def _meter(row: Row[Any]) -> MeterStatus:
    return MeterStatus(
        consumer_number=row.consumer_number,
        meter_number=row.meter_number,
        meter_type=MeterType(row.meter_type),
        health=MeterHealth(row.health),
        supply=SupplyState(row.supply),
        last_read_on=row.last_read_on,
    )


def _one(answer: PostingReceipt | ConnectorError) -> PostingReceipt:
    if isinstance(answer, ConnectorError):
        raise answer
    return answer


@implementer(IBilling)
class ReferenceBilling:
    """IBilling on the ``ref_`` tables of the reference store."""

    system = SYSTEM

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceBilling:
        return cls(context.reference_store())

    # -- plumbing ---------------------------------------------------------------

    def _begin(self) -> AbstractContextManager[Connection]:
        return reference_transaction(self.engine, self.system)

    # -- reads ------------------------------------------------------------------

    def heartbeat(self) -> None:
        with self._begin() as conn:
            conn.execute(select(func.count()).select_from(offices_t)).scalar()

    def get_consumer(self, consumer_number: str) -> Consumer:
        with self._begin() as conn:
            return self._get_consumer(conn, consumer_number)

    def _get_consumer(self, conn: Connection, consumer_number: str) -> Consumer:
        if not is_consumer_number(consumer_number):
            raise NotFound("billing: unknown consumer number", system=self.system)
        row = conn.execute(
            select(*_consumer_columns()).where(consumers_t.c.consumer_number == consumer_number)
        ).first()
        if row is None:
            raise NotFound("billing: unknown consumer number", system=self.system)
        return _consumer(row)

    def connections_by_samagra(self, samagra_id: str) -> list[Consumer]:
        if not is_samagra_id(samagra_id):
            return []
        with self._begin() as conn:
            rows = conn.execute(
                select(*_consumer_columns())
                .where(consumers_t.c.samagra_id == samagra_id)
                .order_by(consumers_t.c.consumer_number)
            ).all()
        return [_consumer(row) for row in rows]

    def connections_by_mobile(self, mobile: str) -> list[Consumer]:
        if not is_mobile(mobile):
            return []
        with self._begin() as conn:
            rows = conn.execute(
                select(*_consumer_columns())
                .where(consumers_t.c.mobile == mobile)
                .order_by(consumers_t.c.consumer_number)
            ).all()
        return [_consumer(row) for row in rows]

    def outstanding_dues(self, consumer_number: str, as_of: date | None = None) -> OutstandingDues:
        try:
            return self.outstanding_dues_many([consumer_number], as_of)[consumer_number]
        except UnknownConsumers:
            raise NotFound("billing: unknown consumer number", system=self.system) from None

    def outstanding_dues_many(
        self, consumer_numbers: Sequence[str], as_of: date | None = None
    ) -> Mapping[str, OutstandingDues]:
        if len(consumer_numbers) > MAX_DUES_BATCH:
            raise ConnectorRejected(
                f"billing: at most {MAX_DUES_BATCH} connections per call", system=self.system
            )
        as_of = as_of or india_today()
        wanted = list(dict.fromkeys(consumer_numbers))
        if not wanted:
            return {}
        with self._begin() as conn:
            well_formed = [n for n in wanted if is_consumer_number(n)]
            known = set(
                conn.execute(
                    select(consumers_t.c.consumer_number).where(
                        consumers_t.c.consumer_number.in_(well_formed)
                    )
                ).scalars()
            )
            unknown = [n for n in wanted if n not in known]
            if unknown:
                raise UnknownConsumers(unknown)
            le = ledger_t.c
            rows = conn.execute(
                select(
                    le.consumer_number,
                    func.sum(le.amount_paise),
                    func.max(case((le.kind.in_(("bill",)), le.entry_date))),
                    func.count(),
                    func.max(le.id),
                )
                .where(le.consumer_number.in_(wanted), le.entry_date <= as_of)
                .group_by(le.consumer_number)
            ).all()
        by_number = {row[0]: row for row in rows}
        answer: dict[str, OutstandingDues] = {}
        for number in wanted:
            row = by_number.get(number)
            amount = _rupees(row[1]) if row else Decimal("0.00")
            last_bill = row[2] if row else None
            if isinstance(last_bill, str):  # SQLite returns MAX() of a date column as text
                last_bill = date.fromisoformat(last_bill)
            entries, last_id = (row[3], row[4]) if row else (0, 0)
            evidence = hashlib.sha256(f"{number}|{as_of}|{amount}|{entries}|{last_id}".encode()).hexdigest()
            answer[number] = OutstandingDues(
                consumer_number=number,
                amount=amount,
                as_of=as_of,
                evidence_id="RB-" + evidence[:20].upper(),
                last_bill_date=last_bill,
            )
        return answer

    def meter_status(self, consumer_number: str) -> MeterStatus:
        if not is_consumer_number(consumer_number):
            raise NotFound("billing: unknown consumer number", system=self.system)
        with self._begin() as conn:
            row = conn.execute(select(meters_t).where(meters_t.c.consumer_number == consumer_number)).first()
        if row is None:
            raise NotFound("billing: no meter for this consumer number", system=self.system)
        return _meter(row)

    def current_bill(self, consumer_number: str) -> Bill | None:
        found = self.connections_many([consumer_number]).get(consumer_number)
        if found is None:
            raise NotFound("billing: unknown consumer number", system=self.system)
        return found.bill

    def connections_many(self, consumer_numbers: Sequence[str]) -> Mapping[str, ConnectionRecord]:
        wanted = connections_asked(consumer_numbers)
        if not wanted:
            return {}
        le = ledger_t.c
        with self._begin() as conn:
            consumers = {
                row.consumer_number: _consumer(row)
                for row in conn.execute(
                    select(*_consumer_columns()).where(consumers_t.c.consumer_number.in_(wanted))
                )
            }
            known = list(consumers)
            newest_first = func.row_number().over(
                partition_by=le.consumer_number, order_by=(le.entry_date.desc(), le.id.desc())
            )
            bills = (
                select(
                    le.consumer_number, le.reference, le.entry_date, le.amount_paise, newest_first.label("n")
                )
                .where(le.consumer_number.in_(known), le.kind == "bill")
                .subquery()
            )
            latest = {
                row.consumer_number: row
                for row in conn.execute(
                    select(
                        bills.c.consumer_number, bills.c.reference, bills.c.entry_date, bills.c.amount_paise
                    ).where(bills.c.n == 1)
                )
            }
            balances = self._balances(conn, latest)
            meters = {
                row.consumer_number: _meter(row)
                for row in conn.execute(select(meters_t).where(meters_t.c.consumer_number.in_(known)))
            }
        answer: dict[str, ConnectionRecord] = {}
        for number, consumer in consumers.items():
            entry, meter = latest.get(number), meters.get(number)
            bill = None
            if entry is not None:
                bill = make_bill(
                    consumer,
                    entry.reference,
                    entry.entry_date,
                    _rupees(entry.amount_paise),
                    balances[number],
                    meter.meter_number if meter else None,
                )
            answer[number] = ConnectionRecord(consumer, bill, meter)
        return answer

    def payments_posted(self, day: date) -> Iterator[LedgerPayment]:
        le = ledger_t.c
        query = (
            select(le.reference, le.consumer_number, le.amount_paise, le.entry_date, le.receipt_number)
            .where(le.kind == "payment", le.entry_date == day)
            .order_by(le.reference)
        )
        with self._begin() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=5000).execute(query):
                yield LedgerPayment(row[0], row[1], _rupees(-row[2]), row[3], row[4])

    def payments_posted_tsv(self, day: date) -> Iterator[str]:
        le = ledger_t.c
        with self._begin() as conn:
            if conn.dialect.name == "postgresql":
                # Pages of whole lines built by the database: a row at a time (COPY TO, a cursor)
                # costs more in Python than the database spends finding the rows.
                after = ""
                while True:
                    page, last = conn.execute(
                        _TSV_PAGE, {"day": day, "after": after, "size": TSV_PAGE_LINES}
                    ).one()
                    if page is None:
                        break
                    yield page
                    after = last
                return
            query = (
                select(le.reference, le.amount_paise)
                .where(le.kind == "payment", le.entry_date == day)
                .order_by(le.reference)
            )
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
            for rows in result.partitions():
                yield "".join(f"{reference}\t{-int(amount)}\n" for reference, amount in rows)

    def period_sales(self, period: str) -> Iterator[ConsumerSales]:
        first, after_last = period_days(period)
        le = ledger_t.c
        query = (
            select(
                le.consumer_number,
                consumers_t.c.category,
                le.kind,
                le.amount_paise,
                consumers_t.c.dc_code,
                consumers_t.c.zone_code,
                consumers_t.c.division_code,
                consumers_t.c.circle_code,
            )
            .join(consumers_t, consumers_t.c.consumer_number == le.consumer_number)
            .where(le.kind.in_(("bill", "payment")), le.entry_date >= first, le.entry_date < after_last)
            .order_by(le.consumer_number)
        )
        with self._begin() as conn:
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
            current: str | None = None
            offices = OfficeCodes("", "", "", "")
            units = billed = collected = 0
            for number, category, kind, paise, dc, zone, division, circle in result:
                if number != current:
                    if current is not None:
                        yield ConsumerSales(
                            current, period, offices, units, _rupees(billed), _rupees(collected)
                        )
                    current, units, billed, collected = number, 0, 0, 0
                    offices = OfficeCodes(dc, zone, division, circle)
                if kind == "bill":
                    billed += paise
                    units += bill_units(category, _rupees(paise))
                else:
                    collected -= paise
            if current is not None:
                yield ConsumerSales(current, period, offices, units, _rupees(billed), _rupees(collected))

    # -- writes -----------------------------------------------------------------

    def contact_changes(self, after: int, limit: int) -> ContactPage:
        if not 0 < limit <= MAX_CONTACT_PAGE:
            raise ValueError(f"limit must be 1-{MAX_CONTACT_PAGE}")
        with self._begin() as conn:
            rows = conn.execute(
                select(
                    contacts_t.c.seq,
                    contacts_t.c.consumer_number,
                    consumers_t.c.mobile,
                    contacts_t.c.email,
                    contacts_t.c.changed_at,
                )
                .join(consumers_t, consumers_t.c.consumer_number == contacts_t.c.consumer_number)
                .where(contacts_t.c.seq > after)
                .order_by(contacts_t.c.seq)
                .limit(limit + 1)
            ).all()
        changes = tuple(
            ContactChange(
                seq=int(r.seq),
                consumer_number=r.consumer_number,
                mobile=r.mobile,
                email=r.email,
                changed_at=r.changed_at,
            )
            for r in rows[:limit]
        )
        return ContactPage(changes, changes[-1].seq if changes else after, len(rows) > limit)

    def change_contacts(self, consumer_number: str, mobile: str, email: str | None) -> int:
        """The reference's counter clerk: record a consumer's new mobile and e-mail (None clears it);
        the change number taken. NotFound if billing does not know the consumer."""
        with self._begin() as conn:
            changed = conn.execute(
                consumers_t.update()
                .where(consumers_t.c.consumer_number == consumer_number)
                .values(mobile=mobile)
            ).rowcount
            if not changed:
                raise NotFound("billing: unknown consumer number", system=self.system)
            return record_contact_change(conn, consumer_number, email, datetime.now(UTC))

    def office(self, code: str) -> Office:
        if not code or len(code) > 16:
            raise NotFound("billing: unknown office", system=self.system)
        with self._begin() as conn:
            row = conn.execute(
                select(offices_t.c.code, offices_t.c.level, offices_t.c.name_en, offices_t.c.name_hi).where(
                    offices_t.c.code == code
                )
            ).first()
        if row is None:
            raise NotFound("billing: unknown office", system=self.system)
        return Office(code=row.code, level=row.level, name_en=row.name_en, name_hi=row.name_hi)

    def post_payment(
        self, consumer_number: str, amount: Decimal, payment_reference: str, paid_at: datetime, channel: str
    ) -> PostingReceipt:
        posting = PaymentPosting(consumer_number, amount, payment_reference, paid_at, channel)
        return _one(self.post_payment_many([posting])[payment_reference])

    def post_payment_many(
        self, postings: Sequence[PaymentPosting]
    ) -> Mapping[str, PostingReceipt | ConnectorError]:
        check_postings(postings)
        return self._post_many(
            [
                _Entry(
                    p.reference,
                    p.consumer_number,
                    Decimal(p.amount),
                    "payment",
                    p.paid_at.astimezone(INDIA).date(),
                    p.channel,
                )
                for p in postings
            ]
        )

    def post_credit(
        self, consumer_number: str, amount: Decimal, credit_reference: str, reason: str
    ) -> PostingReceipt:
        entry = _Entry(credit_reference, consumer_number, Decimal(amount), "credit", india_today(), reason)
        return _one(self._post_many([entry])[credit_reference])

    def _post_many(self, entries: Sequence[_Entry]) -> dict[str, PostingReceipt | ConnectorError]:
        """Post the entries in one transaction; each one refused stands alone."""
        answer: dict[str, PostingReceipt | ConnectorError] = {}
        valid: list[_Entry] = []
        for entry in entries:
            amount = entry.amount
            if not amount.is_finite() or not 0 < amount < Decimal("1e12") or amount != amount.quantize(CENTS):
                answer[entry.reference] = ConnectorRejected(
                    "billing: amount must be positive rupees and paise",
                    system=self.system,
                    code="invalid_amount",
                )
            elif not entry.reference or len(entry.reference) > 64:
                answer[entry.reference] = ConnectorRejected(
                    "billing: reference must be 1-64 characters", system=self.system, code="invalid_reference"
                )
            else:
                valid.append(entry)
        if not valid:
            return answer
        try:
            with self._begin() as conn:
                answer.update(self._post_in(conn, valid))
        except IntegrityError:
            # A reference posted concurrently by another call: the first one won. Alone, an entry
            # now finds that posting and answers with its receipt (or its conflict).
            if len(valid) == 1:
                with self._begin() as conn:
                    answer.update(self._post_in(conn, valid, inserting=False))
            else:
                for entry in valid:
                    answer.update(self._post_many([entry]))
        return answer

    def _post_in(
        self, conn: Connection, entries: Sequence[_Entry], *, inserting: bool = True
    ) -> dict[str, PostingReceipt | ConnectorError]:
        existing = {
            row.reference: row
            for row in conn.execute(
                select(ledger_t).where(ledger_t.c.reference.in_([e.reference for e in entries]))
            )
        }
        numbers = {e.consumer_number for e in entries if is_consumer_number(e.consumer_number)}
        known = set(
            conn.execute(
                select(consumers_t.c.consumer_number).where(consumers_t.c.consumer_number.in_(numbers))
            ).scalars()
        )
        now = datetime.now(UTC)
        answer: dict[str, PostingReceipt | ConnectorError] = {}
        posted: dict[str, tuple[_Entry, str, datetime, bool]] = {}
        rows = []
        for entry in entries:
            amount = entry.amount.quantize(CENTS)
            row = existing.get(entry.reference)
            if row is not None:
                if (
                    row.consumer_number != entry.consumer_number
                    or _rupees(-row.amount_paise) != amount
                    or row.kind != entry.kind
                ):
                    answer[entry.reference] = ConnectorRejected(
                        "billing: reference already used for a different posting",
                        system=self.system,
                        code="reference_conflict",
                    )
                else:
                    posted[entry.reference] = (entry, row.receipt_number, row.posted_at, True)
            elif entry.consumer_number not in known:
                answer[entry.reference] = NotFound("billing: unknown consumer number", system=self.system)
            elif not inserting:  # pragma: no cover - unique violation on something else
                raise ConnectorUnavailable("billing: posting failed", system=self.system)
            else:
                receipt = "RC" + hashlib.sha256(entry.reference.encode()).hexdigest()[:14].upper()
                rows.append(
                    {
                        "consumer_number": entry.consumer_number,
                        "entry_date": entry.entry_date,
                        "kind": entry.kind,
                        "amount_paise": -int(amount * 100),
                        "reference": entry.reference,
                        "receipt_number": receipt,
                        "note": entry.note[:120],
                        "posted_at": now,
                    }
                )
                posted[entry.reference] = (entry, receipt, now, False)
        if rows:
            conn.execute(insert(ledger_t), rows)
        balances = self._balances(conn, {e.consumer_number for e, *_ in posted.values()})
        for reference, (entry, receipt, posted_at, duplicate) in posted.items():
            answer[reference] = PostingReceipt(
                reference,
                entry.consumer_number,
                entry.amount.quantize(CENTS),
                receipt,
                posted_at,
                duplicate,
                balances[entry.consumer_number],
            )
        return answer

    def _balances(self, conn: Connection, consumer_numbers: Iterable[str]) -> dict[str, Decimal]:
        """Each connection's ledger balance (zero for one with no entries)."""
        numbers = list(consumer_numbers)
        totals = dict(
            conn.execute(
                select(ledger_t.c.consumer_number, func.sum(ledger_t.c.amount_paise))
                .where(ledger_t.c.consumer_number.in_(numbers))
                .group_by(ledger_t.c.consumer_number)
            ).all()
        )
        return {number: _rupees(totals.get(number)) for number in numbers}

    def create_consumer(self, new: NewConsumer) -> Consumer:
        self._validate_new(new)
        try:
            with self._begin() as conn:
                existing = conn.execute(
                    select(*_consumer_columns()).where(
                        consumers_t.c.application_reference == new.application_reference
                    )
                ).first()
                if existing is not None:
                    return _consumer(existing)
                dc = conn.execute(
                    select(offices_t).where(offices_t.c.code == new.dc_code, offices_t.c.level == "dc")
                ).first()
                if dc is None or dc.dc_number is None:
                    raise ConnectorRejected(
                        "billing: unknown distribution centre", system=self.system, code="unknown_office"
                    )
                chain = self._office_chain(conn, dc.code)
                serial = next_counter_value(
                    conn, f"consumer_serial:{dc.dc_number}", NEW_CONNECTION_FIRST_SERIAL
                )
                number = make_consumer_number(dc.dc_number, serial)
                conn.execute(
                    insert(consumers_t).values(
                        consumer_number=number,
                        name_en=new.name_en,
                        name_hi=new.name_hi,
                        samagra_id=new.samagra_id,
                        mobile=new.mobile,
                        district=dc.district,
                        dc_code=chain["dc"],
                        zone_code=chain["zone"],
                        division_code=chain["division"],
                        circle_code=chain["circle"],
                        category=new.category,
                        connection_status=ConnectionStatus.ACTIVE.value,
                        connected_on=india_today(),
                        application_reference=new.application_reference,
                    )
                )
                record_contact_change(conn, number, None, datetime.now(UTC))
                # A released connection gets a smart meter, energised.
                conn.execute(
                    insert(meters_t).values(
                        consumer_number=number,
                        meter_number="NEW" + number,
                        meter_type=MeterType.SMART.value,
                        health=MeterHealth.HEALTHY.value,
                        supply=SupplyState.CONNECTED.value,
                        last_read_on=None,
                    )
                )
                return self._get_consumer(conn, number)
        except IntegrityError:
            # The same application released concurrently: return the winner's account.
            with self._begin() as conn:
                row = conn.execute(
                    select(*_consumer_columns()).where(
                        consumers_t.c.application_reference == new.application_reference
                    )
                ).first()
            if row is None:  # pragma: no cover
                raise ConnectorUnavailable("billing: consumer creation failed", system=self.system) from None
            return _consumer(row)

    def _validate_new(self, new: NewConsumer) -> None:
        problems = []
        if not new.application_reference or len(new.application_reference) > 64:
            problems.append("application_reference")
        if not new.name_en.strip() or len(new.name_en) > 120:
            problems.append("name_en")
        if not new.name_hi.strip() or len(new.name_hi) > 120:
            problems.append("name_hi")
        if new.samagra_id is not None and not is_samagra_id(new.samagra_id):
            problems.append("samagra_id")
        if not is_mobile(new.mobile):
            problems.append("mobile")
        if new.category not in CATEGORY_CODES:
            problems.append("category")
        if problems:
            raise ConnectorRejected(
                "billing: invalid new consumer (" + ", ".join(problems) + ")",
                system=self.system,
                code="invalid_request",
            )

    def _office_chain(self, conn: Connection, dc_code: str) -> dict[str, str]:
        chain: dict[str, str] = {}
        code: str | None = dc_code
        while code is not None and len(chain) < 4:
            row = conn.execute(
                select(offices_t.c.level, offices_t.c.parent_code).where(offices_t.c.code == code)
            ).first()
            if row is None:
                break
            chain[row.level] = code
            code = row.parent_code
        if set(chain) != {"dc", "zone", "division", "circle"}:
            raise ConnectorRejected(
                "billing: office hierarchy incomplete", system=self.system, code="unknown_office"
            )
        return chain


def period_days(period: str) -> tuple[date, date]:
    """The first day of billing month ``period`` (YYYY-MM) and the first day of the next one."""
    if not is_period(period):
        raise ValueError("period must be YYYY-MM")
    first = date(int(period[:4]), int(period[5:]), 1)
    return first, (first + timedelta(days=32)).replace(day=1)


def _bill_split(category: str, current: Decimal) -> tuple[Decimal, Decimal, Decimal, int]:
    """A bill's fixed charge, duty, energy charge and the units the energy charge stands for."""
    rate = ENERGY_RATE.get(category, DEFAULT_ENERGY_RATE)
    fixed = (current * FIXED_SHARE).quantize(CENTS)
    duty = (current * DUTY_SHARE).quantize(CENTS)
    energy = current - fixed - duty
    return fixed, duty, energy, int(energy / rate) if energy > 0 else 0


def bill_units(category: str, current: Decimal) -> int:
    """The units (kWh) a bill of ``current`` rupees in ``category`` charges for, as its lines print."""
    return _bill_split(category, current)[3]


def make_bill(
    consumer: Consumer,
    bill_number: str,
    bill_date: date,
    current: Decimal,
    balance: Decimal,
    meter_number: str | None,
) -> Bill:
    """The bill as the reference billing prints it: lines and readings follow from its total."""
    rate = ENERGY_RATE.get(consumer.category, DEFAULT_ENERGY_RATE)
    fixed, duty, energy, units = _bill_split(consumer.category, current)
    seed = int(hashlib.sha256(consumer.consumer_number.encode()).hexdigest()[:6], 16)
    previous = 1000 + seed % 40_000
    amount_due = max(balance, Decimal("0.00"))
    arrears = max(amount_due - current, Decimal("0.00"))
    surcharge = (current * LATE_SURCHARGE_RATE).quantize(CENTS) if amount_due > 0 else Decimal("0.00")
    return Bill(
        consumer_number=consumer.consumer_number,
        bill_number=bill_number,
        period=f"{bill_date.year:04d}-{bill_date.month:02d}",
        bill_date=bill_date,
        due_date=bill_date + timedelta(days=BILL_PAYABLE_DAYS),
        current_amount=current,
        arrears=arrears,
        amount_due=balance,
        late_payment_amount=amount_due + surcharge,
        previous_reading=previous,
        current_reading=previous + units,
        units=units,
        meter_number=meter_number,
        tariff_lines=(
            TariffLine(
                "energy",
                f"Energy charge ({units} kWh @ {rate})",
                f"ऊर्जा प्रभार ({units} यूनिट @ {rate})",
                energy,
            ),
            TariffLine("fixed", "Fixed charge", "स्थायी प्रभार", fixed),
            TariffLine("duty", "Electricity duty", "विद्युत शुल्क", duty),
        ),
    )


@contextmanager
def reference_transaction(engine: Engine, system: str) -> Iterator[Connection]:
    """A short transaction of a simulated system that fails like a dead one when switched off.

    Database trouble (locked, gone) is the simulated system being unavailable.
    """
    status = SystemStatus.__table__
    try:
        with engine.begin() as conn:
            down = conn.execute(select(status.c.down).where(status.c.system == system)).scalar()
            if down:
                raise ConnectorUnavailable(f"{system} is down", system=system)
            yield conn
    except (OperationalError, InterfaceError):
        raise ConnectorUnavailable(f"{system}: reference database unavailable", system=system) from None
