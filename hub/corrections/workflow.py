"""The bill-correction workflow and the delegation of powers by amount, as data.

    proposed --submit--> examination --recommend--> gm_decision --permit/refuse--> permitted / refused
       |                   |   ^  \\--permit/refuse (within the DGM's delegation)--^
       |                   |   |
       |                return resubmit
       |                   v   |
       |                  returned
       \\--permit/refuse (within the manager's delegation)

Each level has seven days (``hub.corrections.level_days``); when they run out the
engine's escalation job hands the case to the level above (the DGM for the office,
the GM for the DGM) and records the breach. Who may *permit* depends on the amount:
``hub.corrections.delegation`` gives each role its limit in rupees, and the case stops
at the lowest level that may permit it (:func:`deciding_role`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.settings import ConfigurationError
from hub.workflow import WorkflowDefinition

WORKFLOW = "bill_correction"
SUBJECT_TYPE = "bill_correction"
OFFICE_ROLES = ("dc_office_assistant", "dc_assistant_manager", "dc_manager")
MANAGER, DGM, GM = "dc_manager", "dgm", "gm"
LEVELS = (MANAGER, DGM, GM)  # the roles that may permit, lowest first
DECISIONS = ("permit", "refuse")


@dataclass(frozen=True)
class Delegation:
    """Rupees up to which each role may permit a correction (``None``: no limit)."""

    limits: Mapping[str, Decimal | None]

    @classmethod
    def parse(cls, text: str) -> Delegation:
        """``dc_manager:5000 dgm:50000 gm:*``; every level named, limits rising."""
        limits: dict[str, Decimal | None] = {}
        try:
            for item in text.split():
                role, _, value = item.partition(":")
                limits[role] = None if value == "*" else Decimal(value)
            if set(limits) != set(LEVELS):
                raise ValueError(f"name exactly {', '.join(LEVELS)}")
            previous = Decimal(0)
            for role in LEVELS:
                limit = limits[role]
                if limit is None:
                    if role != GM:
                        raise ValueError("only the GM's limit may be unlimited (*)")
                    continue
                if limit <= previous:
                    raise ValueError("limits must be positive and rise level by level")
                previous = limit
        except (ValueError, InvalidOperation) as exc:
            raise ConfigurationError(f"setting hub.corrections.delegation: {text!r}: {exc}") from None
        return cls(limits)

    def may_permit(self, role: str, amount: Decimal) -> bool:
        if role not in self.limits:
            return False
        limit = self.limits[role]
        return limit is None or amount <= limit

    def deciding_role(self, amount: Decimal) -> str | None:
        """The lowest level whose delegation covers ``amount`` (None: beyond every level)."""
        return next((r for r in LEVELS if self.may_permit(r, amount)), None)


def definition(level_days: float, version: int = 1) -> WorkflowDefinition:
    hours = level_days * 24
    office = list(OFFICE_ROLES)

    def decide(roles: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "name": "permit",
                "to": "permitted",
                "roles": roles,
                "requires_reason": True,
                "label_en": "Permit the correction",
                "label_hi": "संशोधन स्वीकृत करें",
            },
            {
                "name": "refuse",
                "to": "refused",
                "roles": roles,
                "requires_reason": True,
                "label_en": "Refuse the correction",
                "label_hi": "संशोधन अस्वीकृत करें",
            },
        ]

    return WorkflowDefinition.from_dict(
        {
            "name": WORKFLOW,
            "version": version,
            "initial": "proposed",
            "states": {
                "proposed": {
                    "label_en": "Proposed by the office",
                    "label_hi": "कार्यालय द्वारा प्रस्तावित",
                    "role": MANAGER,
                    "time_limit_hours": hours,
                    "escalate_to": [DGM],
                    "actions": [
                        {
                            "name": "submit",
                            "to": "examination",
                            "roles": office,
                            "label_en": "Send to the DGM for examination",
                            "label_hi": "परीक्षण हेतु उप महाप्रबंधक को भेजें",
                        },
                        *decide([MANAGER, DGM]),
                    ],
                },
                "examination": {
                    "label_en": "Being examined by the DGM",
                    "label_hi": "उप महाप्रबंधक द्वारा परीक्षणाधीन",
                    "role": DGM,
                    "time_limit_hours": hours,
                    "escalate_to": [GM],
                    "actions": [
                        {
                            "name": "recommend",
                            "to": "gm_decision",
                            "roles": [DGM],
                            "requires_reason": True,
                            "label_en": "Recommend to the GM (write the recommendation)",
                            "label_hi": "महाप्रबंधक को अनुशंसा करें (अनुशंसा लिखें)",
                        },
                        {
                            "name": "return",
                            "to": "returned",
                            "roles": [DGM],
                            "requires_reason": True,
                            "label_en": "Return to the office with questions",
                            "label_hi": "प्रश्नों सहित कार्यालय को लौटाएँ",
                        },
                        *decide([DGM, GM]),
                    ],
                },
                "returned": {
                    "label_en": "Returned to the office with questions",
                    "label_hi": "प्रश्नों सहित कार्यालय को लौटाया गया",
                    "role": MANAGER,
                    "time_limit_hours": hours,
                    "escalate_to": [DGM],
                    "actions": [
                        {
                            "name": "resubmit",
                            "to": "examination",
                            "roles": office,
                            "requires_reason": True,
                            "label_en": "Answer and send back to the DGM",
                            "label_hi": "उत्तर देकर उप महाप्रबंधक को पुनः भेजें",
                        },
                        {
                            "name": "refuse",
                            "to": "refused",
                            "roles": [DGM],
                            "requires_reason": True,
                            "label_en": "Refuse (the office did not answer)",
                            "label_hi": "अस्वीकृत करें (कार्यालय ने उत्तर नहीं दिया)",
                        },
                    ],
                },
                "gm_decision": {
                    "label_en": "Awaiting the GM's decision",
                    "label_hi": "महाप्रबंधक के निर्णय हेतु लंबित",
                    "role": GM,
                    "time_limit_hours": hours,
                    "actions": decide([GM]),
                },
                "permitted": {"label_en": "Permitted", "label_hi": "स्वीकृत", "clock": "stopped"},
                "refused": {"label_en": "Refused", "label_hi": "अस्वीकृत", "clock": "stopped"},
            },
        }
    )
