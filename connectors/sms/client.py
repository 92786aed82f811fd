"""The SMS client for a generic HTTP SMS gateway (JSON).

Wire contract (what a gateway, or an adapter in front of one, must speak)::

    POST {url}/v1/messages
    Authorization: Bearer {api_key}
    Idempotency-Key: {idempotency_key}
    Content-Type: application/json; charset=utf-8

    {"to": "919876543210", "sender": "MPCZED", "text": "...", "unicode": true,
     "dlt_entity_id": "...", "dlt_template_id": "...", "client_ref": "{idempotency_key}"}

    201 {"message_id": "...", "status": "accepted", "parts": 2}   first time
    200 {"message_id": "...", "status": "accepted", "parts": 2}   same Idempotency-Key again:
                                                                 the original id, nothing re-sent
    400/422 {"error": "invalid_mobile" | "template_mismatch" | ...}  -> ConnectorRejected(code)
    409 {"error": "idempotency_conflict"}  key reused with a different message -> ConnectorRejected
    401/403, 429, 5xx, timeouts, garbage   -> ConnectorUnavailable

    GET {url}/v1/health  -> 200 {"status": "ok"}

Text travels as UTF-8 JSON; ``unicode`` tells the gateway to submit UCS-2
(Devanagari) instead of GSM-7.

Settings (under ``hub.sms.``): ``url``, ``api_key``, ``connect_timeout``,
``read_timeout``, ``ca_file`` and the DLT settings of :mod:`connectors.sms`.
"""

from __future__ import annotations

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorUnavailable
from connectors.rest import JsonHttp, field
from connectors.sms import SYSTEM, DltRegistration, ISmsGateway, SmsEncoding, prepare


@implementer(ISmsGateway)
class HttpSms:
    def __init__(self, http: JsonHttp, registration: DltRegistration) -> None:
        self.http = http
        self.registration = registration

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpSms:
        api_key = context.option("api_key")
        http = JsonHttp.from_context(SYSTEM, context, headers={"Authorization": f"Bearer {api_key}"})
        return cls(http, DltRegistration.from_options(context.options))

    def send(self, mobile: str, text: str, template: str, idempotency_key: str) -> str:
        req = prepare(self.registration, mobile, text, template, idempotency_key)
        _, body = self.http.call(
            "POST",
            "/v1/messages",
            json_body={
                "to": "91" + req.mobile,
                "sender": req.sender_id,
                "text": req.text,
                "unicode": req.encoding is SmsEncoding.UNICODE,
                "dlt_entity_id": req.entity_id,
                "dlt_template_id": req.template.template_id,
                "client_ref": idempotency_key,
            },
            headers={"Idempotency-Key": idempotency_key},
        )
        message_id: str = field(body, "message_id", str, SYSTEM)
        if not message_id or len(message_id) > 100:
            raise ConnectorUnavailable("sms: garbage answer (message_id)", system=SYSTEM)
        return message_id

    def heartbeat(self) -> None:
        _, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable("sms: gateway reports not ok", system=SYSTEM)
