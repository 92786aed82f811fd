"""Smart meters back on within minutes of payment: remote reconnection through the head-end.

``config.include("hub.meters")`` (after hub.outbox, hub.periodic and hub.console) adds:

* the outbox handler for ``meters.payment_posted`` (sent by billing's payment
  posting): reconnect when the payment cleared what was owed;
* the outbox handler for ``meters.disconnection_ordered`` (billing): disconnect
  after section 56's notice, only in the allowed switching hours and days;
* the periodic job ``meters.watch`` (hub-worker): relay query after a command's
  window, retries with backoff, field visits after the last attempt;
* REST ``getReconnectionStatus`` and the head-end's signed notification endpoint;
* the console page of the distribution centres' field queue.

Settings: ``hub.meters.*`` (hub.settings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyramid.config import Configurator

from hub.meters.service import DISCONNECTION_ORDERED, PAYMENT_POSTED, MeterService, MeterSettings
from hub.models.outbox import OutboxMessage

WATCH_JOB = "meters.watch"


class PaymentPostedHandler:
    """Outbox kind ``meters.payment_posted``, taken in batches as the postings are."""

    batch_size = 50

    def __init__(self, service: MeterService) -> None:
        self.service = service

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        self.service.on_payment_posted(message, connectors)

    def deliver_many(
        self, messages: Sequence[OutboxMessage], connectors: Mapping[str, Any]
    ) -> dict[int, BaseException]:
        return self.service.on_payments_posted(messages, connectors)


def includeme(config: Configurator) -> None:
    settings = MeterSettings.from_settings(config.get_settings())
    service = MeterService(config.registry, settings)
    config.register_service(service, MeterService)
    config.add_outbox_handler(PAYMENT_POSTED, PaymentPostedHandler(service))  # type: ignore[attr-defined]
    config.add_outbox_handler(DISCONNECTION_ORDERED, service.on_disconnection_ordered)  # type: ignore[attr-defined]
    config.add_periodic_job(WATCH_JOB, float(settings.watch_interval_seconds), service.watch)  # type: ignore[attr-defined]
    config.include("hub.meters.views")
    config.include("hub.meters.console")
