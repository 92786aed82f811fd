"""The outside systems (connectors) as Pyramid services, chosen per deployment by ini settings.

``hub.<system>.backend`` names the class (``connectors.billing.reference:ReferenceBilling``);
the other ``hub.<system>.*`` keys are its options. Views call
``request.find_service(IBilling)``. Every connector's heartbeat joins /readyz.

Reference backends get the reference store (``hub.reference.database_url``), the
simulated systems' own database, opened once per process here; never the hub's engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pyramid.config import Configurator
from pyramid.registry import Registry
from sqlalchemy.engine import Engine
from zope.interface import providedBy

from connectors.base import ConnectorContext, load_connector, options_under
from connectors.errors import ConnectorUnavailable
from connectors.reference_db import open_reference_store
from hub.lookup import process_service
from hub.settings import ConfigurationError, ConnectorOptions

T = TypeVar("T")

SYSTEMS = (
    "billing",
    "kyc",
    "samagra",
    "sms",
    "payment",
    "bbps",
    "citizen_portal",
    "headend",
    "singlewindow",
    "dbt",
    "network",
    "meterdata",
    "whatsapp",
    "email",
)


class Connectors(Mapping[str, Any]):
    """The deployment's connectors by system name (``"billing"``, ``"sms"``, …): what outbox
    handlers are given, and what code choosing a system by name reads. A view that needs one
    system asks for its interface instead: ``request.find_service(IBilling)``."""

    def __init__(self, built: Mapping[str, Any]) -> None:
        self._built = dict(built)

    def __getitem__(self, system: str) -> Any:
        return self._built[system]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built)

    def __len__(self) -> int:
        return len(self._built)

    def require(self, system: str) -> Any:
        """The connector of ``system``; ConnectorUnavailable (503, retried) when none is configured."""
        found = self._built.get(system)
        if found is None:
            raise ConnectorUnavailable(f"no {system} connector configured", system=system)
        return found


@dataclass(frozen=True)
class ReferenceStore:
    """The reference backends' own database (``hub.reference.database_url``), when one is set."""

    engine: Engine


def build_connectors(settings: Mapping[str, Any], reference_store: Engine | None) -> Connectors:
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
    return Connectors(built)


def includeme(config: Configurator) -> None:
    url = config.get_settings()["hub.reference.database_url"]
    reference_store = open_reference_store(url) if url else None
    if reference_store is not None:
        config.register_service(ReferenceStore(reference_store), ReferenceStore)
    connectors = build_connectors(config.get_settings(), reference_store)
    config.register_service(connectors, Connectors)
    for system, instance in connectors.items():
        for iface in providedBy(instance):
            config.register_service(instance, iface)
        config.add_heartbeat(system, instance.heartbeat)


def find_connector(registry: Registry, kind: type[T]) -> T | None:
    """The connector providing interface ``kind``, or None when the deployment has none."""
    try:
        return process_service(registry, kind)
    except LookupError:
        return None
