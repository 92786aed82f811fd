"""Bill corrections: proposed at the distribution centre, examined by the DGM, permitted by the
officer whose delegation covers the amount, credited in billing once.

``config.include("hub.corrections")`` (after hub.workflow, hub.outbox and hub.console) adds:

* the ``bill_correction`` workflow (:mod:`hub.corrections.workflow`) with the listener that
  keeps each correction in step, enforces delegation, level and office, and tells the consumer by SMS;
* the portal's REST reads (``/api/v1/corrections...``, :mod:`hub.corrections.views`);
* the console's case page and the office's proposal form (:mod:`hub.corrections.console`);
* the outbox handler crediting a permitted correction in billing.

Each level's seven days are escalated by hub.workflow's periodic job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator

from hub.corrections.service import CREDIT_KIND, CorrectionService
from hub.corrections.workflow import WORKFLOW, Delegation, definition
from hub.lookup import process_service
from hub.models.outbox import OutboxMessage
from hub.outbox import connector
from hub.workflow import WorkflowRegistry


def includeme(config: Configurator) -> None:
    registry = config.registry
    settings = config.get_settings()
    service = CorrectionService(
        registry,
        Delegation.parse(str(settings["hub.corrections.delegation"])),
        int(settings["hub.corrections.evidence_max_kib"]) * 1024,
    )
    config.register_service(service, CorrectionService)
    config.add_workflow(definition(float(settings["hub.corrections.level_days"])))  # type: ignore[attr-defined]
    process_service(registry, WorkflowRegistry).on_transition(WORKFLOW, service.on_transition)

    def credit(message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        """Outbox kind ``corrections.credit``: the permitted correction credited in billing."""
        service.credit(message.payload, connector(connectors, "billing"))

    config.add_outbox_handler(CREDIT_KIND, credit)  # type: ignore[attr-defined]
    config.include("hub.corrections.views")
    if hasattr(config, "add_console_provider"):
        from hub.console.queues import workflow_queue_source
        from hub.corrections import console
        from hub.corrections.console import CorrectionCaseProvider
        from hub.models.correction import BillCorrection

        config.include(console)
        config.add_console_provider(WORKFLOW, CorrectionCaseProvider(service))  # type: ignore[attr-defined]
        # The officer's work list across flows: corrections found by number, consumer or mobile.
        config.add_queue_source(  # type: ignore[attr-defined]
            workflow_queue_source(
                "corrections",
                "बिल संशोधन",
                "Bill corrections",
                lambda workflow: workflow == WORKFLOW,
                (
                    BillCorrection.__table__,
                    BillCorrection.correction_no,
                    BillCorrection.consumer_number,
                    BillCorrection.mobile,
                ),
            )
        )
