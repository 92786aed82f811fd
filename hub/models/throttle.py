"""Wrong passwords and client secrets, counted per key, shared by every process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base


class SignInFailures(Base):
    """Consecutive failures under one key (an account or client id at an address, or an address).

    ``blocked_until`` is when the key may try again; hub.throttle keeps it.
    """

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(index=True)
    blocked_until: Mapped[datetime] = mapped_column()
