"""The REST client of the smart-meter head-end system (MultiSpeak-style connect/disconnect).

Wire contract::

    POST {url}/v1/commands                       (Authorization: Bearer {api_key})
      {"commands": [{"transaction_id", "meter_no", "action": "connect" | "disconnect",
                     "reason", "expires_at": ISO-8601, "response_url"}, ...]}   (1-100)
      200 {"results": [{"transaction_id", "status": "accepted"}
                       | {"transaction_id", "status": "refused", "error": code}, ...]}
          one result per command, in the order sent; error "unknown_meter" -> NotFound,
          any other ("remote_switch_unsupported", "idempotency_conflict", "expired", ...)
          -> ConnectorRejected with that code
    GET  {url}/v1/meters/{meter_no}
      -> 200 {"meter_no", "relay": "connected"|"disconnected"|"unknown",
              "communicating": bool, "remote_switch": bool, "last_seen": ISO-8601|null}
    GET  {url}/v1/health -> 200 {"status": "ok"}

    later, from the head-end:  POST {response_url}   (X-HES-Signature: sha256=<hex HMAC of the body>)
      {"notification_id", "transaction_id", "meter_no", "action",
       "outcome": "accepted"|"executed"|"failed", "relay", "failure_code", "sent_at"}

Settings (under ``hub.headend.``): ``url``, ``api_key``, ``connect_timeout``,
``read_timeout``, ``ca_file``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorError, ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.headend import (
    SYSTEM,
    CommandRequest,
    IHeadEnd,
    MeterState,
    OneCommand,
    RelayState,
    check_meter_no,
    check_requests,
)
from connectors.rest import JsonHttp, field, partner_code


def _time(value: Any, key: str) -> datetime | None:
    if value is None:
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
class HttpHeadEnd(OneCommand):
    def __init__(self, http: JsonHttp) -> None:
        self.http = http

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpHeadEnd:
        api_key = context.option("api_key")
        return cls(JsonHttp.from_context(SYSTEM, context, headers={"Authorization": f"Bearer {api_key}"}))

    def initiate_many(self, requests: Sequence[CommandRequest]) -> dict[str, ConnectorError]:
        check_requests(requests)
        if not requests:
            return {}
        _, body = self.http.call(
            "POST", "/v1/commands", json_body={"commands": [request.as_json() for request in requests]}
        )
        results = body.get("results")
        if not isinstance(results, list) or len(results) != len(requests):
            raise ConnectorUnavailable("headend: not one result per command", system=SYSTEM)
        refused: dict[str, ConnectorError] = {}
        for request, result in zip(requests, results, strict=True):
            if not isinstance(result, dict) or result.get("transaction_id") != request.transaction_id:
                raise ConnectorUnavailable("headend: answer for another command", system=SYSTEM)
            status = result.get("status")
            if status == "accepted":
                continue
            code = partner_code(result)
            if status != "refused" or code is None:
                raise ConnectorUnavailable("headend: result neither accepted nor refused", system=SYSTEM)
            if code == "unknown_meter":
                refused[request.transaction_id] = NotFound("headend: no such meter", system=SYSTEM, code=code)
            else:
                refused[request.transaction_id] = ConnectorRejected(
                    f"headend: refused ({code})", system=SYSTEM, code=code
                )
        return refused

    def meter_state(self, meter_no: str) -> MeterState:
        check_meter_no(meter_no)
        _, body = self.http.call("GET", f"/v1/meters/{meter_no}")
        if field(body, "meter_no", str, SYSTEM) != meter_no:
            raise ConnectorUnavailable("headend: answer for another meter", system=SYSTEM)
        try:
            relay = RelayState(field(body, "relay", str, SYSTEM))
        except ValueError:
            raise ConnectorUnavailable("headend: unknown relay state", system=SYSTEM) from None
        return MeterState(
            meter_no=meter_no,
            relay=relay,
            communicating=field(body, "communicating", bool, SYSTEM),
            remote_switch=field(body, "remote_switch", bool, SYSTEM),
            last_seen=_time(body.get("last_seen"), "last_seen"),
        )

    def heartbeat(self) -> None:
        _, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable("headend: reports not ok", system=SYSTEM)
