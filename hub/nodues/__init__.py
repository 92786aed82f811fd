"""No-dues certificates for election candidates, end to end (docs/domain.md).

``config.include("hub.nodues")`` registers the workflow (hub.nodues.workflow),
its transition listener, the ``nodues.checks`` outbox handler run by the
worker, the REST operations (hub.nodues.views) and the officer console's case
page for this workflow (hub.nodues.console).
"""

from __future__ import annotations

from pyramid.config import Configurator

from hub.lookup import process_service
from hub.nodues import views
from hub.nodues.accounts import EKYC_KIND, EkycRunner
from hub.nodues.service import CHECKS_KIND, ChecksRunner, NoDuesTransitions
from hub.nodues.workflow import SUBJECT_TYPE, WORKFLOW, definition, parse_routing
from hub.workflow import WorkflowRegistry


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    routing = parse_routing(settings["hub.nodues.routing"])
    config.add_workflow(  # type: ignore[attr-defined]
        definition(
            decision_hours=float(settings["hub.nodues.decision_hours"]),
            approver_roles=sorted(set(routing.values())),
            default_approver=str(settings["hub.nodues.approver_role"]),
            escalate_to=tuple(settings["hub.nodues.escalate_to"]),
        )
    )
    registry = config.registry
    transitions = NoDuesTransitions(registry)
    process_service(registry, WorkflowRegistry).on_transition(WORKFLOW, transitions)
    config.add_revocation_listener(SUBJECT_TYPE, transitions.certificate_revoked)  # type: ignore[attr-defined]
    config.add_outbox_handler(CHECKS_KIND, ChecksRunner(registry))  # type: ignore[attr-defined]
    config.add_outbox_handler(EKYC_KIND, EkycRunner(registry))  # type: ignore[attr-defined]
    views.includeme(config)
    from hub.nodues.console import NoDuesCaseProvider

    config.add_console_provider(WORKFLOW, NoDuesCaseProvider())  # type: ignore[attr-defined]
