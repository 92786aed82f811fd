"""The reference GIS's tables (``ref_`` prefix, ReferenceBase metadata).

Part of the reference store, which creates its own tables (``connectors.reference_db``).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.billing.tables import BigId
from connectors.reference_db import ReferenceBase


class RefGisNode(ReferenceBase):
    """A substation, feeder or DT."""

    __tablename__ = "ref_gis_node"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    parent_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    office_code: Mapped[str] = mapped_column(String(16), nullable=False)
    name_en: Mapped[str] = mapped_column(String(120), nullable=False)
    name_hi: Mapped[str] = mapped_column(String(120), nullable=False)
    meter_no: Mapped[str | None] = mapped_column(String(30), nullable=True)
    capacity_kva: Mapped[int | None] = mapped_column(Integer, nullable=True)
    in_service: Mapped[bool] = mapped_column(Boolean, nullable=False)


class RefGisLink(ReferenceBase):
    """The DT that supplies a consumer (NULL: known to the GIS, not mapped yet)."""

    __tablename__ = "ref_gis_link"

    consumer_number: Mapped[str] = mapped_column(String(12), primary_key=True)
    dt_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)


class RefGisChange(ReferenceBase):
    """The feed: one row per change of a node (``entity`` node) or of a consumer's DT (``link``)."""

    __tablename__ = "ref_gis_change"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(8), nullable=False)
    key: Mapped[str] = mapped_column(String(40), nullable=False)
