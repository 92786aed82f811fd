"""Outage notices: planned and unplanned outages on the network, told to exactly the consumers below.

``config.include("hub.outages")`` (after hub.outbox, hub.network and hub.console) adds:

* the :class:`~hub.outages.service.OutageService` (typed service) with the SMS and e-mail
  notice channels; another channel is added by its package's includeme (included after this one)
  with ``config.add_outage_channel(NoticeChannel(...))``;
* the outbox handler of kind ``email`` (the ``email`` connector, :mod:`connectors.email`); SMS
  notices use the outbox's own ``sms`` kind and DLT templates ``outage_*``;
* REST ``/api/v1/outages...`` (scopes ``outages:manage``, ``outages:report``; reading is public)
  and the public page ``/outages`` (:mod:`hub.outages.views`);
* the console's outage pages (:mod:`hub.outages.console`);
* the periodic job ``outages.contacts_sync`` (hub-worker): apply billing's contacts feed to the
  consumers' mobiles and e-mails (:class:`~hub.outages.service.ContactFeed`).

Settings: ``hub.outages.notice_hours``, ``hub.outages.quiet_from``, ``hub.outages.quiet_until``,
``hub.outages.contacts_sync_interval_seconds``, ``hub.outages.contacts_page_size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator

from connectors.email import Mail
from hub.models.outbox import OutboxMessage
from hub.outages.service import (
    EMAIL_KIND,
    ContactFeed,
    ContactFeedSettings,
    NoticeChannel,
    OutageService,
    OutageSettings,
)
from hub.outbox import connector

CONTACTS_SYNC_JOB = "outages.contacts_sync"


def deliver_email(message: OutboxMessage, connectors: Mapping[str, Any]) -> object:
    """Kind ``email``: payload ``{"to", "subject", "body"}``; the delivery id is the idempotency key."""
    payload = message.payload
    mail = Mail(payload["to"], payload["subject"], payload["body"])
    return connector(connectors, "email").send(mail, idempotency_key=message.delivery_id)


def includeme(config: Configurator) -> None:
    service = OutageService(config.registry, OutageSettings.from_settings(config.get_settings()))
    config.register_service(service, OutageService)

    def add_outage_channel(config: Configurator, channel: NoticeChannel) -> None:
        """``config.add_outage_channel(NoticeChannel(...))`` from a channel's own includeme (after this one)."""
        service.add_channel(channel)

    config.add_directive("add_outage_channel", add_outage_channel)
    config.add_outbox_handler(EMAIL_KIND, deliver_email)  # type: ignore[attr-defined]
    feed = ContactFeed(config.registry, ContactFeedSettings.from_settings(config.get_settings()))
    config.register_service(feed, ContactFeed)
    config.add_periodic_job(CONTACTS_SYNC_JOB, float(feed.settings.sync_interval_seconds), feed.sync_job)  # type: ignore[attr-defined]
    config.include("hub.outages.views")
    if hasattr(config, "add_console_provider"):
        config.include("hub.outages.console")
