"""Partner systems that call the hub, and the keys that sign their tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow


class PartnerClient(Base):
    """An OAuth client: the single window, the election authority, a DBT scheme, the portal.

    The secret is stored only as an Argon2 hash. ``scopes`` bound what its
    tokens may do; ``purposes`` bound why it may read personal data (DBT).
    """

    __tablename__ = "partner_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # WS-Security UsernameToken needs the clear secret to recompute
    # PasswordDigest; it is kept encrypted with hub.secret_key, only for
    # clients that asked for SOAP username tokens.
    soap_password_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TokenSigningKey(Base):
    """A key that signs access tokens (RFC 9068 JWTs).

    The newest active key signs; older keys stay published in the JWKS until
    every token they signed has expired, so rotation never cuts a caller off.
    """

    __tablename__ = "token_signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_jwk_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(nullable=True)
