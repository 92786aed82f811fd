"""The HTTP client that POSTs signed status updates to the single-window portal.

Wire format, signature choice and settings: :mod:`connectors.singlewindow`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorUnavailable
from connectors.rest import JsonHttp
from connectors.singlewindow import SYSTEM, DeliveryReceipt, ISingleWindowCallback, StatusUpdate, envelope
from connectors.singlewindow.signing import HmacSigner, JwsSigner, Signer


def signer_from_options(context: ConnectorContext) -> Signer:
    scheme = context.option("signature", "jws")
    if scheme == "jws":
        return JwsSigner.from_pem_file(context.option("jws_key_file"), context.option("jws_kid"))
    if scheme == "hmac":
        return HmacSigner(context.option("hmac_secret"))
    raise ValueError("connector singlewindow: setting 'signature' must be 'jws' or 'hmac'")


@implementer(ISingleWindowCallback)
class HttpSingleWindow:
    def __init__(
        self, http: JsonHttp, signer: Signer, *, require_ack: bool = True, health_url: str | None = None
    ) -> None:
        self.http = http
        self.signer = signer
        self.require_ack = require_ack
        self.health_url = health_url or http.url

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpSingleWindow:
        require_ack = context.option("require_ack", "true").lower()
        if require_ack not in ("true", "false"):
            raise ValueError("connector singlewindow: setting 'require_ack' must be true or false")
        return cls(
            JsonHttp.from_context(SYSTEM, context),
            signer_from_options(context),
            require_ack=require_ack == "true",
            health_url=context.options.get("health_url"),
        )

    def deliver(self, update: StatusUpdate) -> DeliveryReceipt:
        body = envelope(update, datetime.now(UTC))
        headers = {"X-Delivery-Id": update.delivery_id, "Idempotency-Key": update.delivery_id}
        headers.update(self.signer.headers(body))
        _, ack = self.http.call(
            "POST", self.http.url, content=body, headers=headers, any_2xx_body=not self.require_ack
        )
        if not self.require_ack:
            return DeliveryReceipt(update.delivery_id, duplicate=ack.get("status") == "duplicate")
        # A 2xx that does not acknowledge *this* delivery may be a proxy's page: not delivered.
        if ack.get("delivery_id") != update.delivery_id or ack.get("status") not in ("accepted", "duplicate"):
            raise ConnectorUnavailable(
                "singlewindow: answer does not acknowledge the delivery", system=SYSTEM
            )
        return DeliveryReceipt(update.delivery_id, duplicate=ack["status"] == "duplicate")

    def heartbeat(self) -> None:
        self.http.probe(self.health_url)
