"""Fixed-window request counters shared by every process (SQLite/PostgreSQL fallback)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base


class RateLimitWindow(Base):
    __tablename__ = "rate_limit_windows"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
