"""WS-Security UsernameToken nonces already seen: the replay cache shared by every process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base


class SoapNonce(Base):
    """One (client, nonce) pair, kept until the token's Created time leaves the accepted window.

    Written on its own short transaction (hub.soap.security), so a request that
    fails after authentication still burns its nonce. A token whose Created is
    outside the window is refused before this table is consulted, so rows past
    ``expires_at`` can be purged without reopening a replay.
    """

    __tablename__ = "soap_nonces"
    __table_args__ = (Index("ix_soap_nonces_expires_at", "expires_at"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The nonce bytes re-encoded in canonical base64 (whitespace or padding
    # variants of one nonce must collide).
    nonce: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
