"""The reference MDAS's table (``ref_`` prefix, ReferenceBase metadata).

Part of the reference store, which creates its own tables (``connectors.reference_db``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.billing.tables import BigId
from connectors.reference_db import ReferenceBase, UTCDateTime


class RefMdasReading(ReferenceBase):
    """A register reading of a feeder or DT meter."""

    __tablename__ = "ref_mdas_reading"
    __table_args__ = (Index("ix_ref_mdas_reading_read_at", "read_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    node_code: Mapped[str] = mapped_column(String(40), nullable=False)
    meter_no: Mapped[str] = mapped_column(String(30), nullable=False)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    register_wh: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
