"""The SMS client for a generic HTTP SMS gateway (JSON).

Wire contract (what a gateway, or an adapter in front of one, must speak)::

    POST {url}/v1/messages
    Authorization: Bearer {api_key}
    Content-Type: application/json; charset=utf-8

    {"messages": [{"to": "919876543210", "sender": "MPCZED", "text": "...", "unicode": true,
                   "dlt_entity_id": "...", "dlt_template_id": "...",
                   "client_ref": "{idempotency_key}"}, ...]}                 1-100 messages

    200 {"results": [{"client_ref", "status": "accepted", "message_id", "parts"}
                     | {"client_ref", "status": "refused",
                        "error": "invalid_mobile" | "template_mismatch" | "idempotency_conflict" | ...},
                     ...]}
        one result per message, in the order sent. A client_ref seen before with the same
        message: "accepted" with the original message id, nothing re-sent; with another
        message: refused, "idempotency_conflict". A refused message -> ConnectorRejected(code).
    400/422 {"error": ...}  the whole request refused -> ConnectorRejected for every message
    401/403, 429, 5xx, timeouts, garbage, a result missing or out of order
                            -> ConnectorUnavailable (nothing known sent; asking again is harmless)

    GET {url}/v1/health  -> 200 {"status": "ok"}

Text travels as UTF-8 JSON; ``unicode`` tells the gateway to submit UCS-2
(Devanagari) instead of GSM-7.

Settings (under ``hub.sms.``): ``url``, ``api_key``, ``connect_timeout``,
``read_timeout``, ``ca_file`` and the DLT settings of :mod:`connectors.sms`.
"""

from __future__ import annotations

from collections.abc import Sequence

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorError, ConnectorRejected, ConnectorUnavailable
from connectors.rest import JsonHttp, partner_code
from connectors.sms import (
    SYSTEM,
    DltRegistration,
    ISmsGateway,
    OneMessage,
    Sms,
    SmsEncoding,
    SmsRequest,
    prepare_many,
)


@implementer(ISmsGateway)
class HttpSms(OneMessage):
    def __init__(self, http: JsonHttp, registration: DltRegistration) -> None:
        self.http = http
        self.registration = registration

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpSms:
        api_key = context.option("api_key")
        http = JsonHttp.from_context(SYSTEM, context, headers={"Authorization": f"Bearer {api_key}"})
        return cls(http, DltRegistration.from_options(context.options))

    def send_many(self, messages: Sequence[Sms]) -> dict[str, str | ConnectorError]:
        ready, results = prepare_many(self.registration, messages)
        if not ready:
            return results
        _, body = self.http.call(
            "POST", "/v1/messages", json_body={"messages": [_wire(req) for req in ready]}
        )
        answers = body.get("results")
        if not isinstance(answers, list) or len(answers) != len(ready):
            raise ConnectorUnavailable("sms: not one result per message", system=SYSTEM)
        for req, answer in zip(ready, answers, strict=True):
            if not isinstance(answer, dict) or answer.get("client_ref") != req.idempotency_key:
                raise ConnectorUnavailable("sms: answer for another message", system=SYSTEM)
            status = answer.get("status")
            code = partner_code(answer)
            if status == "accepted":
                message_id = answer.get("message_id")
                if not isinstance(message_id, str) or not 0 < len(message_id) <= 100:
                    raise ConnectorUnavailable("sms: garbage answer (message_id)", system=SYSTEM)
                results[req.idempotency_key] = message_id
            elif status == "refused" and code is not None:
                results[req.idempotency_key] = ConnectorRejected(
                    f"sms: refused ({code})", system=SYSTEM, code=code
                )
            else:
                raise ConnectorUnavailable("sms: result neither accepted nor refused", system=SYSTEM)
        return results

    def heartbeat(self) -> None:
        _, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable("sms: gateway reports not ok", system=SYSTEM)


def _wire(req: SmsRequest) -> dict[str, object]:
    return {
        "to": "91" + req.mobile,
        "sender": req.sender_id,
        "text": req.text,
        "unicode": req.encoding is SmsEncoding.UNICODE,
        "dlt_entity_id": req.entity_id,
        "dlt_template_id": req.template.template_id,
        "client_ref": req.idempotency_key,
    }
