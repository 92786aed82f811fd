"""WhatsApp: the monthly bill on every opted-in number, the channel the chatbot talks through.

``config.include("hub.whatsapp")`` (after hub.bills) adds:

* the webhook ``/whatsapp/webhook`` (GET handshake, POST signed messages and statuses);
* REST ``recordWhatsAppConsent``, ``getWhatsAppConsent`` (scopes ``whatsapp:consent`` /
  ``whatsapp:read``) and ``getWhatsAppBillRun``;
* outbox kinds ``whatsapp.send`` (one message to the API), ``whatsapp.bill`` (a monthly bill:
  the same, behind every other kind) and ``whatsapp.inbound`` (the chatbot's replies to one
  message);
* periodic jobs ``whatsapp.bill_run`` (goes on with running bill runs) and
  ``whatsapp.fallback`` (SMS for what failed or was not delivered in time);
* the console page ``/console/whatsapp`` (bill runs' progress and report);
* with hub.outages included before it and the ``notice`` template configured, the outage
  notices' WhatsApp channel (:mod:`hub.whatsapp.outages`).

Other flows send with :func:`hub.whatsapp.service.send_template`. Settings: ``hub.whatsapp.*``
(hub.settings) and the templates ``hub.whatsapp.template.<key>.*``; the connector:
``hub.whatsapp.backend`` (connectors.whatsapp). See docs/whatsapp.md.
"""

from __future__ import annotations

import functools

from pyramid.config import Configurator

from hub.outbox import BACKGROUND
from hub.whatsapp.outages import CHANNEL as OUTAGE_CHANNEL
from hub.whatsapp.outages import NOTICE_TEMPLATE, OUTAGE_KIND, deliver_outage_notice
from hub.whatsapp.service import BILL_KIND, INBOUND_KIND, SEND_KIND, WhatsAppService, WhatsAppSettings

BILL_RUN_JOB = "whatsapp.bill_run"
FALLBACK_JOB = "whatsapp.fallback"


def includeme(config: Configurator) -> None:
    settings = WhatsAppSettings.from_settings(config.get_settings())
    service = WhatsAppService(config.registry, settings)
    config.register_service(service, WhatsAppService)
    config.add_outbox_handler(SEND_KIND, service.deliver)  # type: ignore[attr-defined]
    config.add_outbox_handler(BILL_KIND, service.deliver, priority=BACKGROUND)  # type: ignore[attr-defined]
    config.add_outbox_handler(INBOUND_KIND, service.handle_inbound)  # type: ignore[attr-defined]
    config.add_periodic_job(BILL_RUN_JOB, float(settings.run_interval_seconds), service.bill_run_job)  # type: ignore[attr-defined]
    config.add_periodic_job(FALLBACK_JOB, float(settings.fallback_interval_seconds), service.fallback_job)  # type: ignore[attr-defined]
    if hasattr(config, "add_outage_channel") and NOTICE_TEMPLATE in settings.templates:
        # Outage notices (hub.outages, included before) to the numbers that opted in.
        config.add_outage_channel(OUTAGE_CHANNEL)  # type: ignore[attr-defined]
        config.add_outbox_handler(  # type: ignore[attr-defined]
            OUTAGE_KIND, functools.partial(deliver_outage_notice, config.registry)
        )
    config.include("hub.whatsapp.views")
    config.include("hub.whatsapp.console")
