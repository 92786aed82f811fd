"""The reference KYC system's tables: the Samagra registry extract and the KYC records.

Created by migration ``0002_reference_systems``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.billing.tables import BigId
from connectors.reference_db import ReferenceBase, UTCDateTime


class RefSamagraPerson(ReferenceBase):
    """A member of the state social registry (Samagra): who e-KYC checks against.

    ``family_id`` (8 digits) groups a household; ``samagra_id`` (9 digits) is
    the member. The bank account is what DBT pays into.
    """

    __tablename__ = "ref_samagra_person"

    samagra_id: Mapped[str] = mapped_column(String(9), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(8), nullable=False, index=True)
    name_en: Mapped[str] = mapped_column(String(120), nullable=False)
    name_hi: Mapped[str] = mapped_column(String(120), nullable=False)
    mobile: Mapped[str | None] = mapped_column(String(10), nullable=True, index=True)
    district: Mapped[str] = mapped_column(String(40), nullable=False)
    bank_account: Mapped[str | None] = mapped_column(String(18), nullable=True)
    ifsc: Mapped[str | None] = mapped_column(String(11), nullable=True)


class RefKycRecord(ReferenceBase):
    """One KYC record per connection. ``change_seq`` orders the change feed."""

    __tablename__ = "ref_kyc_record"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consumer_number: Mapped[str] = mapped_column(String(12), nullable=False, unique=True)
    samagra_id: Mapped[str | None] = mapped_column(String(9), nullable=True, index=True)
    holder_name_en: Mapped[str] = mapped_column(String(120), nullable=False)
    holder_name_hi: Mapped[str] = mapped_column(String(120), nullable=False)
    mobile: Mapped[str | None] = mapped_column(String(10), nullable=True, index=True)
    bank_account: Mapped[str | None] = mapped_column(String(18), nullable=True)
    ifsc: Mapped[str | None] = mapped_column(String(11), nullable=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    kyc_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
