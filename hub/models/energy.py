"""The energy audit: what it imported for a month (meter readings, billing's sales), and its results.

Imported rows are kept per period so a month's figures can be recomputed and checked against
what the MDAS and billing said at the time, and so next month can see who moved between DTs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class EnergyAudit(Base):
    """One billing month's audit: requested, imported, computed."""

    __tablename__ = "energy_audits"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    # requested (waits for hub-worker) | computed
    state: Mapped[str] = mapped_column(String(12))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    readings: Mapped[int] = mapped_column(Integer, default=0)
    consumers: Mapped[int] = mapped_column(Integer, default=0)
    # Why the last run did not finish (a system down); cleared by a run that does.
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class EnergyReading(Base):
    """A feeder or DT meter reading the MDAS gave for the month."""

    __tablename__ = "energy_readings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(7))
    node_code: Mapped[str] = mapped_column(String(40))
    meter_no: Mapped[str] = mapped_column(String(30))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())
    register_wh: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))  # snapshot | final | initial
    # open: the snapshot at the month's start; close: at its end; inside: any other.
    position: Mapped[str] = mapped_column(String(6))

    __table_args__ = (Index("ix_energy_readings_period_node", "period", "node_code"),)


class EnergySale(Base):
    """A connection's month in billing, placed on the DT the network supplied it from."""

    __tablename__ = "energy_sales"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    consumer_number: Mapped[str] = mapped_column(String(12), primary_key=True)
    units: Mapped[int] = mapped_column(BigInteger)  # kWh billed
    billed_paise: Mapped[int] = mapped_column(BigInteger)
    collected_paise: Mapped[int] = mapped_column(BigInteger)
    # None: the network holds no DT for the consumer (unmapped).
    dt_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The DT of the previous audited month, when it was another one: the consumer moved.
    moved_from: Mapped[str | None] = mapped_column(String(40), nullable=True)

    __table_args__ = (
        Index("ix_energy_sales_period_dt", "period", "dt_code"),
        # Few consumers move in a month: the moved ones are found without reading the month.
        Index("ix_energy_sales_period_moved", "period", "moved_from"),
    )


class EnergyNodeInput(Base):
    """A metered node's readings for the month, summed per node: what its input and flags follow from."""

    __tablename__ = "energy_node_inputs"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    node_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Sum over its meters of closing − opening register (trusted only when the counts below agree).
    energy_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    meters: Mapped[int] = mapped_column(Integer)
    opens: Mapped[int] = mapped_column(Integer)  # snapshots at the month's start
    closes: Mapped[int] = mapped_column(Integer)  # snapshots at its end
    finals: Mapped[int] = mapped_column(Integer)  # meters taken off (replacements)
    open_ends: Mapped[int] = mapped_column(Integer)  # meters without an opening or a closing reading
    backwards: Mapped[int] = mapped_column(Integer)  # readings lower than the one before


class EnergyDtSales(Base):
    """Billing's month summed per DT (``dt_code`` None: consumers on no DT)."""

    __tablename__ = "energy_dt_sales"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(7))
    dt_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    consumers: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(BigInteger)
    billed_paise: Mapped[int] = mapped_column(BigInteger)
    collected_paise: Mapped[int] = mapped_column(BigInteger)
    moved_in: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_energy_dt_sales_period_dt", "period", "dt_code"),)


class EnergyOffice(Base):
    """A distribution centre's division and circle as billing gave them for the month."""

    __tablename__ = "energy_offices"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    dc_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    division_code: Mapped[str] = mapped_column(String(16))
    circle_code: Mapped[str] = mapped_column(String(16))


class EnergyAuditResult(Base):
    """A node's month: energy in, energy and money billed, money collected.

    Sums only; the ratios (loss, efficiencies, AT&C loss) follow from them
    (:func:`hub.energy.service.measures`), so a roll-up is never an average of ratios.
    ``input_wh`` is None when no meter reading of the node can be trusted; ``audited_billed_wh`` is
    what was billed below the nodes whose input is known, the only billing set against input.
    """

    __tablename__ = "energy_audit_results"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    level: Mapped[str] = mapped_column(String(10), primary_key=True)  # dt feeder dc division circle discom
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    # One level up (DT -> feeder -> DC -> division -> circle -> discom); None for the discom.
    parent_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    consumers: Mapped[int] = mapped_column(Integer)
    input_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    billed_wh: Mapped[int] = mapped_column(BigInteger)
    audited_billed_wh: Mapped[int] = mapped_column(BigInteger)
    billed_paise: Mapped[int] = mapped_column(BigInteger)
    collected_paise: Mapped[int] = mapped_column(BigInteger)
    # Metered nodes of this level (a DT or feeder itself; the feeders below an office), and of
    # them those whose input is known.
    nodes: Mapped[int] = mapped_column(Integer)
    nodes_with_input: Mapped[int] = mapped_column(Integer)
    # Flags raised on this node and below it.
    flags: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_energy_audit_results_parent", "period", "parent_code"),)


class EnergyAuditFlag(Base):
    """Something the audit would not guess: a missing or backward reading, a replaced meter, ..."""

    __tablename__ = "energy_audit_flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(7))
    level: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(40))
    flag: Mapped[str] = mapped_column(String(24))
    # How many readings / consumers it concerns.
    count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_energy_audit_flags_period_code", "period", "code"),)
