"""The discom single-window hub: the Pyramid application's composition root.

``main`` is the only place that includes packages: read it to see the whole app.
"""

from __future__ import annotations

import logging
import sys
import warnings

# Pyramid 2 still imports pkg_resources; the warning says nothing an operator can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

from typing import Any

from pyramid.config import Configurator
from pyramid.interfaces import IRoutesMapper
from pyramid.registry import Registry
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
    from hub.routing import RoutesMapper

    # The hub's route mapper must be in the registry before any route is added (Pyramid
    # makes its own on the first add_route, and pyramid.includes add routes in
    # setup_registry): so the registry is made here, then set up as Configurator would.
    registry = Registry(__name__)
    registry.registerUtility(RoutesMapper(), IRoutesMapper)
    config = Configurator(registry=registry)
    config.setup_registry(settings=merged, request_factory=HubRequest)
    config.add_renderer("json", JSON(ensure_ascii=False))
    engine = merged.pop("hub.test_engine", None)
    if engine is not None:
        config.registry["db_engine"] = engine
    config.include("hub.db")
    config.include("hub.health")
    config.include("hub.api")
    config.include("hub.core")
    config.include("hub.errors")
    config.include("hub.observability")
    config.include("hub.services")
    config.include("hub.auth")
    config.include("hub.openapi")
    config.include("hub.certificates")
    config.include("hub.periodic")
    config.include("hub.workflow")
    config.include("hub.outbox")
    config.include("hub.soap")
    # Routes are tried in the order they were added (a fixed path goes straight to its
    # route, hub.routing): those with variables that scrutiny day hammers come first.
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
    return config


def main(global_config: dict[str, Any] | None = None, **settings: Any) -> Router:
    """Paste app factory: ``use = egg:discom-hub``."""
    from hub.request import adopt_request_properties

    config = make_config(global_config, **settings)
    # A request thread, granian's hand-over of the next request and the background writers
    # (verification journal, access log, replica follower) share one GIL. Python lets a waiting
    # thread wait 5 ms before the holder must yield; a verification is ~0.15 ms of Python, so
    # granian's threads sat idle behind whole runs of requests. 0.2 ms carried ~15-20% more
    # verifications a second under wrk (bench/README.md, "GIL switch interval").
    sys.setswitchinterval(float(config.get_settings()["hub.gil_switch_interval_ms"]) / 1000)
    config.commit()
    adopt_request_properties(config)
    app = config.make_wsgi_app()
    log.info("hub started", extra={"settings": hub_settings.redacted(config.get_settings())})
    return app
