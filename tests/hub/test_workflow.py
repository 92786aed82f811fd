"""The workflow engine: transitions, roles, reasons, paused clocks, escalation, history."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import AuditEntry, WorkflowBreach
from hub.workflow import WorkflowDefinition, WorkflowError, WorkflowRegistry

DEFINITION: dict[str, Any] = {
    "name": "test_flow",
    "version": 1,
    "initial": "scrutiny",
    "states": {
        "scrutiny": {
            "label_en": "Document scrutiny",
            "label_hi": "दस्तावेज़ जाँच",
            "role": "assistant_manager",
            "time_limit_hours": 48,
            "escalate_to": ["manager", "dgm"],
            "actions": [
                {"name": "accept", "to": "approval", "roles": ["assistant_manager", "manager", "dgm"]},
                {
                    "name": "query",
                    "to": "query_open",
                    "roles": ["assistant_manager"],
                    "requires_reason": True,
                },
                {
                    "name": "reject",
                    "to": "rejected",
                    "roles": ["assistant_manager", "manager"],
                    "requires_reason": True,
                },
            ],
        },
        "query_open": {
            "label_en": "Waiting for the applicant",
            "role": "applicant",
            "clock": "paused",
            "actions": [{"name": "answer", "to": "scrutiny", "roles": ["applicant"]}],
        },
        "approval": {
            "label_en": "Approval",
            "role": "dgm",
            "time_limit_hours": 168,
            "escalate_to": ["gm"],
            "actions": [{"name": "approve", "to": "approved", "roles": ["dgm", "gm"]}],
        },
        "approved": {"label_en": "Approved"},
        "rejected": {"label_en": "Rejected"},
    },
}

T0 = datetime(2026, 11, 2, 4, 30, tzinfo=UTC)


@pytest.fixture()
def flows() -> WorkflowRegistry:
    registry = WorkflowRegistry()
    registry.add(WorkflowDefinition.from_dict(DEFINITION))
    return registry


def test_definition_rejects_undeclared_target() -> None:
    broken = {
        **DEFINITION,
        "states": {
            **DEFINITION["states"],
            "approved": {"actions": [{"name": "x", "to": "nowhere", "roles": ["gm"]}]},
        },
    }
    with pytest.raises(WorkflowError) as info:
        WorkflowDefinition.from_dict(broken)
    assert info.value.code == "definition_invalid"


def test_happy_path_and_history(dbsession: Session, flows: WorkflowRegistry) -> None:
    case = flows.start(
        dbsession,
        "test_flow",
        "application",
        "A-1",
        "DC-07",
        "single-window",
        "applicant",
        statutory_days=7,
        now=T0,
    )
    assert case.state == "scrutiny"
    assert case.assigned_role == "assistant_manager"
    assert case.due_at == T0 + timedelta(hours=48)
    flows.act(dbsession, case, "accept", "officer:am1", ["assistant_manager"], now=T0 + timedelta(hours=1))
    flows.act(dbsession, case, "approve", "officer:dgm1", ["dgm"], now=T0 + timedelta(hours=2))
    assert case.state == "approved" and case.closed_at is not None and case.due_at is None
    history = flows.history(dbsession, case)
    assert [(e.seq, e.action, e.from_state, e.to_state) for e in history] == [
        (1, "start", None, "scrutiny"),
        (2, "accept", "scrutiny", "approval"),
        (3, "approve", "approval", "approved"),
    ]
    audited = (
        dbsession.execute(
            select(AuditEntry.action).where(AuditEntry.subject_id == "A-1").order_by(AuditEntry.seq)
        )
        .scalars()
        .all()
    )
    assert audited == ["test_flow.start", "test_flow.accept", "test_flow.approve"]
    with pytest.raises(WorkflowError) as info:
        flows.act(dbsession, case, "approve", "officer:dgm1", ["dgm"])
    assert info.value.code == "case_closed"


def test_wrong_role_and_missing_reason(dbsession: Session, flows: WorkflowRegistry) -> None:
    case = flows.start(dbsession, "test_flow", "application", "A-2", "DC-07", "sw", "applicant", now=T0)
    with pytest.raises(WorkflowError) as info:
        flows.act(dbsession, case, "query", "officer:m", ["manager"], reason="why")
    assert info.value.code == "action_not_allowed"
    with pytest.raises(WorkflowError) as info:
        flows.act(dbsession, case, "reject", "officer:am", ["assistant_manager"], reason="  ")
    assert info.value.code == "reason_required"
    assert case.state == "scrutiny"
    assert [a.name for a in flows.allowed_actions(case, ["manager"])] == ["accept", "reject"]


def test_query_pauses_the_statutory_clock(dbsession: Session, flows: WorkflowRegistry) -> None:
    case = flows.start(
        dbsession, "test_flow", "application", "A-3", "DC-07", "sw", "applicant", statutory_days=7, now=T0
    )
    flows.act(
        dbsession,
        case,
        "query",
        "officer:am",
        ["assistant_manager"],
        reason="load sanction letter missing",
        now=T0 + timedelta(days=1),
    )
    assert case.due_at is None and case.clock_paused_at == T0 + timedelta(days=1)
    flows.act(dbsession, case, "answer", "single-window", ["applicant"], now=T0 + timedelta(days=4))
    assert case.paused_seconds == 3 * 86400
    assert case.statutory_due_at == T0 + timedelta(days=10)
    assert case.due_at == T0 + timedelta(days=4, hours=48)


def test_overdue_cases_escalate_level_by_level(dbsession: Session, flows: WorkflowRegistry) -> None:
    case = flows.start(dbsession, "test_flow", "application", "A-4", "DC-07", "sw", "applicant", now=T0)
    early = flows.escalate_overdue(dbsession, now=T0 + timedelta(hours=47))
    assert [b for b in early if b.case_id == case.id] == []
    assert case.escalation_level == 0 and case.assigned_role == "assistant_manager"
    breaches = [
        b for b in flows.escalate_overdue(dbsession, now=T0 + timedelta(hours=49)) if b.case_id == case.id
    ]
    assert len(breaches) == 1 and breaches[0].escalated_to == "manager"
    assert case.assigned_role == "manager" and case.due_at == T0 + timedelta(hours=49 + 48)
    flows.escalate_overdue(dbsession, now=T0 + timedelta(hours=49 + 49))
    flows.escalate_overdue(dbsession, now=T0 + timedelta(hours=49 + 49 + 49))
    assert case.assigned_role == "dgm"
    recorded = (
        dbsession.execute(
            select(WorkflowBreach.escalated_to)
            .where(WorkflowBreach.case_id == case.id)
            .order_by(WorkflowBreach.id)
        )
        .scalars()
        .all()
    )
    assert recorded == ["manager", "dgm", "dgm"]
    assert [c.subject_id for c in flows.queue(dbsession, ["dgm"], ["DC-07"])] == ["A-4"]
    # The escalated officer can act.
    flows.act(dbsession, case, "accept", "officer:dgm", ["dgm"], now=T0 + timedelta(days=7))
    assert case.state == "approval" and case.escalation_level == 0 and case.assigned_role == "dgm"


def test_queue_sorted_by_time_left(dbsession: Session, flows: WorkflowRegistry) -> None:
    late = flows.start(
        dbsession,
        "test_flow",
        "application",
        "Q-late",
        "DC-09",
        "sw",
        "applicant",
        now=T0 + timedelta(hours=5),
    )
    early = flows.start(dbsession, "test_flow", "application", "Q-early", "DC-09", "sw", "applicant", now=T0)
    assert [c.subject_id for c in flows.queue(dbsession, ["assistant_manager"], ["DC-09"])] == [
        early.subject_id,
        late.subject_id,
    ]


def test_statutory_breach_excludes_paused_time_and_is_recorded_once(
    dbsession: Session, flows: WorkflowRegistry
) -> None:
    paused_in_time = flows.start(
        dbsession, "test_flow", "application", "S-1", "DC-07", "sw", "applicant", statutory_days=3, now=T0
    )
    paused_late = flows.start(
        dbsession, "test_flow", "application", "S-2", "DC-07", "sw", "applicant", statutory_days=1, now=T0
    )

    def breached(at: datetime) -> list[int]:
        return [b.case_id for b in flows.escalate_statutory_breaches(dbsession, "test_flow", now=at)]

    query_reason = "site plan unreadable"
    flows.act(
        dbsession,
        paused_in_time,
        "query",
        "officer:am",
        ["assistant_manager"],
        now=T0 + timedelta(days=1),
        reason=query_reason,
    )
    flows.act(
        dbsession,
        paused_late,
        "query",
        "officer:am",
        ["assistant_manager"],
        now=T0 + timedelta(days=2),
        reason=query_reason,
    )
    # Waiting on the applicant since day 1 of 3: not late however long the answer takes.
    # Waiting since day 2 of 1: it was late before the clock stopped.
    found = breached(T0 + timedelta(days=5))
    assert paused_in_time.id not in found and found.count(paused_late.id) == 1
    flows.act(dbsession, paused_in_time, "answer", "sw", ["applicant"], now=T0 + timedelta(days=5))
    assert paused_in_time.statutory_due_at == T0 + timedelta(days=7)
    assert paused_in_time.id not in breached(T0 + timedelta(days=6, hours=23))
    assert breached(T0 + timedelta(days=7, minutes=1)).count(paused_in_time.id) == 1
    assert paused_in_time.assigned_role == "manager" and paused_in_time.escalation_level == 1
    # Once: later passes find nothing new for either case.
    later = breached(T0 + timedelta(days=9))
    assert paused_in_time.id not in later and paused_late.id not in later
    history = [e.action for e in flows.history(dbsession, paused_in_time)]
    assert history.count("statutory_breach") == 1


def test_stage_shares_follow_the_statutory_period_and_may_not_exceed_it() -> None:
    shared = copy.deepcopy(DEFINITION)
    shared["version"] = 2
    del shared["states"]["scrutiny"]["time_limit_hours"]
    shared["states"]["scrutiny"]["statutory_share"] = "1/3"
    definition = WorkflowDefinition.from_dict(shared)
    scrutiny = definition.state("scrutiny")
    assert scrutiny.limit(timedelta(days=3)) == timedelta(days=1)
    assert scrutiny.limit(timedelta(days=7)) == timedelta(hours=56)
    assert scrutiny.limit(None) is None  # no statutory period, no fixed hours: no limit
    shared["states"]["approval"]["statutory_share"] = "3/4"
    with pytest.raises(WorkflowError) as too_much:
        WorkflowDefinition.from_dict(shared)
    assert too_much.value.code == "definition_invalid"
