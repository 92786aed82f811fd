"""The reference KYC system's table: the KYC records (the Samagra extract is :mod:`connectors.samagra.tables`).

In the reference store (connectors.reference_db), which creates it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.billing.tables import BigId
from connectors.reference_db import ReferenceBase, UTCDateTime

# The registry extract belongs to the Samagra reference system; KYC reads it.
from connectors.samagra.tables import RefSamagraPerson

__all__ = ["RefKycRecord", "RefSamagraPerson"]


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
