"""The outside systems (connectors) as Pyramid services, chosen per deployment by ini settings.

``hub.<system>.backend`` names the class (``connectors.billing.reference:ReferenceBilling``);
the other ``hub.<system>.*`` keys are its options. Views call
``request.find_service(IBilling)``. Every connector's heartbeat joins /readyz.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, TypeVar

from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid_services import find_service_factory
from zope.interface import providedBy

from connectors.base import ConnectorContext, load_connector, options_under
from hub.settings import ConfigurationError, ConnectorOptions

T = TypeVar("T")

SYSTEMS = ("billing", "kyc", "samagra", "sms", "payment", "headend", "singlewindow", "dbt")


def build_connectors(settings: dict[str, Any], engine: Any) -> dict[str, Any]:
    built: dict[str, Any] = {}
    for system in SYSTEMS:
        options = options_under(settings, f"hub.{system}")
        backend = options.pop("backend", "")
        if not backend:
            continue
        context = ConnectorContext(
            name=system, options=ConnectorOptions(f"hub.{system}", options), engine=engine
        )
        try:
            built[system] = load_connector(backend, context)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigurationError(
                f"setting hub.{system}.backend: cannot build {backend!r}: {exc}"
            ) from exc
    return built


def includeme(config: Configurator) -> None:
    registry = config.registry
    connectors = build_connectors(config.get_settings(), registry["db_engine"])
    registry["connectors"] = connectors
    for system, instance in connectors.items():
        for iface in providedBy(instance):
            config.register_service(instance, iface)
        config.add_heartbeat(system, instance.heartbeat)


def process_service(registry: Registry, kind: type[T]) -> T:
    """The process-wide service registered for ``kind`` (``config.register_service``), for code
    that has no request: the worker, commands, tests. Views use ``request.find_service(kind)``."""
    factory = find_service_factory(SimpleNamespace(registry=registry), kind)
    service = factory(None, None)
    if not isinstance(service, kind):
        raise LookupError(f"{kind.__name__} is registered as a per-request factory")
    return service
