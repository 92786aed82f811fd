"""The discom's office hierarchy as the hub keeps it: distribution centre < zone < division < circle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, UTCDateTime


class OfficeLink(Base):
    """One office and the office above it, as billing gives them (a circle has none above: the
    discom). Officers see what happens in their offices and in every office below them."""

    __tablename__ = "office_hierarchy"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    level: Mapped[str] = mapped_column(String(10))  # dc | zone | division | circle
    parent_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_office_hierarchy_parent_code", "parent_code"),)
