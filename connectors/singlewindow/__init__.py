"""Status updates pushed back to the state single-window portal.

Every status change of a new-connection application is an outbox row; the
worker calls :meth:`ISingleWindowCallback.deliver` until the portal
acknowledges it. The portal deduplicates by ``delivery_id`` (the hub's
outbox id), and orders by ``sequence`` per application, so a retry after a
crash or a lost acknowledgement never shows twice.

Wire format (POST to the portal's callback URL)::

    Content-Type: application/json; charset=utf-8
    X-Delivery-Id: <delivery_id>            also Idempotency-Key
    X-JWS-Signature: <protected>..<sig>     when signature = jws  (RFC 7515 detached JWS)
    X-Hub-Signature: t=<unix>,v1=<hex>      when signature = hmac (HMAC-SHA256 over "<t>." + body)

    {"delivery_id": "...", "sent_at": "2026-11-23T10:00:00+00:00",
     "update": {"application_id": "SW-...", "application_no": "NC-...", "status": "demand_note_issued",
                "sequence": 4, "occurred_at": "...", "remarks": "मांग पत्र जारी", "details": {...}}}

    2xx {"delivery_id": "<same>", "status": "accepted" | "duplicate"}   delivered
    anything else (non-2xx, garbage, a 2xx not echoing the id)         not delivered: retry

Signature: why detached JWS by default, HMAC as an option
---------------------------------------------------------
*JWS (ES256, or RS256 for an RSA key, with a ``kid``)* is the default:
the portal verifies with the hub's public keys, which the hub already
publishes at ``/.well-known/jwks.json`` for its OAuth tokens, so no secret
is shared between two organisations, a leak on the portal's side cannot
forge our updates, keys rotate by publishing a new ``kid`` first, and a
signed update is evidence of what the discom told the portal (the
statutory timeline disputes need exactly that). It is detached
(RFC 7515 appendix F) so the body stays plain JSON the portal can store
as received.
*HMAC-SHA256* with a shared secret is offered because some state portals
cannot verify JWS; it proves origin only to whoever holds the secret. The
timestamp is inside the MAC; ``sent_at`` is inside the JWS-signed body, so
either way the receiver can refuse an old replay.

Settings (under ``hub.singlewindow.``)::

    backend = connectors.singlewindow.reference:ReferenceSingleWindow
              (or connectors.singlewindow.client:HttpSingleWindow)
    url = https://portal.example/discom/callback
    signature = jws | hmac          (default jws)
    jws_key_file = /etc/hub/sw-signing.pem   PEM private key (EC P-256 -> ES256, RSA -> RS256)
    jws_kid = hub-sw-2026-1
    hmac_secret = ...               (signature = hmac; at least 32 characters)
    require_ack = true              false: any 2xx counts (portals that answer an empty body)
    health_url = ...                optional, probed by heartbeat (default: url)
    connect_timeout = 2, read_timeout = 5
"""

# ruff: noqa: N805  (zope.interface methods are declared without self)
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zope.interface import Interface

SYSTEM = "singlewindow"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")

Scalar = str | int | bool | None


@dataclass(frozen=True)
class StatusUpdate:
    """One status change of an application, as the portal receives it."""

    delivery_id: str
    application_id: str
    application_no: str
    status: str
    sequence: int
    occurred_at: datetime
    remarks: str = ""
    details: Mapping[str, Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ID.match(self.delivery_id):
            raise ValueError("delivery_id must be 1-100 letters, digits or _.:-")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone")
        if self.sequence < 0:
            raise ValueError("sequence must not be negative")

    def as_json(self) -> dict[str, Any]:
        return {
            "application_id": self.application_id,
            "application_no": self.application_no,
            "status": self.status,
            "sequence": self.sequence,
            "occurred_at": self.occurred_at.isoformat(),
            "remarks": self.remarks,
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, delivery_id: str, data: Mapping[str, Any]) -> StatusUpdate:
        """Parse the ``update`` member of a delivery (used by receivers: reference and fake portal)."""
        details = data.get("details") or {}
        if not isinstance(details, dict) or not all(
            isinstance(v, str | int | bool) or v is None for v in details.values()
        ):
            raise TypeError("details must be an object of scalars")
        sequence = data["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise TypeError("sequence must be an integer")
        return cls(
            delivery_id=delivery_id,
            application_id=str(data["application_id"]),
            application_no=str(data["application_no"]),
            status=str(data["status"]),
            sequence=sequence,
            occurred_at=datetime.fromisoformat(str(data["occurred_at"])),
            remarks=str(data.get("remarks", "")),
            details=details,
        )


def envelope(update: StatusUpdate, sent_at: datetime) -> bytes:
    """The exact bytes POSTed (and signed)."""
    return json.dumps(
        {"delivery_id": update.delivery_id, "sent_at": sent_at.isoformat(), "update": update.as_json()},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


@dataclass(frozen=True)
class DeliveryReceipt:
    delivery_id: str
    duplicate: bool


class ISingleWindowCallback(Interface):
    """The single-window portal's callback endpoint (``request.find_service(ISingleWindowCallback)``)."""

    def deliver(update: StatusUpdate) -> DeliveryReceipt:  # type: ignore[empty-body]
        """Deliver one status update; return when the portal acknowledged it.

        Raises ConnectorUnavailable (down, timeout, 5xx, garbage answer, or
        401/403: the portal refuses our signature) or ConnectorRejected (other
        4xx, with the portal's error code, e.g. an application id it does not
        know). Both are failures the worker retries with backoff and then parks
        for an operator. Safe to repeat: the portal dedupes by ``delivery_id``.
        """

    def heartbeat() -> None:  # type: ignore[misc]
        """Return if the portal answers; raise ConnectorUnavailable if not."""
