"""No-dues certificates: consumer accounts, their linked connections, applications and check evidence."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.meta import Base, utcnow


class ConsumerAccount(Base):
    """A person as one calling system knows them: a mobile proved by OTP.

    Accounts are per client: a caller sees only the people who gave *it*
    their OTP. ``samagra_id`` is set from the first successful e-KYC, so it
    is a Samagra ID the KYC system vouched for, not one the caller typed.
    """

    __tablename__ = "nodues_accounts"
    __table_args__ = (UniqueConstraint("client_id", "mobile", name="uq_nodues_accounts_client_mobile"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    mobile: Mapped[str] = mapped_column(String(10))
    samagra_id: Mapped[str | None] = mapped_column(String(9), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkedConnection(Base):
    """A connection (consumer number) linked to an account, with how ownership was proved."""

    __tablename__ = "nodues_connections"
    __table_args__ = (
        UniqueConstraint("account_id", "consumer_number", name="uq_nodues_connections_account_consumer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("nodues_accounts.id"), index=True)
    consumer_number: Mapped[str] = mapped_column(String(12))
    # registered_mobile (found by the account's own OTP), mobile_otp (OTP to the
    # connection's registered mobile) or samagra (billing's Samagra ID = the account's e-KYC one).
    proof: Mapped[str] = mapped_column(String(20))
    dc_code: Mapped[str] = mapped_column(String(40))
    division_code: Mapped[str] = mapped_column(String(40))
    circle_code: Mapped[str] = mapped_column(String(40))
    # not_done / submitted (waiting for the KYC system) / complete / pending (bank seeding) / refused.
    ekyc_status: Mapped[str] = mapped_column(String(16), default="not_done")
    # Why the KYC system refused the last e-KYC (connectors.kyc.EkycRefusal value).
    ekyc_refusal: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ekyc_at: Mapped[datetime | None] = mapped_column(nullable=True)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoDuesApplication(Base):
    """One application; its state machine is the ``nodues`` workflow case of the same public id."""

    __tablename__ = "nodues_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("nodues_accounts.id"), index=True)
    name_deva: Mapped[str] = mapped_column(String(200), default="")
    name_latin: Mapped[str] = mapped_column(String(200), default="")
    # The names above are the Samagra registry's (printed on the certificate); these are what was typed.
    typed_name_deva: Mapped[str] = mapped_column(String(200), default="", server_default="")
    typed_name_latin: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # match / mismatch: the typed names against the registry's (hub.nodues.names.same_name).
    name_check: Mapped[str | None] = mapped_column(String(12), nullable=True)
    # ekyc / samagra_otp: how the applicant proved to be the person of samagra_id.
    identity_proof: Mapped[str | None] = mapped_column(String(20), nullable=True)
    samagra_id: Mapped[str] = mapped_column(String(9), index=True)
    mobile: Mapped[str] = mapped_column(String(10))
    connections: Mapped[list[str]] = mapped_column(JSON, default=list)
    no_connection: Mapped[bool] = mapped_column(Boolean, default=False)
    purpose: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dues_as_of: Mapped[date | None] = mapped_column(Date, nullable=True)
    office_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30))
    # The person's Samagra ID while the application is open, NULL once decided:
    # the unique constraint lets one open application per person exist, race or not.
    open_samagra_id: Mapped[str | None] = mapped_column(String(9), unique=True, nullable=True)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_check_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    checks_completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    rejection_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("issued_documents.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)


class NoDuesCheck(Base):
    """One automatic check and its evidence (billing's reference, the KYC record's time...)."""

    __tablename__ = "nodues_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("nodues_applications.id"), index=True)
    # dues / meter / ekyc / no_connection
    name: Mapped[str] = mapped_column(String(30))
    consumer_number: Mapped[str | None] = mapped_column(String(12), nullable=True)
    result: Mapped[str] = mapped_column(String(8))  # pass / fail
    evidence_ref: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
