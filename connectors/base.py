"""What every connector shares: construction from settings and a heartbeat."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class ConnectorContext:
    """What the hub hands a connector when it builds it.

    ``options`` are the ini keys under the connector's prefix with the prefix
    stripped (``hub.billing.wsdl_url`` -> ``wsdl_url``). ``engine`` is the
    reference store (``hub.reference.database_url``, see
    :mod:`connectors.reference_db`), the outside systems' own database, never
    the hub's; None when the deployment has none (real clients need none).
    """

    name: str
    options: Mapping[str, str]
    engine: Engine | None = None

    def reference_store(self) -> Engine:
        """The reference store, for a reference backend; ValueError if none is configured."""
        if self.engine is None:
            raise ValueError(f"connector {self.name}: a reference backend needs hub.reference.database_url")
        return self.engine

    def option(self, key: str, default: str | None = None) -> str:
        value = self.options.get(key, default)
        if value is None:
            raise ValueError(f"connector {self.name}: setting {key!r} is required")
        return value

    def float_option(self, key: str, default: float) -> float:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ValueError(
                f"connector {self.name}: setting {key!r} must be a number, got {raw!r}"
            ) from None


@runtime_checkable
class Connector(Protocol):
    """Every connector can be built from settings and can report its health."""

    @classmethod
    def from_context(cls, context: ConnectorContext) -> Any: ...

    def heartbeat(self) -> None:
        """Return if the outside system answers; raise ConnectorUnavailable if not."""


def load_connector(dotted: str, context: ConnectorContext) -> Any:
    """Build the connector class named ``package.module:Class`` (or dotted)."""
    module_name, _, attr = dotted.replace(":", ".").rpartition(".")
    if not module_name:
        raise ValueError(f"connector {context.name}: {dotted!r} is not a dotted class name")
    module = importlib.import_module(module_name)
    cls = getattr(module, attr)
    return cls.from_context(context)


def options_under(settings: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """The ini keys under ``prefix.`` with the prefix stripped."""
    dotted = prefix + "."
    return {k[len(dotted) :]: str(v) for k, v in settings.items() if k.startswith(dotted)}
