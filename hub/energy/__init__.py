"""The energy audit: energy into each feeder and DT against what its consumers were billed and paid.

``config.include("hub.energy")`` (after hub.periodic and hub.console) adds:

* the periodic job ``energy.audit`` (hub-worker): last month's audit once the month is over,
  and every month an officer asked for (:mod:`hub.energy.service`);
* REST ``listEnergyAudits`` and ``getEnergyAuditNode`` (scope ``energy:read``);
* the console's reports (drill-down discom → circle → division → DC → feeder → DT, charts,
  CSV, signed PDF) and the public page of each distribution centre (:mod:`hub.energy.console`).

Connectors: ``hub.meterdata.backend`` (connectors.meterdata) and ``hub.billing.backend``.
"""

from __future__ import annotations

from pyramid.config import Configurator

from hub.energy.service import EnergyService

AUDIT_JOB = "energy.audit"
# The job only looks for months to audit; an audit runs once per month or request.
AUDIT_JOB_INTERVAL_SECONDS = 600


def includeme(config: Configurator) -> None:
    service = EnergyService(config.registry)
    config.register_service(service, EnergyService)
    config.add_periodic_job(AUDIT_JOB, float(AUDIT_JOB_INTERVAL_SECONDS), service.audit_job)  # type: ignore[attr-defined]
    config.include("hub.energy.views")
    config.include("hub.energy.console")
