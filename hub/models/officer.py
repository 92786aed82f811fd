"""Discom officers who sign in to the hub's work queue (hub.console)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow


class Officer(Base):
    """An officer account created with ``hub-admin <ini> officers create``.

    ``roles`` are workflow roles (``dgm``, ``gm``...), ``offices`` the office
    codes whose cases the officer sees (``DIV-BPL-1``...). Only an argon2 hash
    of the password is kept.
    """

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    offices: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)
