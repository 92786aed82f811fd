"""Tell a state DBT scheme that KYC changes are waiting (docs/domain.md: KYC for DBT).

DBT systems pull KYC "changed since <cursor>" from the hub; this webhook
only tells them there is something to pull, so they need not poll hard. It
carries the cursor to pull from and a count, never personal data.

Wire format::

    POST {url}                                   (Authorization: Bearer {token})
    {"event": "kyc.changed", "notification_id": "...", "scheme": "LADLI-BEHNA",
     "cursor": "...", "changed_count": 120, "as_of": "2026-11-23T10:00:00+00:00"}
    2xx (any body) -> done; 4xx -> ConnectorRejected; 5xx/timeout/refused -> ConnectorUnavailable

The receiver deduplicates by ``notification_id`` (the hub's outbox id).

Settings (under ``hub.dbt.``)::

    backend = connectors.dbt.reference:ReferenceDbt  (or connectors.dbt.client:HttpDbt)
    url, token, health_url (optional), connect_timeout, read_timeout
"""

# ruff: noqa: N805  (zope.interface methods are declared without self)
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zope.interface import Interface

SYSTEM = "dbt"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


@dataclass(frozen=True)
class KycChangeNotice:
    notification_id: str
    scheme: str
    cursor: str
    changed_count: int
    as_of: datetime

    def __post_init__(self) -> None:
        if not _ID.match(self.notification_id) or not _ID.match(self.scheme):
            raise ValueError("notification_id and scheme must be 1-100 letters, digits or _.:-")
        if not self.cursor or len(self.cursor) > 200:
            raise ValueError("cursor must be 1-200 characters")
        if self.changed_count < 0:
            raise ValueError("changed_count must not be negative")
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must carry a time zone")

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "kyc.changed",
            "notification_id": self.notification_id,
            "scheme": self.scheme,
            "cursor": self.cursor,
            "changed_count": self.changed_count,
            "as_of": self.as_of.isoformat(),
        }


class IDbtNotifier(Interface):
    """A DBT scheme's change webhook (``request.find_service(IDbtNotifier)``)."""

    def notify(notice: KycChangeNotice) -> None:
        """Deliver one notice; safe to repeat (the receiver dedupes by ``notification_id``)."""

    def heartbeat() -> None:  # type: ignore[misc]
        """Return if the scheme's endpoint answers; raise ConnectorUnavailable if not."""
