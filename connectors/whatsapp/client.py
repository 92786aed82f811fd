"""The WhatsApp Cloud API client (Graph API over httpx).

Wire contract (Meta's Cloud API, version from ``hub.whatsapp.api_version``)::

    POST {url}/{version}/{phone_number_id}/media          multipart/form-data:
         messaging_product=whatsapp, type=application/pdf, file=<bytes; filename>
         200 {"id": "<MEDIA_ID>"}
    POST {url}/{version}/{phone_number_id}/messages       JSON body (connectors.whatsapp.wire)
         200 {"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}],
              "messages": [{"id": "wamid...."}]}
    GET  {url}/{version}/{phone_number_id}                 heartbeat: 200 {"id": ...}
    Authorization: Bearer {access_token} on every call

    400 {"error": {"code": 131026 | 132001 | ..., "message": ...}}   -> ConnectorRejected
        (``whatsapp_rejected``; the Graph error code only in the log)
    401/403 (token), 429 / {"error": {"code": 130429}} (throughput), 5xx, timeouts,
    garbage -> ConnectorUnavailable: the outbox retries.

The Cloud API takes no idempotency key: the hub's delivery id travels as
``biz_opaque_callback_data`` and comes back in the statuses; a retry after a lost answer can
send a message twice, which the outbox's lease keeps to a crash between send and commit.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorRejected, ConnectorUnavailable
from connectors.rest import JsonHttp, timeouts
from connectors.whatsapp import SYSTEM, IWhatsApp

_VERSION = re.compile(r"^v[0-9]{1,3}\.[0-9]{1,2}$")
_ID = re.compile(r"^[0-9]{5,30}$")
_WAMID = re.compile(r"^wamid\.[A-Za-z0-9+/=_.\-]{4,200}$")


@implementer(IWhatsApp)
class CloudWhatsApp:
    def __init__(self, http: JsonHttp, api_version: str, phone_number_id: str) -> None:
        if not _VERSION.match(api_version):
            raise ValueError("connector whatsapp: setting 'api_version' must look like v21.0")
        if not _ID.match(phone_number_id):
            raise ValueError("connector whatsapp: setting 'phone_number_id' must be the numeric id")
        self.http = http
        self.phone_number_id = phone_number_id
        self._base = f"/{api_version}/{phone_number_id}"

    @classmethod
    def from_context(cls, context: ConnectorContext) -> CloudWhatsApp:
        token = context.option("access_token")
        ca_file = context.options.get("ca_file")
        from connectors.rest import base_url

        http = JsonHttp(
            SYSTEM,
            base_url(context),
            # A bill PDF takes longer to upload than a message to send.
            timeouts(context, connect=2.0, read=10.0),
            headers={"Authorization": f"Bearer {token}"},
            verify=ca_file if ca_file else True,
        )
        return cls(http, context.option("api_version", "v21.0"), context.option("phone_number_id"))

    def upload_media(self, content: bytes, mime_type: str, filename: str) -> str:
        boundary = "hub" + secrets.token_hex(12)
        safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:100] or "document.pdf"
        parts = [
            (b'Content-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp'),
            (b'Content-Disposition: form-data; name="type"\r\n\r\n' + mime_type.encode("ascii")),
            (
                f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
                f"Content-Type: {mime_type}\r\n\r\n".encode("ascii")
                + content
            ),
        ]
        marker = b"--" + boundary.encode("ascii")
        body = b"".join(marker + b"\r\n" + part + b"\r\n" for part in parts) + marker + b"--\r\n"
        _, answer = self.http.call(
            "POST",
            self._base + "/media",
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not _ID.match(media_id):
            raise ConnectorUnavailable("whatsapp: garbage answer (media id)", system=SYSTEM)
        return media_id

    def send(self, to: str, message: dict[str, Any], idempotency_key: str) -> str:
        body = dict(message)
        body["biz_opaque_callback_data"] = idempotency_key
        try:
            _, answer = self.http.call("POST", self._base + "/messages", json_body=body)
        except ConnectorRejected as exc:
            # The Graph error is an object, not a code the hub relays: one stable code for all.
            raise ConnectorRejected(str(exc), system=SYSTEM, code="whatsapp_rejected") from None
        messages = answer.get("messages")
        wamid = (
            messages[0].get("id")
            if isinstance(messages, list) and messages and isinstance(messages[0], dict)
            else None
        )
        if not isinstance(wamid, str) or not _WAMID.match(wamid):
            raise ConnectorUnavailable("whatsapp: garbage answer (message id)", system=SYSTEM)
        return wamid

    def heartbeat(self) -> None:
        # The number itself: answers only with a working token for the right number.
        _, answer = self.http.call("GET", self._base)
        if answer.get("id") != self.phone_number_id:
            raise ConnectorUnavailable("whatsapp: the API does not know this phone number id", system=SYSTEM)
