"""The reference head-end's tables (``ref_`` prefix, ReferenceBase metadata).

Part of the reference store, which creates its own tables (``connectors.reference_db``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.reference_db import ReferenceBase, UTCDateTime


class RefHesMeter(ReferenceBase):
    """A simulated smart meter as the head-end knows it."""

    __tablename__ = "ref_hes_meter"

    meter_no: Mapped[str] = mapped_column(String(30), primary_key=True)
    relay: Mapped[str] = mapped_column(String(12), nullable=False)
    communicating: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # Whole-current meters switch remotely; CT-operated ones do not.
    remote_switch: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # normal | lose (executes, sends no notification) | ignore (never executes, no notification)
    simulate: Mapped[str] = mapped_column(String(10), nullable=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RefHesCommand(ReferenceBase):
    """A command as the head-end received it, keyed by the caller's transaction id."""

    __tablename__ = "ref_hes_command"

    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter_no: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(12), nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    response_url: Mapped[str] = mapped_column(String(500), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False)  # accepted / executed / failed
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Set once the state-change notification was delivered (2xx from the response URL).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
