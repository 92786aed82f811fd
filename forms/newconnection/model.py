"""What the hub works with once a form of any version has been read: one shape for every version.

A new form version adds fields here as optional members (defaulting to what
an older form implied), so code written for version 1 keeps working on
applications filed under version 2, and an application filed under
version 1 is read back, years later, by the version-1 definition it was
validated with (the stored ``form_version`` picks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class DocumentRef:
    """An attached document: inline bytes, or a URL the hub fetches once; ``sha256`` always."""

    doc_type: str
    file_name: str
    media_type: str
    sha256: str
    content: bytes | None = None
    url: str | None = None


@dataclass(frozen=True)
class ConnectionApplicationForm:
    form_version: int
    enterprise_name: str
    enterprise_name_hi: str
    constitution: str
    pan: str
    gstin: str | None
    contact_name: str
    mobile: str
    email: str | None
    address_line: str
    locality: str | None
    district: str
    pin_code: str
    area_class: str
    category: str
    connected_load_kw: Decimal
    contract_demand_kva: Decimal | None
    supply_voltage: str
    purpose: str | None
    documents: tuple[DocumentRef, ...]
    # The canonical cleaned data (decimals as text, base64 normalised): hashed for idempotency, stored.
    cleaned: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def load_summary(self) -> str:
        if self.contract_demand_kva is not None:
            return f"{self.connected_load_kw} kW / {self.contract_demand_kva} kVA"
        return f"{self.connected_load_kw} kW"
