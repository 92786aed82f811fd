"""Outage notices on WhatsApp: a channel of hub.outages' fan-out for consumers who opted in.

The fan-out writes one outbox message per consumer below the node, notice and channel, under its
unique key (hub.outages); this channel's recipients are the connections subscribed to a number
that opted in, and each message becomes the approved ``notice`` template. It has no SMS stand-in:
the outage's own SMS channel tells every consumer with a mobile already.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid.registry import Registry
from sqlalchemy import select

from hub.models.outbox import OutboxMessage
from hub.models.whatsapp import WhatsAppNumber, WhatsAppSubscription
from hub.outages.service import NoticeChannel, Recipients, json_object
from hub.outbox import unit_of_work
from hub.whatsapp.service import _new_outbound, may_initiate

OUTAGE_KIND = "whatsapp.outage_notice"
# The approved template an outage notice is sent as: one parameter, the notice's text.
NOTICE_TEMPLATE = "notice"


def recipients() -> Recipients:
    return (
        select(WhatsAppSubscription.consumer_number, WhatsAppSubscription.wa_id.label("address"))
        .join(WhatsAppNumber, WhatsAppNumber.wa_id == WhatsAppSubscription.wa_id)
        .where(WhatsAppNumber.consent == "opted_in")
    )


CHANNEL = NoticeChannel(
    "whatsapp",
    OUTAGE_KIND,
    recipients,
    lambda dialect, address, texts: json_object(dialect, {"wa_id": address, "text": texts.sms_text}),
)


def deliver_outage_notice(registry: Registry, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
    """Outbox kind ``whatsapp.outage_notice``: the notice as the ``notice`` template, once, to a
    number still opted in (an opt-out since the fan-out wins)."""
    wa_id = str(message.payload["wa_id"])
    with unit_of_work(registry) as session:
        if not may_initiate(session, wa_id):
            return
        _new_outbound(
            session,
            key=f"outage:{message.id}",
            purpose="template",
            wa_id=wa_id,
            template=NOTICE_TEMPLATE,
            parameters=[str(message.payload["text"])],
            fallback=None,
            deadline_at=None,
        )
