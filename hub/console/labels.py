"""What the console prints for times and coded values: IST, and Hindi / English words instead of keys.

One table for every case provider: the new-connection form's own choices (area
class, category, voltage, district, document type) and the values the no-dues
checks and certificates carry. Workflow actions are labelled by their workflow
definition; the hub's own actions (start, escalation, automatic checks) have no
label there and are named here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from forms.labels import VALUE_LABELS as VALUES
from hub.models.meta import IST
from hub.workflow import WorkflowDefinition

# Actions a workflow definition leaves unlabelled: those the hub takes itself.
ACTIONS: dict[str, tuple[str, str]] = {
    "start": ("आवेदन प्राप्त", "Application received"),
    "escalate": ("समय-सीमा पार: उच्च अधिकारी को अग्रेषित", "Time limit passed: escalated"),
    "statutory_breach": ("वैधानिक तिथि पार: अग्रेषित", "Statutory date passed: escalated"),
    "checks_passed": ("स्वचालित जाँच सफल", "Automatic checks passed"),
    "checks_failed": ("स्वचालित जाँच असफल", "Automatic checks failed"),
    "supersede": ("नए आवेदन से प्रतिस्थापित", "Superseded by a new application"),
}

# Keys of the evidence details the automatic checks record.
DETAIL_KEYS: dict[str, tuple[str, str]] = {
    "amount": ("राशि ₹", "Amount ₹"),
    "as_of": ("दिनांक", "As of"),
    "covered": ("आवेदन में शामिल", "In the application"),
    "health": ("मीटर", "Meter"),
    "meter_number": ("मीटर क्रमांक", "Meter number"),
    "meter_type": ("मीटर प्रकार", "Meter type"),
    "status": ("स्थिति", "Status"),
    "samagra": ("समग्र", "Samagra"),
    "proof": ("प्रमाण", "Proof"),
    "connections_found": ("मिले कनेक्शन", "Connections found"),
    "registered": ("दर्ज", "Registered"),
    "outside_application": ("आवेदन से बाहर", "Outside the application"),
    "owing": ("बकायादार", "Owing"),
}


def in_ist(at: datetime | None, seconds: bool = False) -> str:
    """A stored (UTC) time as the office reads it: ``04-12-2026 17:08 IST``."""
    if at is None:
        return ""
    return at.astimezone(IST).strftime("%d-%m-%Y %H:%M:%S IST" if seconds else "%d-%m-%Y %H:%M IST")


def value_label(value: str | None) -> str:
    """``"metro"`` → ``"महानगर / Metropolitan city"``; a value not in the table is shown as it is."""
    if not value:
        return "—"
    words = VALUES.get(value)
    return f"{words[0]} / {words[1]}" if words else value


def action_label(definition: WorkflowDefinition, from_state: str | None, action: str) -> tuple[str, str]:
    """Hindi and English words for ``action`` taken in ``from_state`` (the workflow's labels first)."""
    state = definition.states.get(from_state) if from_state else None
    declared = state.action(action) if state is not None else None
    if declared is None:
        # Taken in another state than the one asked about: any state's label of that name will do.
        declared = next(
            (a for s in definition.states.values() for a in s.actions if a.name == action and a.label_hi),
            None,
        )
    if declared is not None and declared.label_hi:
        return declared.label_hi, declared.label_en
    return ACTIONS.get(action, (action.replace("_", " "), action.replace("_", " ")))


def details_text(details: Mapping[str, Any]) -> str:
    """Evidence details as words: ``मीटर / Meter: ठीक / Working; राशि ₹ / Amount ₹: 0.00``."""
    parts = []
    for key, value in sorted(details.items()):
        hi, en = DETAIL_KEYS.get(key, (key, key))
        shown = value_label(str(value)) if str(value) in VALUES else str(value)
        parts.append(f"{hi} / {en}: {shown}")
    return "; ".join(parts)
