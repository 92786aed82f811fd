# zope.interface methods have no self and no body:
# mypy: disable-error-code="empty-body,misc"
# ruff: noqa: N805
"""The discom's billing system (MP: NGB): consumers, connections, dues, meters, postings.

The hub codes against :class:`IBilling` and the frozen dataclasses below;
the deployment picks the class in the ini::

    hub.billing.backend = connectors.billing.reference:ReferenceBilling   # ref_ tables (demo, tests)
    hub.billing.backend = connectors.billing.soap:SoapBilling             # the discom's SOAP service

Every method may raise :class:`connectors.errors.ConnectorUnavailable`
(billing down, timed out, answered garbage: decide nothing, retry later) or
:class:`connectors.errors.NotFound` (billing does not know the consumer).
Amounts are :class:`decimal.Decimal` rupees with two decimals, never floats.

Identifier shapes (checked by :func:`is_consumer_number` etc. before anything
is sent to billing, so a malformed number is a NotFound without a round trip):

* consumer number (IVRS number): 10-12 ASCII digits. The demo/reference data
  uses 10 digits ``DDD SSSSSS C``: 3-digit distribution-centre number,
  6-digit serial within the DC, Luhn check digit (see :mod:`connectors.demo`).
  The check digit is a property of the demo format only; the hub must not
  reject real numbers on it.
* Samagra member ID: 9 digits (the family ID is 8 digits).
* mobile: 10 digits starting 6-9 (no +91, no leading 0).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from zope.interface import Interface

from connectors.errors import ConnectorError, NotFound

__all__ = [
    "MAX_CONNECTIONS_PER_CALL",
    "MAX_CONTACT_PAGE",
    "MAX_DUES_BATCH",
    "MAX_POSTINGS_PER_CALL",
    "Bill",
    "ConnectionRecord",
    "ConnectionStatus",
    "Consumer",
    "ConsumerSales",
    "ContactChange",
    "ContactPage",
    "IBilling",
    "LedgerPayment",
    "MeterHealth",
    "MeterStatus",
    "MeterType",
    "NewConsumer",
    "OfficeCodes",
    "OutstandingDues",
    "PaymentPosting",
    "PostingReceipt",
    "SupplyState",
    "TariffLine",
    "UnknownConsumers",
    "check_postings",
    "connections_asked",
    "connections_of",
    "is_consumer_number",
    "is_mobile",
    "is_period",
    "is_samagra_id",
]

SYSTEM = "billing"
# One dues call covers at most this many connections (an account holds up to 25).
MAX_DUES_BATCH = 1000
# One bills call covers at most this many connections, one postings call this many payments: a
# posting batch (50 payments) is then two calls to billing, whatever the distance to it.
MAX_CONNECTIONS_PER_CALL = 100
MAX_POSTINGS_PER_CALL = 100
# The most contact changes one page may carry; a reader asks for fewer.
MAX_CONTACT_PAGE = 5_000

_CONSUMER_NUMBER = re.compile(r"[0-9]{10,12}")
_SAMAGRA_ID = re.compile(r"[0-9]{9}")
_MOBILE = re.compile(r"[6-9][0-9]{9}")
_PERIOD = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")


def is_consumer_number(value: object) -> bool:
    return isinstance(value, str) and _CONSUMER_NUMBER.fullmatch(value) is not None


def is_samagra_id(value: object) -> bool:
    return isinstance(value, str) and _SAMAGRA_ID.fullmatch(value) is not None


def is_mobile(value: object) -> bool:
    return isinstance(value, str) and _MOBILE.fullmatch(value) is not None


def is_period(value: object) -> bool:
    """A billing month, ``YYYY-MM`` (2000-2099)."""
    return isinstance(value, str) and _PERIOD.fullmatch(value) is not None


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    # Supply cut (e.g. for unpaid dues); the account lives on and can be reconnected.
    DISCONNECTED = "disconnected"
    # Account closed; no reconnection without a new application.
    PERMANENTLY_DISCONNECTED = "permanently_disconnected"


class MeterType(StrEnum):
    SMART = "smart"
    CONVENTIONAL = "conventional"


class MeterHealth(StrEnum):
    HEALTHY = "healthy"
    FAULTY = "faulty"


class SupplyState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class OfficeCodes:
    """The offices responsible for a connection, smallest first (routing uses these)."""

    dc: str
    zone: str
    division: str
    circle: str


@dataclass(frozen=True)
class Office:
    """One office of the discom's hierarchy as billing names it (printed on documents and the console)."""

    code: str
    level: str  # dc / zone / division / circle
    name_en: str
    name_hi: str


@dataclass(frozen=True)
class Consumer:
    consumer_number: str
    name_en: str
    name_hi: str
    samagra_id: str | None
    mobile: str
    district: str
    offices: OfficeCodes
    # Tariff category code, e.g. "LV1" (domestic); see connectors.demo.CATEGORIES.
    category: str
    connection_status: ConnectionStatus


@dataclass(frozen=True)
class OutstandingDues:
    """What billing says a connection owes as of a date: the evidence of a no-dues check."""

    consumer_number: str
    amount: Decimal
    as_of: date
    # Billing's reference for this answer; the hub records it as the check's evidence.
    evidence_id: str
    last_bill_date: date | None

    @property
    def is_clear(self) -> bool:
        return self.amount <= 0


@dataclass(frozen=True)
class MeterStatus:
    consumer_number: str
    meter_number: str
    meter_type: MeterType
    health: MeterHealth
    supply: SupplyState
    last_read_on: date | None


@dataclass(frozen=True)
class PostingReceipt:
    """Billing's receipt for a payment or a credit.

    ``duplicate`` is True when the same reference had already been posted:
    the receipt is the original one and nothing was posted twice.
    ``balance_after`` is the connection's balance when billing answered: after the whole call
    when one call posts several payments of a connection.
    """

    reference: str
    consumer_number: str
    amount: Decimal
    receipt_number: str
    posted_at: datetime
    duplicate: bool
    balance_after: Decimal


@dataclass(frozen=True)
class PaymentPosting:
    """One payment for billing's ledger; ``reference`` makes posting it idempotent."""

    consumer_number: str
    amount: Decimal
    reference: str
    paid_at: datetime  # timezone-aware; billing dates the ledger entry in India time
    channel: str


def connections_asked(consumer_numbers: Sequence[str]) -> list[str]:
    """The numbers one bills call asks about: each once, in order, the malformed left out (billing
    cannot know them). ValueError for more than :data:`MAX_CONNECTIONS_PER_CALL`."""
    if len(consumer_numbers) > MAX_CONNECTIONS_PER_CALL:
        raise ValueError(f"at most {MAX_CONNECTIONS_PER_CALL} connections in one call")
    return [n for n in dict.fromkeys(consumer_numbers) if is_consumer_number(n)]


def connections_of(billing: Any, consumer_numbers: Iterable[str | None]) -> dict[str, ConnectionRecord]:
    """Any number of connections from ``billing`` (an IBilling), asked MAX_CONNECTIONS_PER_CALL
    at a time; empty and repeated numbers are asked once or not at all."""
    numbers = sorted({n for n in consumer_numbers if n})
    found: dict[str, ConnectionRecord] = {}
    for start in range(0, len(numbers), MAX_CONNECTIONS_PER_CALL):
        found.update(billing.connections_many(numbers[start : start + MAX_CONNECTIONS_PER_CALL]))
    return found


def check_postings(postings: Sequence[PaymentPosting]) -> None:
    """One postings call: at most :data:`MAX_POSTINGS_PER_CALL`, each paid_at timezone-aware, no
    reference twice (ValueError otherwise: the caller's bug, never sent)."""
    if len(postings) > MAX_POSTINGS_PER_CALL:
        raise ValueError(f"at most {MAX_POSTINGS_PER_CALL} payments in one call")
    if any(posting.paid_at.tzinfo is None for posting in postings):
        raise ValueError("paid_at must be timezone-aware")
    if len({posting.reference for posting in postings}) != len(postings):
        raise ValueError("a payment reference appears twice in one call")


@dataclass(frozen=True)
class NewConsumer:
    """A new connection released by the hub; billing allocates the consumer number.

    ``application_reference`` makes creation idempotent: the same reference
    returns the consumer created the first time.
    """

    application_reference: str
    name_en: str
    name_hi: str
    samagra_id: str | None
    mobile: str
    dc_code: str
    category: str


@dataclass(frozen=True)
class TariffLine:
    """One line of a bill's charges (energy charge, fixed charge, duty...)."""

    code: str
    label_en: str
    label_hi: str
    amount: Decimal


@dataclass(frozen=True)
class Bill:
    """A connection's latest bill and what it owes now.

    ``amount_due`` is the whole balance (this bill plus ``arrears``, less
    what was paid since); zero or less means nothing is due.
    ``late_payment_amount`` is what is due after ``due_date`` (surcharge added).
    """

    consumer_number: str
    bill_number: str
    period: str  # YYYY-MM
    bill_date: date
    due_date: date
    current_amount: Decimal
    arrears: Decimal
    amount_due: Decimal
    late_payment_amount: Decimal
    previous_reading: int
    current_reading: int
    units: int
    meter_number: str | None
    tariff_lines: tuple[TariffLine, ...]

    @property
    def is_due(self) -> bool:
        return self.amount_due > 0


@dataclass(frozen=True)
class ConnectionRecord:
    """A connection as billing holds it, as a batch answers: master data, latest bill (None: never
    billed) and meter (None: none installed)."""

    consumer: Consumer
    bill: Bill | None
    meter: MeterStatus | None


@dataclass(frozen=True)
class LedgerPayment:
    """A payment as billing's ledger holds it (what reconciliation compares with)."""

    reference: str
    consumer_number: str
    amount: Decimal
    entry_date: date
    receipt_number: str | None


@dataclass(frozen=True)
class ConsumerSales:
    """A connection's month in billing: the units and amount billed for the month (bills of the
    billing period ``period``) and the amount collected in it (payments dated in the month)."""

    consumer_number: str
    period: str  # YYYY-MM
    # The offices the connection belongs to (the audit rolls DCs up to divisions and circles by them).
    offices: OfficeCodes
    units: int  # kWh billed
    billed: Decimal
    collected: Decimal


@dataclass(frozen=True)
class ContactChange:
    """How billing says a consumer can be reached, as it stands after change number ``seq``.

    Billing's master data is typed in at counters, so a mobile or e-mail here is what billing
    holds, not checked: the hub checks it before using it. ``email`` None: billing holds none
    (a cleared address comes as None)."""

    seq: int
    consumer_number: str
    mobile: str | None
    email: str | None
    changed_at: datetime


@dataclass(frozen=True)
class ContactPage:
    changes: tuple[ContactChange, ...]
    # The change number to ask after next time (``after`` itself when the page is empty).
    last_seq: int
    # True when more changes wait after ``last_seq``.
    more: bool


class UnknownConsumers(NotFound):
    """A batch named consumer numbers billing does not know (listed, in the caller's order)."""

    code = "not_found"

    def __init__(self, consumer_numbers: Sequence[str], *, system: str = SYSTEM) -> None:
        super().__init__(f"{system}: {len(consumer_numbers)} unknown consumer number(s)", system=system)
        self.consumer_numbers = tuple(consumer_numbers)


class IBilling(Interface):
    """The billing system as the hub sees it."""

    def get_consumer(consumer_number: str) -> Consumer:
        """The connection's master data. NotFound if billing does not know it."""

    def connections_by_samagra(samagra_id: str) -> list[Consumer]:
        """Every connection registered to a Samagra member ID (empty list: none)."""

    def connections_by_mobile(mobile: str) -> list[Consumer]:
        """Every connection whose registered mobile is ``mobile`` (empty list: none)."""

    def outstanding_dues(consumer_number: str, as_of: date | None = None) -> OutstandingDues:
        """What the connection owes as of the end of ``as_of`` (default: today, India time)."""

    def outstanding_dues_many(
        consumer_numbers: Sequence[str], as_of: date | None = None
    ) -> Mapping[str, OutstandingDues]:
        """Dues of up to MAX_DUES_BATCH connections in one call, keyed by consumer number.

        Raises UnknownConsumers (a NotFound) if any number is unknown: the hub
        never decides on a partial answer.
        """

    def meter_status(consumer_number: str) -> MeterStatus:
        """The connection's meter. NotFound if unknown (or no meter installed)."""

    def office(code: str) -> Office:
        """The office with this code (``DIV-BPL-1``), with its names. NotFound if unknown."""

    def post_payment(
        consumer_number: str, amount: Decimal, payment_reference: str, paid_at: datetime, channel: str
    ) -> PostingReceipt:
        """Post a payment, idempotent by ``payment_reference``.

        The same reference with a different consumer or amount is a
        ConnectorRejected with code ``reference_conflict``.
        """

    def post_payment_many(
        postings: Sequence[PaymentPosting],
    ) -> Mapping[str, PostingReceipt | ConnectorError]:
        """Post up to MAX_POSTINGS_PER_CALL payments in one call (:func:`check_postings`), each
        idempotent by its reference as :meth:`post_payment` is.

        Answers by reference, for every posting: its receipt, or the error posting it alone
        would raise (ConnectorRejected ``reference_conflict`` or ``invalid_amount``, NotFound).
        ConnectorUnavailable if billing does not answer: none is known to be posted, and
        posting them again is harmless.
        """

    def post_credit(
        consumer_number: str, amount: Decimal, credit_reference: str, reason: str
    ) -> PostingReceipt:
        """Post a credit (e.g. statutory compensation), idempotent by ``credit_reference``."""

    def current_bill(consumer_number: str) -> Bill | None:
        """The latest bill and the amount due now; None if the connection was never billed.

        NotFound if billing does not know the consumer.
        """

    def connections_many(consumer_numbers: Sequence[str]) -> Mapping[str, ConnectionRecord]:
        """Master data, latest bill and meter of up to MAX_CONNECTIONS_PER_CALL connections in one
        call, by consumer number. A number billing does not know is absent from the answer (billing
        answers for each number asked: known or not; anything else is ConnectorUnavailable).
        ValueError for more than MAX_CONNECTIONS_PER_CALL numbers."""

    def payments_posted(day: date) -> Iterator[LedgerPayment]:
        """Every payment billing's ledger dated ``day`` (India time), streamed in reference order."""

    def payments_posted_tsv(day: date) -> Iterator[str]:
        """The same payments in bulk (in no set order), for reconciliation: text chunks of whole
        ``reference<TAB>amount in paise<NEWLINE>`` lines (references hold no tab or backslash)."""

    def period_sales(period: str) -> Iterator[ConsumerSales]:
        """Every connection billed or paying in billing month ``period`` (YYYY-MM), streamed in
        consumer-number order: the energy audit's sales side. ValueError for a malformed period."""

    def contact_changes(after: int, limit: int) -> ContactPage:
        """Up to ``limit`` (1..MAX_CONTACT_PAGE) consumers whose mobile or e-mail changed, with a
        change number above ``after``, in change-number order. A consumer changed twice appears
        once, at their latest change; every connection billing creates appears once at least.
        ValueError for a limit out of range."""

    def create_consumer(new: NewConsumer) -> Consumer:
        """Create the billing account of a released connection; idempotent by application reference."""

    def heartbeat() -> None:
        """Return if billing answers; raise ConnectorUnavailable if not."""
