"""The reference billing system's tables (``ref_`` prefix, ReferenceBase metadata).

In the reference store, which creates them (connectors.reference_db.open_reference_store).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import BigInteger, Date, Index, Integer, String, Table, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from connectors.reference_db import ReferenceBase, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class RefOffice(ReferenceBase):
    """The discom's office hierarchy: DC < zone < division < circle."""

    __tablename__ = "ref_office"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    level: Mapped[str] = mapped_column(String(10), nullable=False)  # dc / zone / division / circle
    name_en: Mapped[str] = mapped_column(String(80), nullable=False)
    name_hi: Mapped[str] = mapped_column(String(80), nullable=False)
    district: Mapped[str] = mapped_column(String(40), nullable=False)
    parent_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The 3-digit number a DC puts at the front of its consumer numbers.
    dc_number: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)


class RefConsumer(ReferenceBase):
    __tablename__ = "ref_consumer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consumer_number: Mapped[str] = mapped_column(String(12), nullable=False, unique=True)
    name_en: Mapped[str] = mapped_column(String(120), nullable=False)
    name_hi: Mapped[str] = mapped_column(String(120), nullable=False)
    samagra_id: Mapped[str | None] = mapped_column(String(9), nullable=True, index=True)
    mobile: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    district: Mapped[str] = mapped_column(String(40), nullable=False)
    dc_code: Mapped[str] = mapped_column(String(16), nullable=False)
    zone_code: Mapped[str] = mapped_column(String(16), nullable=False)
    division_code: Mapped[str] = mapped_column(String(16), nullable=False)
    circle_code: Mapped[str] = mapped_column(String(16), nullable=False)
    category: Mapped[str] = mapped_column(String(8), nullable=False)
    connection_status: Mapped[str] = mapped_column(String(24), nullable=False)
    connected_on: Mapped[date] = mapped_column(Date, nullable=False)
    # Set when the hub released the connection (create_consumer is idempotent on it).
    application_reference: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)


class RefContact(ReferenceBase):
    """A consumer's e-mail and the change number of their contacts (mobile in ref_consumer, e-mail
    here): the feed ``contact_changes`` reads. Each change takes the next value of the counter
    ``CONTACT_COUNTER``, so a consumer changed twice is listed once, at the latest change."""

    __tablename__ = "ref_contact"

    consumer_number: Mapped[str] = mapped_column(String(12), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


# The counter behind RefContact.seq.
CONTACT_COUNTER = "contact_change"


class RefLedgerEntry(ReferenceBase):
    """Bills, arrears, payments and credits; dues as of D = sum(amount) of entries dated <= D.

    Amounts are in paise. Bills and arrears are positive, payments and credits negative. ``reference``
    is unique: it is what makes posting a payment or a credit idempotent.
    """

    __tablename__ = "ref_ledger_entry"
    __table_args__ = (Index("ix_ref_ledger_entry_consumer_date", "consumer_number", "entry_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consumer_number: Mapped[str] = mapped_column(String(12), nullable=False)
    entry_date: Mapped[date] = mapped_column(Date, nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # bill / arrear / payment / credit
    # Whole paise: exact on SQLite too (it has no decimal type) and cheap to sum.
    amount_paise: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reference: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    receipt_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(String(120), nullable=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class RefMeter(ReferenceBase):
    """One meter per connection. The head-end reference backend may flip ``supply``."""

    __tablename__ = "ref_meter"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consumer_number: Mapped[str] = mapped_column(String(12), nullable=False, unique=True)
    meter_number: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    meter_type: Mapped[str] = mapped_column(String(12), nullable=False)
    health: Mapped[str] = mapped_column(String(8), nullable=False)
    supply: Mapped[str] = mapped_column(String(12), nullable=False)
    last_read_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class RefCounter(ReferenceBase):
    """Named counters of the reference systems (consumer serials per DC, KYC change feed)."""

    __tablename__ = "ref_counter"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)


def next_counter_value(conn: Connection, name: str, first: int) -> int:
    """Atomically take the next value of counter ``name`` (``first`` the first time)."""
    table = cast(Table, RefCounter.__table__)
    insert_fn = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        insert_fn(table).values(name=name, value=first - 1).on_conflict_do_nothing(index_elements=["name"])
    )
    value = conn.execute(
        update(table).where(table.c.name == name).values(value=table.c.value + 1).returning(table.c.value)
    ).scalar_one()
    return int(value)


def record_contact_change(conn: Connection, consumer_number: str, email: str | None, at: datetime) -> int:
    """Give the consumer's contacts the next change number (and ``email``); the number taken."""
    seq = next_counter_value(conn, CONTACT_COUNTER, 1)
    table = cast(Table, RefContact.__table__)
    values = {"email": email, "seq": seq, "changed_at": at}
    insert_fn = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert_fn(table).values(consumer_number=consumer_number, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["consumer_number"], set_=values))
    return seq
