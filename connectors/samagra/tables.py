"""The reference Samagra registry's table (an extract of the state registry).

In the reference store (connectors.reference_db), which creates it. The reference KYC system
reads it too, as the real one consults Samagra during e-KYC.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.reference_db import ReferenceBase


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
