"""WhatsApp: the discom's business number on the WhatsApp Business Cloud API.

:mod:`connectors.whatsapp.messages` holds what the channel and the chatbot
exchange: an incoming message as the webhook delivered it, and a reply the
chatbot wants sent inside the 24-hour customer-service window.
:mod:`connectors.whatsapp.wire` speaks the Cloud API's JSON (message bodies the hub
sends, webhook payloads it receives, the ``X-Hub-Signature-256`` signature).

Two backends, chosen by ``hub.whatsapp.backend``:

* :class:`connectors.whatsapp.reference.ReferenceWhatsApp` records every message in the
  reference store and makes up the statuses the platform would send (delivered and read,
  or failed / never delivered for numbers told so, see :func:`~.reference.set_behaviour`);
* :class:`connectors.whatsapp.client.CloudWhatsApp` calls the Graph API over httpx.

Settings (under ``hub.whatsapp.``)::

    backend = connectors.whatsapp.reference:ReferenceWhatsApp
    url = https://graph.facebook.com        (real client)
    api_version = v21.0                     Graph API version in every path
    phone_number_id = 106540352242922       the business number's id
    access_token = ...                      system-user token (environment)
    connect_timeout = 2 / read_timeout = 10
"""

# ruff: noqa: N805  (zope.interface methods are declared without self)
from __future__ import annotations

import re
from typing import Any

from zope.interface import Attribute, Interface

from connectors.errors import ConnectorRejected
from connectors.sms import normalise_mobile

SYSTEM = "whatsapp"


def normalise_wa_id(number: str) -> str:
    """The WhatsApp id (``91`` + ten digits) of an Indian mobile in any usual spelling.

    ``+91 98765 43210``, ``(0)98765-43210``, ``9876543210`` and ``919876543210`` are one number
    (the SMS connector's :func:`~connectors.sms.normalise_mobile` reads it). Raises
    ConnectorRejected (``whatsapp_bad_number``) for anything else, Devanagari or full-width
    digits included: a foreign number cannot hold an Indian connection, and guessing would send
    a bill to a stranger.
    """
    try:
        return "91" + normalise_mobile(re.sub(r"[().]", "", number or ""))
    except ConnectorRejected:
        raise ConnectorRejected(
            "not an Indian mobile number", system=SYSTEM, code="whatsapp_bad_number"
        ) from None


class IWhatsApp(Interface):
    """The business number on the Cloud API (``request.find_service(IWhatsApp)``)."""

    phone_number_id = Attribute("str: the business phone number's id in the Graph API")

    def upload_media(content: bytes, mime_type: str, filename: str) -> str:  # type: ignore[empty-body]
        """Upload a document once; returns the media id messages refer to."""

    def send(to: str, message: dict[str, Any], idempotency_key: str) -> str:  # type: ignore[empty-body]
        """Send one message body (:mod:`connectors.whatsapp.wire` builds it) to ``to`` (a wa_id).

        Returns the ``wamid``. ``idempotency_key`` travels as ``biz_opaque_callback_data``
        (echoed in the statuses); the reference backend answers the same wamid for the same
        key. Raises ConnectorRejected (``whatsapp_rejected``...) or ConnectorUnavailable.
        """

    def heartbeat() -> None:  # type: ignore[misc]
        """Return if the API answers; raise ConnectorUnavailable if not."""
