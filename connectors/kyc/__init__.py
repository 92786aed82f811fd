# zope.interface methods have no self and no body:
# mypy: disable-error-code="empty-body,misc"
# ruff: noqa: N805
"""The discom's e-KYC records ("Know Your Consumer"): one record per connection.

e-KYC is done with consumer number + Samagra ID + OTP to the linked mobile;
it records the holder's Samagra ID, mobile and bank account (from the Samagra
registry, used for DBT). Aadhaar numbers are never carried or stored.

ini::

    hub.kyc.backend = connectors.kyc.reference:ReferenceKyc   # ref_ tables (demo, tests)
    hub.kyc.backend = connectors.kyc.rest:RestKyc             # the discom's REST KYC service

Every method may raise ConnectorUnavailable (KYC down, slow, garbage: decide
nothing) or NotFound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from zope.interface import Interface

SYSTEM = "kyc"
# One batch read covers at most this many connections.
MAX_KYC_BATCH = 1000
MAX_CHANGES_PAGE = 1000


class KycStatus(StrEnum):
    # e-KYC done and the bank account seeded: DBT can pay.
    COMPLETE = "complete"
    # e-KYC never done for this connection.
    INCOMPLETE = "incomplete"
    # e-KYC done, bank account not (yet) verified/seeded in Samagra.
    PENDING = "pending"


class EkycRefusal(StrEnum):
    """Why an e-KYC submission was refused (stable codes the hub shows the person)."""

    UNKNOWN_CONSUMER = "unknown_consumer"
    UNKNOWN_SAMAGRA = "unknown_samagra"
    # The Samagra member is not of the family the connection is registered to.
    SAMAGRA_MISMATCH = "samagra_mismatch"
    CONNECTION_CLOSED = "connection_closed"


@dataclass(frozen=True)
class KycRecord:
    consumer_number: str
    holder_name_en: str
    holder_name_hi: str
    samagra_id: str | None
    mobile: str | None
    # Digits only, as the KYC system holds it; the hub encrypts it at rest and masks it on output.
    bank_account: str | None
    ifsc: str | None
    status: KycStatus
    kyc_date: date | None
    # Where the record came from: "ekyc" (app/portal/hub), "office", "migration".
    source: str
    updated_at: datetime

    @property
    def is_complete(self) -> bool:
        return self.status is KycStatus.COMPLETE


@dataclass(frozen=True)
class EkycOutcome:
    """The answer to an e-KYC submission: the record, or the reason it was refused."""

    accepted: bool
    record: KycRecord | None
    refusal: EkycRefusal | None


@dataclass(frozen=True)
class KycChanges:
    """One page of the change feed. Pass ``next_cursor`` back to continue; an empty page means caught up."""

    records: tuple[KycRecord, ...]
    next_cursor: str


class IKyc(Interface):
    """The KYC system as the hub sees it."""

    def get_record(consumer_number: str) -> KycRecord:
        """The connection's KYC record. NotFound: no record (treat as KYC not done)."""

    def get_records(consumer_numbers: Sequence[str]) -> Mapping[str, KycRecord]:
        """Records of up to MAX_KYC_BATCH connections; numbers without a record are absent."""

    def records_by_samagra(samagra_id: str) -> list[KycRecord]:
        """Every connection's record carrying this Samagra member ID (empty: none)."""

    def submit_ekyc(consumer_number: str, samagra_id: str, mobile: str | None = None) -> EkycOutcome:
        """Record e-KYC of a connection (the hub has verified the OTP to ``mobile``).

        Idempotent: submitting again refreshes the record from Samagra.
        """

    def changes_since(cursor: str | None, limit: int = 500) -> KycChanges:
        """Records changed after ``cursor`` (None: from the beginning), oldest change first."""

    def heartbeat() -> None:
        """Return if KYC answers; raise ConnectorUnavailable if not."""
