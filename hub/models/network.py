"""The network behind the meters as the hub keeps it, from the GIS's change feed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, UTCDateTime


class NetworkNode(Base):
    """A 33/11 kV substation, an 11 kV feeder or a distribution transformer (DT)."""

    __tablename__ = "network_nodes"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # substation | feeder | dt
    # Not a foreign key: the feed may name a parent before it sends it; readers flag it.
    parent_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    office_code: Mapped[str] = mapped_column(String(16))
    name_en: Mapped[str] = mapped_column(String(120))
    name_hi: Mapped[str] = mapped_column(String(120))
    meter_no: Mapped[str | None] = mapped_column(String(30), nullable=True)
    capacity_kva: Mapped[int | None] = mapped_column(Integer, nullable=True)
    in_service: Mapped[bool] = mapped_column(Boolean)
    # The feed entry that last changed it.
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_network_nodes_parent_code", "parent_code"),
        Index("ix_network_nodes_office_kind", "office_code", "kind"),
    )


class ConsumerSupply(Base):
    """Which DT supplies a consumer; ``dt_code`` None: the GIS holds the consumer without one."""

    __tablename__ = "network_consumers"

    consumer_number: Mapped[str] = mapped_column(String(12), primary_key=True)
    dt_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_network_consumers_dt_code", "dt_code"),)


class NetworkFeed(Base):
    """How far the hub has applied each change feed it reads: the GIS's network (``gis``) and
    billing's consumer contacts (``billing_contacts``), one row each."""

    __tablename__ = "network_feed"

    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())
