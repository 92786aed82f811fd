"""The smart-meter head-end system (HES): remote connect / disconnect and relay state.

The protocol follows MultiSpeak's connect/disconnect service:

1. The hub **initiates** commands, as MultiSpeak's ``InitiateConnectDisconnect``
   does, several in one call (up to :data:`MAX_COMMANDS_PER_CALL`): each names the
   meter, ``connect`` or ``disconnect``, a reason, the hub's *transaction id*, an
   *expiry* time and the *response URL*. The immediate reply only reports, per
   command, whether it was accepted or why not (unknown meter, a meter that cannot
   switch remotely, a transaction id reused for another command); a repeat of the
   same transaction id is accepted again and switches nothing twice. A month-end
   peak of reconnections is a few calls, not one round trip per meter.
2. The head-end queues the command to the meter over RF/cellular and later
   POSTs a **state-change notification** (:class:`StateChange`) to the response
   URL: the transaction id, the outcome (``executed`` or ``failed``) and the
   relay state. The body is signed with HMAC-SHA256 (:func:`sign`) under a
   secret shared with the hub, and carries the time it was sent.
3. After the expiry no notification will come: the hub **queries the meter's
   state** (:meth:`IHeadEnd.meter_state`) and decides from the relay.

Whole-current smart meters (IS 16444) switch remotely; CT-operated meters do
not (``MeterState.remote_switch`` false): the head-end refuses their commands
with ``remote_switch_unsupported``.

Settings (under ``hub.headend.``)::

    backend = connectors.headend.reference:ReferenceHeadEnd  (or connectors.headend.client:HttpHeadEnd)
"""

# ruff: noqa: N805  (zope.interface methods are declared without self)
from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from zope.interface import Interface

from connectors.errors import ConnectorError

SYSTEM = "headend"
SIGNATURE_HEADER = "X-HES-Signature"
_METER_NO = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,29}$")
TRANSACTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
# Commands in one initiate call: a posting batch's reconnections fit in one.
MAX_COMMANDS_PER_CALL = 100


class RelayState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNKNOWN = "unknown"


class CommandAction(StrEnum):
    CONNECT = "connect"
    DISCONNECT = "disconnect"

    @property
    def relay(self) -> RelayState:
        """The relay state the command leaves the meter in."""
        return RelayState.CONNECTED if self is CommandAction.CONNECT else RelayState.DISCONNECTED


class Outcome(StrEnum):
    """What a state-change notification reports."""

    ACCEPTED = "accepted"
    EXECUTED = "executed"
    FAILED = "failed"


@dataclass(frozen=True)
class MeterState:
    meter_no: str
    relay: RelayState
    communicating: bool
    # False for CT-operated meters: they cannot be switched remotely.
    remote_switch: bool
    last_seen: datetime | None


@dataclass(frozen=True)
class CommandRequest:
    meter_no: str
    action: CommandAction
    reason: str
    transaction_id: str
    expires_at: datetime
    response_url: str

    def as_json(self) -> dict[str, str]:
        return {
            "transaction_id": self.transaction_id,
            "meter_no": self.meter_no,
            "action": self.action.value,
            "reason": self.reason,
            "expires_at": self.expires_at.astimezone(UTC).isoformat(),
            "response_url": self.response_url,
        }


@dataclass(frozen=True)
class StateChange:
    """The head-end's notification of a command's outcome (POSTed to the response URL)."""

    notification_id: str
    transaction_id: str
    meter_no: str
    action: CommandAction
    outcome: Outcome
    relay: RelayState
    failure_code: str | None
    sent_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "transaction_id": self.transaction_id,
            "meter_no": self.meter_no,
            "action": self.action.value,
            "outcome": self.outcome.value,
            "relay": self.relay.value,
            "failure_code": self.failure_code,
            "sent_at": self.sent_at.astimezone(UTC).isoformat(),
        }

    def encode(self) -> bytes:
        return json.dumps(self.as_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, body: bytes) -> StateChange:
        """Parse a notification body; ValueError names what is wrong."""
        try:
            raw = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("body is not JSON") from None
        if not isinstance(raw, dict):
            raise ValueError("body is not a JSON object")

        def text(key: str, limit: int) -> str:
            value = raw.get(key)
            if not isinstance(value, str) or not 0 < len(value) <= limit:
                raise ValueError(f"{key} must be a string of 1-{limit} characters")
            return value

        transaction_id = text("transaction_id", 64)
        if not TRANSACTION_ID.match(transaction_id):
            raise ValueError("transaction_id is malformed")
        failure = raw.get("failure_code")
        if failure is not None and (not isinstance(failure, str) or len(failure) > 40):
            raise ValueError("failure_code must be a string of at most 40 characters")
        try:
            sent_at = datetime.fromisoformat(text("sent_at", 40))
            action = CommandAction(text("action", 12))
            outcome = Outcome(text("outcome", 12))
            relay = RelayState(text("relay", 12))
        except ValueError:
            raise ValueError("sent_at, action, outcome or relay is not a known value") from None
        if sent_at.tzinfo is None:
            raise ValueError("sent_at must carry a time zone")
        return cls(
            notification_id=text("notification_id", 64),
            transaction_id=transaction_id,
            meter_no=check_meter_no(text("meter_no", 30)),
            action=action,
            outcome=outcome,
            relay=relay,
            failure_code=failure,
            sent_at=sent_at.astimezone(UTC),
        )


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of the raw body, in hex."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, given: str | None) -> bool:
    """Constant-time check of a notification's signature (an empty secret accepts nothing)."""
    if not secret or not given:
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), given.strip().encode("ascii", "replace"))


def check_meter_no(meter_no: str) -> str:
    """Meter serial numbers: 4-30 capital letters, digits or dashes (never sent to HES otherwise)."""
    if not _METER_NO.match(meter_no):
        raise ValueError("meter number must be 4-30 capital letters, digits or dashes")
    return meter_no


def check_request(request: CommandRequest) -> None:
    check_meter_no(request.meter_no)
    if not request.reason or len(request.reason) > 200:
        raise ValueError("reason must be 1-200 characters")
    if not TRANSACTION_ID.match(request.transaction_id):
        raise ValueError("transaction id must be 1-64 letters, digits or ._:-")
    if request.expires_at.tzinfo is None:
        raise ValueError("expiry must carry a time zone")
    if not request.response_url.startswith(("http://", "https://")) or len(request.response_url) > 500:
        raise ValueError("response URL must be an http(s) URL of at most 500 characters")


def check_requests(requests: Sequence[CommandRequest]) -> None:
    """One initiate call's commands: each well formed, at most :data:`MAX_COMMANDS_PER_CALL`, no
    transaction id twice (ValueError otherwise: the caller's bug, never sent)."""
    if len(requests) > MAX_COMMANDS_PER_CALL:
        raise ValueError(f"at most {MAX_COMMANDS_PER_CALL} commands in one call")
    for request in requests:
        check_request(request)
    if len({request.transaction_id for request in requests}) != len(requests):
        raise ValueError("a transaction id appears twice in one call")


class OneCommand:
    """``initiate`` for one command, through the implementation's ``initiate_many``."""

    def initiate_many(self, requests: Sequence[CommandRequest]) -> dict[str, ConnectorError]:
        raise NotImplementedError

    def initiate(self, request: CommandRequest) -> None:
        refused = self.initiate_many([request]).get(request.transaction_id)
        if refused is not None:
            raise refused


class IHeadEnd(Interface):
    """The head-end system (``connectors["headend"]``)."""

    def initiate_many(requests: Sequence[CommandRequest]) -> dict[str, ConnectorError]:  # type: ignore[empty-body]
        """Hand connect/disconnect commands to the head-end in one call (:func:`check_requests`);
        each outcome comes later as a StateChange.

        Returns the commands the head-end refused, by transaction id: NotFound for an unknown
        meter; ConnectorRejected with code ``remote_switch_unsupported`` (CT-operated meter),
        ``idempotency_conflict`` (transaction id used for another command), ``expired`` (the
        expiry has passed) or another code of the head-end's. Every other command was accepted
        (also a repeat of the same transaction id). ConnectorUnavailable if it does not answer:
        then none is known to be accepted, and sending them again is harmless.
        """

    def initiate(request: CommandRequest) -> None:  # type: ignore[misc]
        """One command (:meth:`initiate_many`): returns when accepted, raises why it was refused."""

    def meter_state(meter_no: str) -> MeterState:  # type: ignore[empty-body]
        """The meter's relay state now. NotFound if unknown."""

    def heartbeat() -> None:  # type: ignore[misc]
        """Return if HES answers; raise ConnectorUnavailable if not."""
