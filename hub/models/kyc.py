"""The hub's KYC records, change feed, consents and DBT field policies."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow


class ConnectionKyc(Base):
    """The KYC of one connection as the hub serves it to DBT schemes.

    The bank account is stored only as Fernet ciphertext (``SecretBox`` purpose
    "bank-account"); ``bank_account_last4`` lets a masked pull skip decryption
    and ``bank_account_mac`` (keyed HMAC) tells a changed account without it.
    Aadhaar numbers have no column on purpose.
    """

    __tablename__ = "kyc_records"
    __table_args__ = (Index("ix_kyc_records_samagra_id", "samagra_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consumer_number: Mapped[str] = mapped_column(String(32), unique=True)
    holder_name_en: Mapped[str] = mapped_column(String(200))
    holder_name_hi: Mapped[str] = mapped_column(String(200))
    samagra_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    mobile: Mapped[str | None] = mapped_column(String(10), nullable=True)
    bank_account_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    bank_account_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    bank_account_mac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ifsc: Mapped[str | None] = mapped_column(String(11), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    kyc_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    # "ekyc" (the hub's own e-KYC flow) or "sync" (the KYC connector's change feed).
    source: Mapped[str] = mapped_column(String(20))
    # Where the KYC system says the record came from ("ekyc", "office", "migration").
    origin: Mapped[str] = mapped_column(String(40))
    source_updated_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KycChange(Base):
    """One entry of the change feed DBT schemes follow (``listKycChanges``).

    ``id`` is the feed position. Writers take a lock before inserting (see
    hub.kycstore) so ids become visible in increasing order and a reader's
    cursor never skips a late-committing row.
    """

    __tablename__ = "kyc_changes"
    __table_args__ = (Index("ix_kyc_changes_samagra_id", "samagra_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # kyc_new, kyc_updated, bank_account_changed, consent_given, consent_withdrawn
    kind: Mapped[str] = mapped_column(String(30))
    consumer_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    samagra_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Set on consent events only: the scheme the consent is for.
    purpose: Mapped[str | None] = mapped_column(String(60), nullable=True)


class KycConsent(Base):
    """A person's (Samagra ID) OTP-confirmed consent for one purpose (scheme).

    One row per grant: live while not withdrawn and not expired. Giving
    consent again adds a row, so the history stays readable.
    """

    __tablename__ = "kyc_consents"
    __table_args__ = (Index("ix_kyc_consents_samagra_purpose", "samagra_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    samagra_id: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(60))
    mobile: Mapped[str] = mapped_column(String(10))
    challenge_id: Mapped[str] = mapped_column(String(40), unique=True)
    given_via_client: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None] = mapped_column(nullable=True)


class KycFieldPolicy(Base):
    """What a DBT client may receive for one of its purposes."""

    __tablename__ = "kyc_field_policies"
    __table_args__ = (UniqueConstraint("client_id", "purpose", name="uq_kyc_field_policies_client_purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(60))
    # Comma-separated names from hub.kyc.policy.KYC_FIELDS.
    fields: Mapped[str] = mapped_column(Text)
    full_bank_account: Mapped[bool] = mapped_column(Boolean, default=False)
    # "found", "no consent" and "unknown" answered alike, so ids cannot be probed.
    uniform_absent: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KycSyncState(Base):
    """Where the sync from the KYC connector's change feed stands."""

    __tablename__ = "kyc_sync_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(nullable=True)
    records_total: Mapped[int] = mapped_column(Integer, default=0)
