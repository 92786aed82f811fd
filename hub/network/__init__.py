"""The network behind the meters: consumer → DT → 11 kV feeder → 33/11 kV substation, from the GIS.

``config.include("hub.network")`` (after hub.periodic) adds:

* the periodic job ``network.sync`` (hub-worker): apply the GIS's change feed
  (:mod:`hub.network.service`);
* REST ``getConsumerSupply``, ``getNetworkNode`` and ``listUnmappedConsumers`` (scope ``network:read``).

Settings: ``hub.network.sync_interval_seconds``, ``hub.network.page_size`` (hub.settings); the
connector: ``hub.network.backend`` (connectors.network).
"""

from __future__ import annotations

from pyramid.config import Configurator

from hub.network.service import NetworkService, NetworkSettings

SYNC_JOB = "network.sync"


def includeme(config: Configurator) -> None:
    settings = NetworkSettings.from_settings(config.get_settings())
    service = NetworkService(config.registry, settings)
    config.register_service(service, NetworkService)
    config.add_periodic_job(SYNC_JOB, float(settings.sync_interval_seconds), service.sync_job)  # type: ignore[attr-defined]
    config.include("hub.network.views")
