"""Connectors as Pyramid services, chosen per deployment by ini settings.

``hub.<system>.backend`` names the class (``connectors.billing.reference:ReferenceBilling``);
the other ``hub.<system>.*`` keys are its options. Views call
``request.find_service(IBilling)``. Every connector's heartbeat joins /readyz.

Reference backends get the reference store (``hub.reference.database_url``), the
simulated systems' own database, opened once per process here; never the hub's engine.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from sqlalchemy.engine import Engine
from zope.interface import providedBy

from connectors.base import ConnectorContext, load_connector, options_under
from connectors.reference_db import open_reference_store
from hub.settings import ConfigurationError, ConnectorOptions

SYSTEMS = ("billing", "kyc", "samagra", "sms", "payment", "headend", "singlewindow", "dbt")


def build_connectors(settings: dict[str, Any], reference_store: Engine | None) -> dict[str, Any]:
    built: dict[str, Any] = {}
    for system in SYSTEMS:
        options = options_under(settings, f"hub.{system}")
        backend = options.pop("backend", "")
        if not backend:
            continue
        context = ConnectorContext(
            name=system, options=ConnectorOptions(f"hub.{system}", options), engine=reference_store
        )
        try:
            built[system] = load_connector(backend, context)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigurationError(
                f"setting hub.{system}.backend: cannot build {backend!r}: {exc}"
            ) from exc
    return built


def includeme(config: Configurator) -> None:
    config.include("pyramid_services")
    registry = config.registry
    url = config.get_settings().get("hub.reference.database_url", "")
    reference_store = registry.get("reference_store")
    if reference_store is None and url:
        reference_store = open_reference_store(url)
        registry["reference_store"] = reference_store
    connectors = build_connectors(config.get_settings(), reference_store)
    registry["connectors"] = connectors
    for system, instance in connectors.items():
        for iface in providedBy(instance):
            config.register_service(instance, iface)
        config.add_heartbeat(system, instance.heartbeat)
