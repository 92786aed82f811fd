"""The new-connection workflow as data, kept beside the form (the hub runs it with hub.workflow).

States follow the Electricity (Rights of Consumers) Rules' steps for a
connection without network extension: document scrutiny, site inspection,
demand note, payment, sanction, meter installation and release. Roles are
the distribution centre's (office assistant, assistant manager, manager);
overdue work escalates to the DGM and then the GM. ``applicant`` actions
come from the state single window; ``system`` actions from the hub itself
(the payment callback).

The statutory clock pauses while the applicant owes something: an answer to
a query, or the demand-note payment (the Rules count the discom's time only).

Version 2 (new cases) gives each of the discom's stages a share of the case's
statutory period instead of fixed hours: the shares add up to one, so the
stage limits fit inside 3 days in a metro area as inside 30 in a hilly one
(version 1's 48+72+24+48+72 hours did not). Cases filed under version 1 keep
its limits.
"""

from __future__ import annotations

import copy
from typing import Any

WORKFLOW_NAME = "new_connection"

OFFICE_ASSISTANT = "dc_office_assistant"
ASSISTANT_MANAGER = "dc_assistant_manager"
MANAGER = "dc_manager"
DGM = "dgm"
GM = "gm"
APPLICANT = "applicant"
SYSTEM = "system"

OFFICER_ROLES = (OFFICE_ASSISTANT, ASSISTANT_MANAGER, MANAGER, DGM, GM)
_SENIOR = [DGM, GM]  # an escalated case may be acted on by whoever holds it now


def _withdraw() -> dict[str, Any]:
    return {
        "name": "withdraw",
        "to": "withdrawn",
        "roles": [APPLICANT],
        "label_en": "Withdrawn by the applicant",
        "label_hi": "आवेदक द्वारा वापस लिया गया",
    }


def _reject(roles: list[str]) -> dict[str, Any]:
    return {
        "name": "reject",
        "to": "rejected",
        "roles": roles + _SENIOR,
        "requires_reason": True,
        "label_en": "Reject",
        "label_hi": "अस्वीकृत करें",
    }


WORKFLOW_V1: dict[str, Any] = {
    "name": WORKFLOW_NAME,
    "version": 1,
    "initial": "document_scrutiny",
    "states": {
        "document_scrutiny": {
            "label_en": "Documents under scrutiny",
            "label_hi": "दस्तावेज़ों की जाँच",
            "role": OFFICE_ASSISTANT,
            "time_limit_hours": 48,
            "escalate_to": _SENIOR,
            "actions": [
                {
                    "name": "accept_documents",
                    "to": "site_inspection",
                    "roles": [OFFICE_ASSISTANT, *_SENIOR],
                    "label_en": "Documents complete",
                    "label_hi": "दस्तावेज़ पूर्ण",
                },
                {
                    "name": "raise_query",
                    "to": "query_on_documents",
                    "roles": [OFFICE_ASSISTANT, *_SENIOR],
                    "requires_reason": True,
                    "label_en": "Ask the applicant",
                    "label_hi": "आवेदक से जानकारी माँगें",
                },
                _reject([OFFICE_ASSISTANT]),
                _withdraw(),
            ],
        },
        "query_on_documents": {
            "label_en": "Waiting for the applicant's answer",
            "label_hi": "आवेदक के उत्तर की प्रतीक्षा",
            "role": APPLICANT,
            "clock": "paused",
            "actions": [
                {
                    "name": "answer",
                    "to": "document_scrutiny",
                    "roles": [APPLICANT],
                    "label_en": "Applicant answered",
                    "label_hi": "आवेदक ने उत्तर दिया",
                },
                _withdraw(),
            ],
        },
        "site_inspection": {
            "label_en": "Site inspection",
            "label_hi": "स्थल निरीक्षण",
            "role": ASSISTANT_MANAGER,
            "time_limit_hours": 72,
            "escalate_to": _SENIOR,
            "actions": [
                {
                    "name": "inspection_passed",
                    "to": "demand_note",
                    "roles": [ASSISTANT_MANAGER, *_SENIOR],
                    "label_en": "Site found feasible",
                    "label_hi": "स्थल उपयुक्त पाया गया",
                },
                {
                    "name": "raise_query",
                    "to": "query_on_inspection",
                    "roles": [ASSISTANT_MANAGER, *_SENIOR],
                    "requires_reason": True,
                    "label_en": "Ask the applicant",
                    "label_hi": "आवेदक से जानकारी माँगें",
                },
                _reject([ASSISTANT_MANAGER]),
                _withdraw(),
            ],
        },
        "query_on_inspection": {
            "label_en": "Waiting for the applicant's answer",
            "label_hi": "आवेदक के उत्तर की प्रतीक्षा",
            "role": APPLICANT,
            "clock": "paused",
            "actions": [
                {
                    "name": "answer",
                    "to": "site_inspection",
                    "roles": [APPLICANT],
                    "label_en": "Applicant answered",
                    "label_hi": "आवेदक ने उत्तर दिया",
                },
                _withdraw(),
            ],
        },
        "demand_note": {
            "label_en": "Demand note being prepared",
            "label_hi": "मांग पत्र तैयार किया जा रहा है",
            "role": MANAGER,
            "time_limit_hours": 24,
            "escalate_to": _SENIOR,
            "actions": [
                {
                    "name": "issue_demand_note",
                    "to": "awaiting_payment",
                    "roles": [MANAGER, *_SENIOR],
                    "label_en": "Issue the demand note",
                    "label_hi": "मांग पत्र जारी करें",
                },
                _reject([MANAGER]),
                _withdraw(),
            ],
        },
        "awaiting_payment": {
            "label_en": "Demand note issued, awaiting payment",
            "label_hi": "मांग पत्र जारी, भुगतान की प्रतीक्षा",
            "role": APPLICANT,
            "clock": "paused",
            "actions": [
                {
                    "name": "payment_received",
                    "to": "sanction",
                    "roles": [SYSTEM],
                    "label_en": "Payment received",
                    "label_hi": "भुगतान प्राप्त",
                },
                _withdraw(),
            ],
        },
        "sanction": {
            "label_en": "Sanction under process",
            "label_hi": "स्वीकृति प्रक्रियाधीन",
            "role": MANAGER,
            "time_limit_hours": 48,
            "escalate_to": _SENIOR,
            "actions": [
                {
                    "name": "sanction",
                    "to": "meter_installation",
                    "roles": [MANAGER, *_SENIOR],
                    "label_en": "Sanction the connection",
                    "label_hi": "कनेक्शन स्वीकृत करें",
                },
                _reject([MANAGER]),
            ],
        },
        "meter_installation": {
            "label_en": "Sanctioned, meter installation",
            "label_hi": "स्वीकृत, मीटर स्थापना",
            "role": ASSISTANT_MANAGER,
            "time_limit_hours": 72,
            "escalate_to": _SENIOR,
            "actions": [
                {
                    "name": "release",
                    "to": "closed",
                    "roles": [ASSISTANT_MANAGER, *_SENIOR],
                    "label_en": "Meter installed, connection released",
                    "label_hi": "मीटर स्थापित, कनेक्शन जारी",
                }
            ],
        },
        "closed": {"label_en": "Connection released", "label_hi": "कनेक्शन जारी"},
        "rejected": {"label_en": "Rejected", "label_hi": "अस्वीकृत"},
        "withdrawn": {"label_en": "Withdrawn", "label_hi": "वापस लिया गया"},
    },
}

# Each stage's share of the statutory period (metro, 3 days: 12 + 18 + 6 + 12 + 24 hours).
STAGE_SHARES: dict[str, str] = {
    "document_scrutiny": "1/6",
    "site_inspection": "1/4",
    "demand_note": "1/12",
    "sanction": "1/6",
    "meter_installation": "1/3",
}


def _with_shares(v1: dict[str, Any], shares: dict[str, str]) -> dict[str, Any]:
    v2 = copy.deepcopy(v1)
    v2["version"] = 2
    for state, share in shares.items():
        spec = v2["states"][state]
        del spec["time_limit_hours"]
        spec["statutory_share"] = share
    return v2


WORKFLOW_V2: dict[str, Any] = _with_shares(WORKFLOW_V1, STAGE_SHARES)

# What the acknowledgement tells the applicant comes next (bilingual, in order).
NEXT_STEPS: tuple[tuple[str, str, str], ...] = (
    ("document_scrutiny", "Scrutiny of the documents submitted", "प्रस्तुत दस्तावेज़ों की जाँच"),
    (
        "site_inspection",
        "Inspection of the premises by the distribution centre",
        "वितरण केन्द्र द्वारा परिसर का निरीक्षण",
    ),
    ("demand_note", "Demand note with the charges, payable online", "शुल्क का मांग पत्र, ऑनलाइन देय"),
    ("sanction", "Sanction letter after payment", "भुगतान के बाद स्वीकृति पत्र"),
    ("meter_installation", "Meter installation and release of the connection", "मीटर स्थापना एवं कनेक्शन जारी"),
)
