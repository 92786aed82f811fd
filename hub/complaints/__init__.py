"""Consumer complaints: call centre, portal and offices; standards of performance; compensation.

``config.include("hub.complaints")`` (after hub.workflow, hub.outbox and
hub.console) adds:

* one workflow per complaint type of the standards file
  (:mod:`hub.complaints.workflow`), with the listener that keeps each
  complaint in step and tells the consumer by SMS;
* the REST operations (``/api/v1/complaints/...``, :mod:`hub.complaints.views`) and the call
  centre's SOAP ``CallCentreComplaintService`` (``/soap/complaints``, :mod:`hub.complaints.soap`);
* the console's case page for complaints (the queue and actions are the console's own);
* the outbox handler crediting compensation in billing, and the periodic job
  (run by hub-worker) escalating each complaint past its standard, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator

from hub.complaints.service import COMPENSATION_KIND, ComplaintService
from hub.complaints.workflow import definition, load_standards
from hub.lookup import process_service
from hub.models.outbox import OutboxMessage
from hub.outbox import connector
from hub.workflow import WorkflowRegistry

STANDARDS_JOB = "complaints.standards"
STANDARDS_INTERVAL_SECONDS = 60.0  # standards are hours; a minute late is no breach of note


def includeme(config: Configurator) -> None:
    registry = config.registry
    settings = config.get_settings()
    standards = load_standards(settings)
    service = ComplaintService(registry, standards, int(settings["hub.complaints.reopen_days"]))
    config.register_service(service, ComplaintService)
    workflows = process_service(registry, WorkflowRegistry)
    for kind in standards.types.values():
        config.add_workflow(definition(kind, standards.version))  # type: ignore[attr-defined]
        workflows.on_transition(kind.workflow, service.on_transition)
        workflows.on_escalation(kind.workflow, service.on_escalation)
        workflows.on_statutory_breaches(kind.workflow, service.on_statutory_breaches)

    def credit_compensation(message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        """Outbox kind ``complaints.compensation``: the credit in billing for a missed standard."""
        service.credit_compensation(message.payload, connector(connectors, "billing"))

    config.add_outbox_handler(COMPENSATION_KIND, credit_compensation)  # type: ignore[attr-defined]
    # Each level's time limit escalates through hub.workflow's periodic job; the standard is this flow's.
    config.add_periodic_job(STANDARDS_JOB, STANDARDS_INTERVAL_SECONDS, service.watch_standards)  # type: ignore[attr-defined]
    config.include("hub.complaints.views")
    config.include("hub.complaints.soap")
    if hasattr(config, "add_console_provider"):
        from hub.complaints import console
        from hub.complaints.console import ComplaintCaseProvider

        config.include(console)
        provider = ComplaintCaseProvider(service)
        for kind in standards.types.values():
            config.add_console_provider(kind.workflow, provider)  # type: ignore[attr-defined]
