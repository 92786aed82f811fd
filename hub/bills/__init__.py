"""Bills and payments from every channel.

``config.include("hub.bills")`` (after hub.outbox) adds:

* the channels of ``hub.bills.channels_file`` (gateway webhook, bill-payment
  platform, citizen-services portal, counter file), each with its own
  notification operation and authentication;
* bill fetch (one consumer, or up to 25 at once) and gateway orders for bills;
* SOAP ``BillsService`` at ``/soap/bills`` (``?wsdl``, ``?singleWsdl``): FetchBill,
  FetchBills, GetReceipt, NotifyPortalPayment (the portal channel's advice, recorded
  as its REST notification is) and GetReconnectionStatus, every answer signed;
* the officers' console pages: the suspense queue (apply, adjust, refund) and
  counter-file upload;
* the outbox handler ``bills.post_payment`` (hub-worker): decide, post to
  billing exactly once, then queue the receipt SMS, ``meters.payment_posted`` and
  ``bills.receipt`` (the signed receipt PDF, rendered apart);
* the periodic job ``bills.reconcile`` (hub-worker): after ``hub.bills.reconcile_at``
  (IST) each channel with a settlement report is reconciled for the previous day, once;
  the outbox kind ``bills.reconcile`` runs an officer's re-run of a channel's day.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyramid.config import Configurator

from connectors.errors import ConnectorUnavailable
from hub.bills.reconciliation import RECONCILE_JOB, RECONCILE_KIND, DailyReconciliation
from hub.bills.service import (
    POST_KIND,
    RECEIPT_KIND,
    BillService,
    Channel,
    load_channels,
)
from hub.db import Database
from hub.lookup import process_service
from hub.models.outbox import OutboxMessage
from hub.outbox import BACKGROUND
from hub.settings import ConfigurationError
from hub.systems import Connectors

DEFAULT_CHANNELS = Path(__file__).with_name("channels.json")
# Payments one worker thread posts in one go: a month-end peak's backlog drains in batches,
# and a batch's transactions stay short (billing is asked in two calls between them).
POSTING_BATCH = 50

log = logging.getLogger(__name__)


class ReceiptHandler:
    """Outbox kind ``bills.receipt``: payload ``{"payment_id"}``."""

    def __init__(self, service: BillService) -> None:
        self.service = service

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        self.service.issue_receipt(int(message.payload["payment_id"]), _billing(connectors))


class PostingHandler:
    """Outbox kind ``bills.post_payment``: payload ``{"payment_id"}``, taken in batches (a
    month-end peak is hundreds of payments a second)."""

    batch_size = POSTING_BATCH

    def __init__(self, service: BillService) -> None:
        self.service = service

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        self.service.post_payment(int(message.payload["payment_id"]), _billing(connectors))

    def deliver_many(
        self, messages: Sequence[OutboxMessage], connectors: Mapping[str, Any]
    ) -> dict[int, BaseException]:
        billing = _billing(connectors)
        message_of = {int(m.payload["payment_id"]): m.id for m in messages}
        failed = self.service.post_payments(list(message_of), billing)
        return {message_of[payment_id]: error for payment_id, error in failed.items()}


def _billing(connectors: Mapping[str, Any]) -> Any:
    billing = connectors.get("billing")
    if billing is None:
        raise ConnectorUnavailable("no billing connector configured", system="billing")
    return billing


def configured_channels(settings: Mapping[str, Any]) -> dict[str, Channel]:
    """The channels of ``hub.bills.channels_file`` (the shipped file when empty)."""
    path = settings["hub.bills.channels_file"] or str(DEFAULT_CHANNELS)
    try:
        return load_channels(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"setting hub.bills.channels_file: {path}: {exc}") from None


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    channels = configured_channels(settings)
    from hub.auth.clients import KNOWN_SCOPES

    for channel in channels.values():
        if channel.scope is not None and channel.scope not in KNOWN_SCOPES:
            raise ConfigurationError(
                f"setting hub.bills.channels_file: {channel.name}: unknown scope {channel.scope}"
            )
    service = BillService(
        config.registry,
        channels,
        int(settings["hub.bills.order_minutes"]),
        str(settings["hub.bills.upi_vpa"]),
    )
    config.register_service(service, BillService)
    config.add_outbox_handler(POST_KIND, PostingHandler(service))
    # A receipt is a signed PDF: it waits behind postings and reconnections.
    config.add_outbox_handler(RECEIPT_KIND, ReceiptHandler(service), priority=BACKGROUND)
    registry = config.registry
    daily = DailyReconciliation(
        lambda: process_service(registry, Database).engine,
        service.settlement_channels(),
        lambda system: process_service(registry, Connectors).require(system),  # type: ignore[arg-type]
        settings["hub.bills.reconcile_at"],
    )
    config.register_service(daily, DailyReconciliation)
    config.add_outbox_handler(RECONCILE_KIND, daily.on_rerun)
    config.add_periodic_job(  # type: ignore[attr-defined]
        RECONCILE_JOB, float(settings["hub.bills.reconcile_retry_seconds"]), daily.run_due
    )
    # The views and the SOAP service are built around the bill service: it is registered first.
    config.commit()
    configured = process_service(registry, Connectors)
    for name, system in service.settlement_channels().items():
        if system not in configured:
            # Not an error (a deployment may take a channel's file by hand for a while), but the
            # daily job will wait on it every run: the operator should know from the start.
            log.warning(
                "channel %s is reconciled from %s, which has no backend (hub.%s.backend): its days will wait",
                name,
                system,
                system,
            )
    config.include("hub.bills.views")
    config.include("hub.bills.soap")
    if hasattr(config, "add_console_provider"):
        config.include("hub.bills.console")
