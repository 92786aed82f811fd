"""The smart-meter head-end system (HES): remote connect / disconnect and relay status.

A head-end does not switch a meter while we wait: it *accepts* a command,
queues it to the meter over RF/cellular, and later reports it *executed*
(or *failed*, e.g. the meter has not been heard from). So the hub sends a
command from the outbox, keeps the command id, and polls
:meth:`IHeadEnd.command_status` until it is final (docs/domain.md, smart-meter head-end:
reconnection within minutes of an online payment).

Commands are idempotent on the hub's ``idempotency_key``: after a crash the
worker sends again and gets the same command back, never a second one.

Settings (under ``hub.headend.``)::

    backend = connectors.headend.reference:ReferenceHeadEnd  (or connectors.headend.client:HttpHeadEnd)
"""

# ruff: noqa: N805  (zope.interface methods are declared without self)
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from zope.interface import Interface

SYSTEM = "headend"
_METER_NO = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,29}$")


class RelayState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNKNOWN = "unknown"


class CommandAction(StrEnum):
    CONNECT = "connect"
    DISCONNECT = "disconnect"


class CommandState(StrEnum):
    ACCEPTED = "accepted"
    EXECUTED = "executed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self is not CommandState.ACCEPTED


@dataclass(frozen=True)
class MeterStatus:
    meter_no: str
    relay: RelayState
    last_seen: datetime | None
    communicating: bool


@dataclass(frozen=True)
class MeterCommand:
    command_id: str
    meter_no: str
    action: CommandAction
    state: CommandState
    reason: str
    requested_at: datetime
    executed_at: datetime | None = None
    failure_code: str | None = None


def check_meter_no(meter_no: str) -> str:
    """Meter serial numbers: 4-30 capital letters, digits or dashes (never sent to HES otherwise)."""
    if not _METER_NO.match(meter_no):
        raise ValueError("meter number must be 4-30 capital letters, digits or dashes")
    return meter_no


def check_command(reason: str, idempotency_key: str) -> None:
    if not reason or len(reason) > 200:
        raise ValueError("reason must be 1-200 characters")
    if not idempotency_key or len(idempotency_key) > 100:
        raise ValueError("idempotency_key must be 1-100 characters")


class IHeadEnd(Interface):
    """The head-end system (``request.find_service(IHeadEnd)``)."""

    def connect(meter_no: str, reason: str, idempotency_key: str) -> MeterCommand:  # type: ignore[empty-body]
        """Ask HES to close the meter's relay (reconnect). Returns the command, usually ``accepted``.

        NotFound for an unknown meter; ConnectorRejected(``idempotency_conflict``)
        if the key was used for another meter or action.
        """

    def disconnect(meter_no: str, reason: str, idempotency_key: str) -> MeterCommand:  # type: ignore[empty-body]
        """Ask HES to open the meter's relay."""

    def command_status(command_id: str) -> MeterCommand:  # type: ignore[empty-body]
        """The command's current state (poll until ``state.final``). NotFound if unknown."""

    def status(meter_no: str) -> MeterStatus:  # type: ignore[empty-body]
        """The meter's relay state and when HES last heard from it. NotFound if unknown."""

    def heartbeat() -> None:  # type: ignore[misc]
        """Return if HES answers; raise ConnectorUnavailable if not."""
