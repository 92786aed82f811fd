"""The no-dues workflow, as data.

checks_pending --checks_passed--> awaiting_decision --approve--> approved --revoke--> revoked
      |                                  |                          \\--supersede--> superseded
      \\--checks_failed--> rejected <--reject--/

Only the hub ("system") moves a case out of ``checks_pending``: the worker
after the automatic checks. ``awaiting_decision`` sits with the approver
role (DGM unless the routing table says otherwise) for
``hub.nodues.decision_hours``, then escalates along ``hub.nodues.escalate_to``.
An approved case is closed (its clock stopped) but an officer can still
revoke it; re-application supersedes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.workflow import SYSTEM_ROLE, WorkflowDefinition

WORKFLOW = "nodues"
SUBJECT_TYPE = "nodues_application"
OPEN_STATES = ("checks_pending", "awaiting_decision")

# The definition with the deployment's numbers left out; :func:`definition` fills them in.
NODUES_WORKFLOW: dict[str, Any] = {
    "name": WORKFLOW,
    "version": 1,
    "initial": "checks_pending",
    "states": {
        "checks_pending": {
            "label_en": "Automatic checks pending",
            "label_hi": "स्वचालित जाँच लंबित",
            "role": SYSTEM_ROLE,
            "actions": [
                {"name": "checks_passed", "to": "awaiting_decision", "roles": [SYSTEM_ROLE]},
                {"name": "checks_failed", "to": "rejected", "roles": [SYSTEM_ROLE], "requires_reason": True},
            ],
        },
        "awaiting_decision": {
            "label_en": "Awaiting the officer's decision",
            "label_hi": "अधिकारी के निर्णय हेतु लंबित",
            "role": "{approver}",
            "time_limit_hours": "{decision_hours}",
            "escalate_to": "{escalate_to}",
            "actions": [
                {
                    "name": "approve",
                    "to": "approved",
                    "roles": "{officer_roles}",
                    "label_en": "Approve",
                    "label_hi": "स्वीकृत करें",
                },
                {
                    "name": "reject",
                    "to": "rejected",
                    "roles": "{officer_roles}",
                    "requires_reason": True,
                    "label_en": "Reject",
                    "label_hi": "अस्वीकृत करें",
                },
            ],
        },
        "approved": {
            "label_en": "Approved, certificate issued",
            "label_hi": "स्वीकृत, प्रमाण-पत्र जारी",
            "clock": "stopped",
            "actions": [
                {
                    "name": "revoke",
                    "to": "revoked",
                    # The system acts for revocations made outside the console
                    # (REST revokeCertificate), so the case follows its certificate.
                    "roles": "{revoking_roles}",
                    "requires_reason": True,
                    "label_en": "Revoke the certificate",
                    "label_hi": "प्रमाण-पत्र निरस्त करें",
                },
                {"name": "supersede", "to": "superseded", "roles": [SYSTEM_ROLE]},
            ],
        },
        "rejected": {"label_en": "Rejected", "label_hi": "अस्वीकृत"},
        "revoked": {"label_en": "Certificate revoked", "label_hi": "प्रमाण-पत्र निरस्त"},
        "superseded": {
            "label_en": "Superseded by a newer certificate",
            "label_hi": "नए प्रमाण-पत्र द्वारा प्रतिस्थापित",
        },
    },
}


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return values[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def definition(
    decision_hours: float,
    approver_roles: Sequence[str],
    default_approver: str,
    escalate_to: Sequence[str],
) -> WorkflowDefinition:
    """The workflow for this deployment: every role that may approve (routing table and
    escalation levels) may take the officer actions."""
    officer_roles = sorted({default_approver, *approver_roles, *escalate_to})
    return WorkflowDefinition.from_dict(
        _fill(
            NODUES_WORKFLOW,
            {
                "approver": default_approver,
                "decision_hours": decision_hours,
                "escalate_to": list(escalate_to),
                "officer_roles": officer_roles,
                "revoking_roles": [*officer_roles, SYSTEM_ROLE],
            },
        )
    )


def parse_routing(words: Sequence[str]) -> dict[str, str]:
    """``("DIV-BPL-1=gm", "CIR-GWL=dgm")`` -> office code -> approver role."""
    table: dict[str, str] = {}
    for word in words:
        office, sep, role = word.partition("=")
        if not sep or not office or not role:
            raise ValueError(f"routing entry {word!r} is not OFFICE=ROLE")
        table[office] = role
    return table
