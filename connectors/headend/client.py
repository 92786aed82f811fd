"""The REST client of the smart-meter head-end system.

Wire contract::

    POST {url}/v1/meters/{meter_no}/commands     (Authorization: Bearer {api_key})
      {"action": "connect" | "disconnect", "reason": "...", "idempotency_key": "..."}
      202 (accepted) or 200 (same idempotency_key again: the same command)
    GET  {url}/v1/commands/{command_id}
      -> 200 {"command_id", "meter_no", "action", "state": "accepted"|"executed"|"failed",
              "reason", "requested_at": ISO-8601, "executed_at": ISO-8601|null,
              "failure_code": str|null}
    GET  {url}/v1/meters/{meter_no}
      -> 200 {"meter_no", "relay": "connected"|"disconnected"|"unknown",
              "last_seen": ISO-8601|null, "communicating": bool}
    404 {"error": "unknown_meter" | "unknown_command"} -> NotFound
    409 {"error": "idempotency_conflict"}              -> ConnectorRejected
    GET  {url}/v1/health -> 200 {"status": "ok"}

Settings (under ``hub.headend.``): ``url``, ``api_key``, ``connect_timeout``,
``read_timeout``, ``ca_file``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorUnavailable
from connectors.headend import (
    SYSTEM,
    CommandAction,
    CommandState,
    IHeadEnd,
    MeterCommand,
    MeterStatus,
    RelayState,
    check_command,
    check_meter_no,
)
from connectors.rest import JsonHttp, field


def _time(value: Any, key: str, *, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ConnectorUnavailable(f"headend: garbage answer ({key})", system=SYSTEM)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConnectorUnavailable(f"headend: garbage answer ({key})", system=SYSTEM) from None
    if parsed.tzinfo is None:
        raise ConnectorUnavailable(f"headend: time without zone ({key})", system=SYSTEM)
    return parsed.astimezone(UTC)


@implementer(IHeadEnd)
class HttpHeadEnd:
    def __init__(self, http: JsonHttp) -> None:
        self.http = http

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpHeadEnd:
        api_key = context.option("api_key")
        return cls(JsonHttp.from_context(SYSTEM, context, headers={"Authorization": f"Bearer {api_key}"}))

    def connect(self, meter_no: str, reason: str, idempotency_key: str) -> MeterCommand:
        return self._send(CommandAction.CONNECT, meter_no, reason, idempotency_key)

    def disconnect(self, meter_no: str, reason: str, idempotency_key: str) -> MeterCommand:
        return self._send(CommandAction.DISCONNECT, meter_no, reason, idempotency_key)

    def command_status(self, command_id: str) -> MeterCommand:
        _, body = self.http.call("GET", f"/v1/commands/{quote(command_id, safe='')}")
        command = self._command(body)
        if command.command_id != command_id:
            raise ConnectorUnavailable("headend: answer for another command", system=SYSTEM)
        return command

    def status(self, meter_no: str) -> MeterStatus:
        check_meter_no(meter_no)
        _, body = self.http.call("GET", f"/v1/meters/{meter_no}")
        if field(body, "meter_no", str, SYSTEM) != meter_no:
            raise ConnectorUnavailable("headend: answer for another meter", system=SYSTEM)
        try:
            relay = RelayState(field(body, "relay", str, SYSTEM))
        except ValueError:
            raise ConnectorUnavailable("headend: unknown relay state", system=SYSTEM) from None
        return MeterStatus(
            meter_no=meter_no,
            relay=relay,
            last_seen=_time(body.get("last_seen"), "last_seen", optional=True),
            communicating=field(body, "communicating", bool, SYSTEM),
        )

    def heartbeat(self) -> None:
        _, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable("headend: reports not ok", system=SYSTEM)

    def _send(self, action: CommandAction, meter_no: str, reason: str, key: str) -> MeterCommand:
        check_meter_no(meter_no)
        check_command(reason, key)
        _, body = self.http.call(
            "POST",
            f"/v1/meters/{meter_no}/commands",
            json_body={"action": action.value, "reason": reason, "idempotency_key": key},
        )
        command = self._command(body)
        if command.meter_no != meter_no or command.action is not action:
            raise ConnectorUnavailable("headend: answer for another command", system=SYSTEM)
        return command

    @staticmethod
    def _command(body: Mapping[str, Any]) -> MeterCommand:
        try:
            action = CommandAction(field(body, "action", str, SYSTEM))
            state = CommandState(field(body, "state", str, SYSTEM))
        except ValueError:
            raise ConnectorUnavailable("headend: unknown action or state", system=SYSTEM) from None
        failure = body.get("failure_code")
        if failure is not None and not isinstance(failure, str):
            raise ConnectorUnavailable("headend: garbage answer (failure_code)", system=SYSTEM)
        requested_at = _time(body.get("requested_at"), "requested_at")
        assert requested_at is not None
        return MeterCommand(
            command_id=field(body, "command_id", str, SYSTEM),
            meter_no=field(body, "meter_no", str, SYSTEM),
            action=action,
            state=state,
            reason=field(body, "reason", str, SYSTEM),
            requested_at=requested_at,
            executed_at=_time(body.get("executed_at"), "executed_at", optional=True),
            failure_code=failure,
        )
