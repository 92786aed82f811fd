"""Complaint types and their standards of performance, as data, and one workflow per type.

The standards file (``hub.complaints.standards_file``, JSON; the shipped one is
Madhya Pradesh's) gives each type its standard (hours from registration to
resolution), the role that handles it at the distribution centre, the roles it
escalates to in order, the time each level has, and the compensation credited
in the bill when the standard is missed (``null``: none). Each type becomes a
workflow ``complaint.<type>`` on the hub's engine:

    open --assign--> in_progress --resolve--> resolved --reopen--> open
      \\--resolve------------------------------^
    open / in_progress --escalate--> (same state, the next level)

The standard is the case's statutory date: it runs on across escalations,
while each level's own time limit starts again when the case reaches it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hub.settings import ConfigurationError
from hub.workflow import WorkflowDefinition

DEFAULT_STANDARDS = Path(__file__).with_name("standards") / "mp.json"
WORKFLOW_PREFIX = "complaint."
SUBJECT_TYPE = "complaint"
CONSUMER_ROLE = "consumer"
OPEN_STATES = ("open", "in_progress")


@dataclass(frozen=True)
class Compensation:
    """Rupees for each started ``per_hours`` beyond the standard, capped at ``maximum``."""

    rupees: Decimal
    per_hours: int
    maximum: Decimal

    def for_delay(self, late: timedelta) -> Decimal:
        if late <= timedelta(0):
            return Decimal("0.00")
        periods = math.ceil(late / timedelta(hours=self.per_hours))
        return min(self.rupees * periods, self.maximum).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ComplaintType:
    code: str
    label_en: str
    label_hi: str
    standard_hours: float
    handled_by: str
    escalate_to: tuple[str, ...]
    level_hours: float
    compensation: Compensation | None

    @property
    def workflow(self) -> str:
        return WORKFLOW_PREFIX + self.code

    @property
    def levels(self) -> tuple[str, ...]:
        """The roles holding the complaint at level 0, 1, 2..."""
        return (self.handled_by, *self.escalate_to)


@dataclass(frozen=True)
class Standards:
    state: str
    version: int
    types: Mapping[str, ComplaintType]

    @classmethod
    def load(cls, path: Path) -> Standards:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            types: dict[str, ComplaintType] = {}
            for code, spec in data["types"].items():
                comp = spec.get("compensation")
                compensation = None
                if comp is not None:
                    compensation = Compensation(
                        Decimal(str(comp["rupees"])), int(comp["per_hours"]), Decimal(str(comp["max_rupees"]))
                    )
                    if compensation.rupees <= 0 or compensation.per_hours <= 0 or compensation.maximum <= 0:
                        raise ValueError(f"{code}: compensation figures must be positive")
                kind = ComplaintType(
                    code=str(code),
                    label_en=str(spec["label_en"]),
                    label_hi=str(spec["label_hi"]),
                    standard_hours=float(spec["standard_hours"]),
                    handled_by=str(spec["handled_by"]),
                    escalate_to=tuple(str(r) for r in spec["escalate_to"]),
                    level_hours=float(spec["level_hours"]),
                    compensation=compensation,
                )
                if not 0 < kind.level_hours <= kind.standard_hours:
                    raise ValueError(f"{code}: level_hours must be positive and at most standard_hours")
                if len(set(kind.levels)) != len(kind.levels):
                    raise ValueError(f"{code}: a role appears twice among its levels")
                if len(kind.workflow) > 60:
                    raise ValueError(f"{code}: type code too long")
                types[kind.code] = kind
            if not types:
                raise ValueError("no complaint types")
            return cls(state=str(data["state"]), version=int(data["version"]), types=types)
        except (OSError, ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise ConfigurationError(f"setting hub.complaints.standards_file: {path}: {exc}") from None


def definition(kind: ComplaintType, version: int) -> WorkflowDefinition:
    officers = list(kind.levels)
    resolve = {
        "name": "resolve",
        "to": "resolved",
        "roles": officers,
        "requires_reason": True,
        "label_en": "Resolve (write the action taken)",
        "label_hi": "निराकरण करें (की गई कार्यवाही लिखें)",
    }
    escalate = {
        "name": "escalate",
        "to": "{state}",
        "roles": officers,
        "requires_reason": True,
        "label_en": "Escalate to the next level",
        "label_hi": "उच्च स्तर पर भेजें",
    }
    working: dict[str, Any] = {
        "role": kind.handled_by,
        "time_limit_hours": kind.level_hours,
        "escalate_to": list(kind.escalate_to),
    }
    return WorkflowDefinition.from_dict(
        {
            "name": kind.workflow,
            "version": version,
            "initial": "open",
            "states": {
                "open": {
                    **working,
                    "label_en": "Registered, awaiting action",
                    "label_hi": "पंजीकृत, कार्यवाही हेतु लंबित",
                    "actions": [
                        {
                            "name": "assign",
                            "to": "in_progress",
                            "roles": officers,
                            "requires_reason": True,
                            "label_en": "Assign (name the staff sent)",
                            "label_hi": "कर्मचारी को सौंपें",
                        },
                        resolve,
                        {**escalate, "to": "open"},
                    ],
                },
                "in_progress": {
                    **working,
                    "label_en": "Staff assigned, being attended",
                    "label_hi": "कर्मचारी नियुक्त, कार्यवाही जारी",
                    "actions": [resolve, {**escalate, "to": "in_progress"}],
                },
                "resolved": {
                    "label_en": "Resolved",
                    "label_hi": "निराकृत",
                    "clock": "stopped",
                    "actions": [
                        {
                            "name": "reopen",
                            "to": "open",
                            "roles": [CONSUMER_ROLE],
                            "requires_reason": True,
                            "label_en": "Reopened by the consumer",
                            "label_hi": "उपभोक्ता द्वारा पुनः खोली गई",
                        }
                    ],
                },
            },
        }
    )


def load_standards(settings: Mapping[str, Any]) -> Standards:
    path = str(settings["hub.complaints.standards_file"]) or str(DEFAULT_STANDARDS)
    return Standards.load(Path(path))
