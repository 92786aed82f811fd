"""New electricity connections through the state single window.

``config.include("hub.connections")`` (after hub.workflow, hub.outbox, hub.soap
and hub.console) adds:

* the workflow ``new_connection`` (data: :mod:`forms.newconnection.workflow`),
  with a listener that issues the demand note and the sanction letter,
  creates the consumer in billing at release, and pushes every change of
  status to the single window through the outbox;
* the REST operations (``/api/v1/connections/...``) and the SOAP
  ``SingleWindowService`` (``/soap/singlewindow``);
* the outbox handler crediting statutory compensation, the console provider,
  and the periodic job (``hub.periodic``, run by hub-worker) that escalates a
  case past its statutory date and tells the single window, once per case.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator

from forms.newconnection.workflow import WORKFLOW_NAME, WORKFLOW_V1, WORKFLOW_V2
from hub.connections.config import ConnectionSettings
from hub.connections.service import COMPENSATION_KIND, ConnectionService
from hub.lookup import process_service
from hub.models.outbox import OutboxMessage
from hub.workflow import WorkflowDefinition, WorkflowRegistry

log = logging.getLogger(__name__)

STATUTORY_JOB = "connections.statutory_dates"
STATUTORY_INTERVAL_SECONDS = 60.0  # statutory periods are days; a minute late is no breach of note


class CompensationHandler:
    """Outbox kind ``connections.compensation``: the credit in billing after a late release."""

    def __init__(self, service: ConnectionService) -> None:
        self.service = service

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        billing = connectors.get("billing")
        if billing is None:
            from connectors.errors import ConnectorUnavailable

            raise ConnectorUnavailable("no billing connector configured", system="billing")
        self.service.credit_compensation(message.payload, billing)


def includeme(config: Configurator) -> None:
    registry = config.registry
    settings = ConnectionSettings.from_settings(config.get_settings())
    service = ConnectionService(registry, settings)
    config.register_service(service, ConnectionService)
    # Cases keep the version they were filed under; new ones start under the latest.
    config.add_workflow(WorkflowDefinition.from_dict(WORKFLOW_V1))
    config.add_workflow(WorkflowDefinition.from_dict(WORKFLOW_V2))
    process_service(registry, WorkflowRegistry).on_transition(WORKFLOW_NAME, service.on_transition)
    process_service(registry, WorkflowRegistry).before_act(WORKFLOW_NAME, service.prepare_action)
    config.add_outbox_handler(COMPENSATION_KIND, CompensationHandler(service))
    # Overdue states escalate through hub.workflow's periodic job, for every workflow; the
    # statutory date is this flow's own (hub-worker runs it, one worker at a time).
    config.add_periodic_job(STATUTORY_JOB, STATUTORY_INTERVAL_SECONDS, service.watch_statutory_dates)
    config.include("hub.connections.views")
    config.include("hub.connections.soap")
    if hasattr(config, "add_console_provider"):
        from hub.connections.console import ConnectionCaseProvider

        config.add_console_provider(WORKFLOW_NAME, ConnectionCaseProvider(service))
