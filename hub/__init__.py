"""The discom single-window hub: the Pyramid application's composition root.

``main`` is the only place that includes packages: read it to see the whole app.
"""

from __future__ import annotations

import logging
import warnings

# Pyramid 2 still imports pkg_resources; the warning says nothing an operator can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

from typing import Any

from pyramid.config import Configurator
from pyramid.renderers import JSON
from pyramid.router import Router

from hub import settings as hub_settings

log = logging.getLogger(__name__)


def make_config(global_config: dict[str, Any] | None, **settings: Any) -> Configurator:
    merged = hub_settings.overlay_environment(settings)
    hub_settings.validate(merged)
    from hub.observability import configure_logging

    configure_logging(bool(merged["hub.log_json"]))
    from hub.request import HubRequest

    config = Configurator(settings=merged, request_factory=HubRequest)
    # Views return dicts and the "json" renderer writes them: Hindi text as UTF-8, not escapes.
    config.add_renderer("json", JSON(ensure_ascii=False))
    config.include("pyramid_services")
    config.include("hub.db")
    # The database is in place before the platform that is built on it (hub.lookup.process_service).
    config.commit()
    config.include("hub.health")
    config.include("hub.api")
    config.include("hub.errors")
    config.include("hub.observability")
    config.include("hub.request")
    config.include("hub.ratelimit")
    config.include("hub.systems")
    config.include("hub.auth")
    config.include("hub.openapi")
    config.include("hub.certificates")
    config.include("hub.periodic")
    config.include("hub.workflow")
    config.include("hub.outbox")
    config.include("hub.soap")
    # The platform is in place: committing it lets the flows' includeme find its services
    # (hub.lookup.process_service) while they configure themselves.
    config.commit()
    # Routes are tried in the order they were added: the ones scrutiny day hammers first.
    config.include("hub.certificates.views")
    config.include("hub.election")
    config.include("hub.views.ping")
    config.include("hub.console")
    config.include("hub.nodues")
    config.include("hub.connections")
    config.include("hub.bills")
    config.include("hub.reference_checkout")
    config.include("hub.kyc")
    config.include("hub.meters")
    config.include("hub.network")
    config.include("hub.energy")
    config.include("hub.complaints")
    config.include("hub.corrections")
    config.include("hub.chatbot")
    config.include("hub.outages")
    config.include("hub.whatsapp")
    return config


def main(global_config: dict[str, Any] | None = None, **settings: Any) -> Router:
    """Paste app factory: ``use = egg:discom-hub``."""
    config = make_config(global_config, **settings)
    app = config.make_wsgi_app()
    log.info("hub started", extra={"settings": hub_settings.redacted(config.get_settings())})
    return app
