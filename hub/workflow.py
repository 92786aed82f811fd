"""One small engine for every time-bound process the discom runs.

A workflow is data (:class:`WorkflowDefinition`, usually loaded from a dict
kept beside its form): states, the actions allowed in each, which role may
take them, a time limit per state (fixed hours, or a share of the case's
statutory period) and whom to escalate to when it runs out, and whether the
statutory clock runs, pauses (waiting on the applicant) or stops. A flow with
statutory dates can have them watched too (``escalate_statutory_breaches``). The engine moves :class:`~hub.models.workflow.WorkflowCase` rows and
writes their history; the flows (no-dues certificates, new connections,
bill corrections next) register listeners for what must happen on a
transition (documents, SMS, single-window callbacks), all in the same
transaction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, insert, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from hub.db import mark_written
from hub.lookup import process_service
from hub.models.meta import utcnow
from hub.models.workflow import WorkflowBreach, WorkflowCase, WorkflowEvent
from hub.outbox import unit_of_work

_CASES = cast(Table, WorkflowCase.__table__)
_BREACHES = cast(Table, WorkflowBreach.__table__)
_EVENTS = cast(Table, WorkflowEvent.__table__)
# The sweep's cases by id, the ids written into the statement: thousands of bound parameters
# would cost the driver more than the database's work on the rows.
_SWEPT = _CASES.c.id.in_(bindparam("case_ids", expanding=True, literal_execute=True))
# Built once: the sweep runs the same statements every minute. Each moves one group of cases
# (same new holder, same new time limit) and writes their breaches before and events after it.
_INSERT_BREACHES = insert(_BREACHES).from_select(
    ["case_id", "state", "role", "due_at", "detected_at", "escalated_to"],
    select(
        _CASES.c.id,
        _CASES.c.state,
        _CASES.c.assigned_role,
        _CASES.c.due_at,
        bindparam("now", type_=_BREACHES.c.detected_at.type),
        bindparam("role", type_=_BREACHES.c.escalated_to.type),
    ).where(_SWEPT),
)
_ESCALATE = (
    update(_CASES)
    .where(_SWEPT)
    .values(
        escalation_level=_CASES.c.escalation_level + 1,
        event_count=_CASES.c.event_count + 1,
        assigned_role=bindparam("role"),
        due_at=bindparam("due_at"),
    )
)
_INSERT_EVENTS = insert(_EVENTS).from_select(
    ["case_id", "seq", "at", "action", "from_state", "to_state", "actor", "role", "reason", "data"],
    select(
        _CASES.c.id,
        _CASES.c.event_count,
        bindparam("now", type_=_EVENTS.c.at.type),
        literal("escalate"),
        _CASES.c.state,
        _CASES.c.state,
        literal("system"),
        literal("system"),
        bindparam("reason", type_=_EVENTS.c.reason.type),
        bindparam("data", type_=_EVENTS.c.data.type),
    ).where(_SWEPT),
)

SYSTEM_ROLE = "system"
ESCALATION_REASON = "time limit passed"
# The breach row (and event) recording that a case's statutory date passed; one per case.
STATUTORY_BREACH = "statutory_due_date"
STATUTORY_ACTION = "statutory_breach"
STATUTORY_REASON = "statutory date passed"


class WorkflowError(Exception):
    """``code``: action_not_allowed, reason_required, case_closed, definition_invalid."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Action:
    name: str
    to: str
    roles: frozenset[str]
    requires_reason: bool = False
    label_en: str = ""
    label_hi: str = ""


@dataclass(frozen=True)
class State:
    name: str
    label_en: str
    label_hi: str
    actions: tuple[Action, ...] = ()
    role: str | None = None  # whose work queue the case sits in
    time_limit: timedelta | None = None
    escalate_to: tuple[str, ...] = ()  # roles in order, one per breach
    clock: str = "running"  # running / paused (waiting on the applicant) / stopped (terminal)
    # The state's share of the case's statutory period: with shares summing to at most 1, the
    # stages of a case with a statutory date fit inside it whatever its area's period is.
    statutory_share: Fraction | None = None

    @property
    def terminal(self) -> bool:
        return not self.actions

    def limit(self, statutory_period: timedelta | None) -> timedelta | None:
        """This state's time limit for a case with this statutory period (None: no limit).

        A share needs a statutory period; a case without one falls back to ``time_limit``.
        Whole minutes, rounded down, so the stages never add up to more than the period.
        """
        if self.statutory_share is not None and statutory_period is not None:
            minutes = Fraction(round(statutory_period.total_seconds()), 60) * self.statutory_share
            return timedelta(minutes=math.floor(minutes))
        return self.time_limit

    def action(self, name: str) -> Action | None:
        return next((a for a in self.actions if a.name == name), None)


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    version: int
    initial: str
    states: Mapping[str, State]

    def state(self, name: str) -> State:
        return self.states[name]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowDefinition:
        """Build from plain data; checks that every action leads to a declared state."""
        states: dict[str, State] = {}
        for name, spec in data["states"].items():
            actions = tuple(
                Action(
                    name=a["name"],
                    to=a["to"],
                    roles=frozenset(a["roles"]),
                    requires_reason=bool(a.get("requires_reason", False)),
                    label_en=a.get("label_en", a["name"]),
                    label_hi=a.get("label_hi", ""),
                )
                for a in spec.get("actions", ())
            )
            limit = spec.get("time_limit_hours")
            share = spec.get("statutory_share")
            states[name] = State(
                name=name,
                label_en=spec.get("label_en", name),
                label_hi=spec.get("label_hi", ""),
                actions=actions,
                role=spec.get("role"),
                time_limit=timedelta(hours=float(limit)) if limit is not None else None,
                escalate_to=tuple(spec.get("escalate_to", ())),
                clock=spec.get("clock", "running" if actions else "stopped"),
                statutory_share=Fraction(str(share)) if share is not None else None,
            )
        definition = cls(
            name=data["name"], version=int(data["version"]), initial=data["initial"], states=states
        )
        definition.check()
        return definition

    def check(self) -> None:
        if self.initial not in self.states:
            raise WorkflowError(
                "definition_invalid", f"{self.name}: initial state {self.initial!r} is not declared"
            )
        for state in self.states.values():
            for action in state.actions:
                if action.to not in self.states:
                    raise WorkflowError(
                        "definition_invalid",
                        f"{self.name}: {state.name}.{action.name} leads to undeclared {action.to!r}",
                    )
            if state.clock not in ("running", "paused", "stopped"):
                raise WorkflowError(
                    "definition_invalid", f"{self.name}: {state.name} has clock {state.clock!r}"
                )
            if state.statutory_share is not None and not (0 < state.statutory_share <= 1):
                raise WorkflowError(
                    "definition_invalid", f"{self.name}: {state.name}'s statutory share is not in (0, 1]"
                )
        shares = sum((s.statutory_share or Fraction(0) for s in self.states.values()), Fraction(0))
        if shares > 1:
            raise WorkflowError(
                "definition_invalid", f"{self.name}: the stages' statutory shares add up to {shares} > 1"
            )


def statutory_period(case: WorkflowCase) -> timedelta | None:
    """The case's statutory period, without the time the clock stood paused (whole minutes)."""
    return _statutory_period(case.statutory_due_at, case.created_at, case.paused_seconds)


def _statutory_period(
    statutory_due_at: datetime | None, created_at: datetime, paused_seconds: int
) -> timedelta | None:
    if statutory_due_at is None:
        return None
    period = statutory_due_at - created_at - timedelta(seconds=paused_seconds)
    # paused_seconds drops fractions of a second that statutory_due_at kept.
    return timedelta(minutes=round(period.total_seconds() / 60))


Listener = Callable[[Session, WorkflowCase, WorkflowEvent], None]


@dataclass(frozen=True)
class Escalation:
    """A case handed up a level by the sweep because its state's time limit ran out.

    Written with it: the breach row, the case's ``escalate`` event (number ``seq``) and its audit entry.
    """

    case_id: int
    workflow: str
    subject_type: str
    subject_id: str
    office_code: str
    state: str
    level: int  # the case's escalation level now
    role: str | None  # who held it when the time ran out
    escalated_to: str | None
    lapsed_due_at: datetime
    due_at: datetime  # when the new holder's time runs out
    seq: int


# Hears a workflow's escalations of one sweep together, in its transaction (``on_escalation``).
EscalationListener = Callable[[Session, Sequence[Escalation]], None]
# Hears a workflow's statutory breaches of one pass together: each case with its
# ``statutory_breach`` event, in its transaction (``on_statutory_breaches``).
StatutoryListener = Callable[[Session, Sequence[tuple[WorkflowCase, WorkflowEvent]]], None]
# Asks the outside systems what an action will need, before the acting transaction reads:
# (session of its own, case, action name). It must be idempotent, as the listener repeats it.
Preparer = Callable[[Session, WorkflowCase, str], None]


@dataclass
class WorkflowRegistry:
    """Definitions by name and version (cases keep the version they started under)."""

    definitions: dict[tuple[str, int], WorkflowDefinition] = field(default_factory=dict)
    latest: dict[str, int] = field(default_factory=dict)
    listeners: dict[str, list[Listener]] = field(default_factory=dict)
    escalation_listeners: dict[str, EscalationListener] = field(default_factory=dict)
    statutory_listeners: dict[str, StatutoryListener] = field(default_factory=dict)
    preparers: dict[str, Preparer] = field(default_factory=dict)

    def add(self, definition: WorkflowDefinition) -> None:
        self.definitions[(definition.name, definition.version)] = definition
        self.latest[definition.name] = max(self.latest.get(definition.name, 0), definition.version)

    def get(self, name: str, version: int | None = None) -> WorkflowDefinition:
        return self.definitions[(name, version if version is not None else self.latest[name])]

    def for_case(self, case: WorkflowCase) -> WorkflowDefinition:
        return self.get(case.workflow, case.version)

    def on_transition(self, workflow: str, listener: Listener) -> None:
        self.listeners.setdefault(workflow, []).append(listener)

    def on_escalation(self, workflow: str, listener: EscalationListener) -> None:
        """Hear the sweep's escalations of ``workflow`` as one list, instead of an event at a time.

        A workflow with such a listener does the follow-up set-based (the complaints: thousands
        in one sweep); without one, its ``on_transition`` listeners hear each ``escalate`` event.
        """
        self.escalation_listeners[workflow] = listener

    def on_statutory_breaches(self, workflow: str, listener: StatutoryListener) -> None:
        """Hear one pass's statutory breaches of ``workflow`` as one list, instead of an event at a
        time (its ``on_transition`` listeners then do not hear ``statutory_breach`` events)."""
        self.statutory_listeners[workflow] = listener

    def before_act(self, workflow: str, preparer: Preparer) -> None:
        self.preparers[workflow] = preparer

    def prepare(self, session: Session, case: WorkflowCase, action_name: str) -> None:
        """Run the workflow's preparer for ``action_name`` on ``session`` (not the acting one).

        Whoever acts (the console, a service) calls this before its own transaction reads.
        Outside systems write on connections of their own; on SQLite a transaction that has
        read cannot write after another connection committed, and one that has written holds
        the only write lock an outside system's write would wait on.
        """
        preparer = self.preparers.get(case.workflow)
        if preparer is not None:
            preparer(session, case, action_name)

    # -- moving cases --------------------------------------------------------------------

    def start(
        self,
        session: Session,
        workflow: str,
        subject_type: str,
        subject_id: str,
        office_code: str,
        actor: str,
        role: str,
        *,
        statutory_days: float | None = None,
        now: datetime | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> WorkflowCase:
        now = now or utcnow()
        definition = self.get(workflow)
        case = WorkflowCase(
            workflow=workflow,
            version=definition.version,
            subject_type=subject_type,
            subject_id=subject_id,
            office_code=office_code,
            state=definition.initial,
            state_entered_at=now,
            statutory_due_at=now + timedelta(days=statutory_days) if statutory_days is not None else None,
            escalation_level=0,
            paused_seconds=0,
            event_count=0,
            created_at=now,
        )
        # Entered and counted before the row is written: one INSERT, no UPDATE after it.
        self._enter(session, case, definition.state(definition.initial), now)
        case.event_count = 1
        session.add(case)
        session.flush()
        self._record(session, case, "start", None, actor, role, None, dict(data or {}), now, counted=True)
        return case

    def allowed_actions(self, case: WorkflowCase, roles: Iterable[str]) -> list[Action]:
        state = self.for_case(case).state(case.state)
        have = set(roles)
        return [a for a in state.actions if a.roles & have]

    def act(
        self,
        session: Session,
        case: WorkflowCase,
        action_name: str,
        actor: str,
        roles: Iterable[str],
        *,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> WorkflowEvent:
        now = now or utcnow()
        definition = self.for_case(case)
        state = definition.state(case.state)
        if state.terminal:
            raise WorkflowError("case_closed", f"the case is {case.state}; nothing more can be done")
        action = state.action(action_name)
        have = set(roles)
        if action is None or not (action.roles & have):
            raise WorkflowError("action_not_allowed", f"{action_name!r} is not possible now ({case.state})")
        if action.requires_reason and not (reason and reason.strip()):
            raise WorkflowError("reason_required", f"{action_name!r} needs a reason")
        role = sorted(action.roles & have)[0]
        previous = case.state
        self._leave(case, state, now)
        case.state = action.to
        self._enter(session, case, definition.state(action.to), now)
        return self._record(session, case, action.name, previous, actor, role, reason, dict(data or {}), now)

    def _enter(self, session: Session, case: WorkflowCase, state: State, now: datetime) -> None:
        case.state_entered_at = now
        case.assigned_role = state.role
        case.escalation_level = 0
        limit = state.limit(statutory_period(case))
        case.due_at = now + limit if limit is not None else None
        if state.clock == "paused":
            case.clock_paused_at = now
            case.due_at = None
        if state.clock == "stopped":
            case.closed_at = now
            case.due_at = None
        else:
            # A closed case taken up again (a complaint reopened) is open, and in the queues, again.
            case.closed_at = None

    def _leave(self, case: WorkflowCase, state: State, now: datetime) -> None:
        if state.clock == "paused" and case.clock_paused_at is not None:
            paused = now - case.clock_paused_at
            case.paused_seconds += int(paused.total_seconds())
            if case.statutory_due_at is not None:
                # The statutory clock does not run while the applicant owes an answer.
                case.statutory_due_at = case.statutory_due_at + paused
            case.clock_paused_at = None

    def _record(
        self,
        session: Session,
        case: WorkflowCase,
        action: str,
        from_state: str | None,
        actor: str,
        role: str,
        reason: str | None,
        data: dict[str, Any],
        now: datetime,
        counted: bool = False,
    ) -> WorkflowEvent:
        """The case's next event: written, audited, listened to (``counted``: its number is in
        ``case.event_count`` already)."""
        if not counted:
            case.event_count += 1
        event = WorkflowEvent(
            case_id=case.id,
            seq=case.event_count,
            at=now,
            action=action,
            from_state=from_state,
            to_state=case.state,
            actor=actor,
            role=role,
            reason=reason,
            data=data,
        )
        session.add(event)
        session.flush()
        from hub.audit import record as audit_record

        audit_record(
            session,
            actor,
            f"{case.workflow}.{action}",
            case.subject_type,
            case.subject_id,
            {"from": from_state, "to": case.state, "reason": reason, **data},
        )
        for listener in self.listeners.get(case.workflow, ()):
            listener(session, case, event)
        return event

    # -- time limits -----------------------------------------------------------------------

    def escalate_overdue(
        self, session: Session, now: datetime | None = None, limit: int = 5000
    ) -> list[Escalation]:
        """Record a breach for every case past its state's time limit and hand it up a level.

        The next level gets the same time limit again; after the last level the
        case stays with it and every further lapse is recorded too.

        Set-based, for a sweep over many open cases: one SELECT locks the overdue cases (up to
        ``limit``, earliest first, skipping any another worker holds); for each group going to
        the same holder with the same new time limit, one INSERT ... SELECT writes their breaches,
        one UPDATE moves them and one INSERT ... SELECT their events; the audit entries are
        chained in one write. Then each workflow's listeners, in the same transaction.
        """
        now = now or utcnow()
        session.flush()  # the ORM's pending changes to cases first: the UPDATEs below read them
        overdue = session.execute(
            select(
                WorkflowCase.id,
                WorkflowCase.workflow,
                WorkflowCase.version,
                WorkflowCase.subject_type,
                WorkflowCase.subject_id,
                WorkflowCase.office_code,
                WorkflowCase.state,
                WorkflowCase.assigned_role,
                WorkflowCase.escalation_level,
                WorkflowCase.due_at,
                WorkflowCase.statutory_due_at,
                WorkflowCase.created_at,
                WorkflowCase.paused_seconds,
                WorkflowCase.event_count,
            )
            .where(
                WorkflowCase.due_at.is_not(None),
                WorkflowCase.due_at < now,
                WorkflowCase.closed_at.is_(None),
            )
            .order_by(WorkflowCase.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not overdue:
            return []
        escalations: list[Escalation] = []
        moves: dict[tuple[str | None, datetime], list[int]] = {}
        for row in overdue:
            state = self.get(row.workflow, row.version).state(row.state)
            level = row.escalation_level
            target = (
                state.escalate_to[min(level, len(state.escalate_to) - 1)]
                if state.escalate_to
                else row.assigned_role
            )
            due_at = now + (
                state.limit(_statutory_period(row.statutory_due_at, row.created_at, row.paused_seconds))
                or timedelta(days=1)
            )
            moves.setdefault((target, due_at), []).append(row.id)
            escalations.append(
                Escalation(
                    case_id=row.id,
                    workflow=row.workflow,
                    subject_type=row.subject_type,
                    subject_id=row.subject_id,
                    office_code=row.office_code,
                    state=row.state,
                    level=level + 1,
                    role=row.assigned_role,
                    escalated_to=target,
                    lapsed_due_at=row.due_at,
                    due_at=due_at,
                    seq=row.event_count + 1,
                )
            )
        for (target, due_at), ids in moves.items():
            values = {
                "case_ids": ids,
                "role": target,
                "due_at": due_at,
                "now": now,
                "reason": ESCALATION_REASON,
                "data": {"escalated_to": target},
            }
            session.execute(_INSERT_BREACHES, values)
            session.execute(_ESCALATE, values)
            session.execute(_INSERT_EVENTS, values)
        mark_written(session)
        # Cases this session holds show the move (read again when next used).
        for escalation in escalations:
            held = session.identity_map.get(identity_key(WorkflowCase, escalation.case_id))
            if held is not None:
                session.expire(held)
        self._audit_escalations(session, escalations)
        self._tell(session, escalations)
        return escalations

    def _audit_escalations(self, session: Session, escalations: Sequence[Escalation]) -> None:
        """Each escalation's audit entry, chained, in one write."""
        from hub.audit import AuditRecord, record_many

        record_many(
            session,
            [
                AuditRecord(
                    "system",
                    f"{e.workflow}.escalate",
                    e.subject_type,
                    e.subject_id,
                    {
                        "from": e.state,
                        "to": e.state,
                        "reason": ESCALATION_REASON,
                        "escalated_to": e.escalated_to,
                    },
                )
                for e in escalations
            ],
        )

    def _tell(self, session: Session, escalations: Sequence[Escalation]) -> None:
        """Each workflow's listeners hear its escalations: together, or event by event."""
        by_workflow: dict[str, list[Escalation]] = {}
        for escalation in escalations:
            by_workflow.setdefault(escalation.workflow, []).append(escalation)
        for workflow, group in by_workflow.items():
            together = self.escalation_listeners.get(workflow)
            if together is not None:
                together(session, group)
                continue
            listeners = self.listeners.get(workflow, ())
            if not listeners:
                continue
            ids = [e.case_id for e in group]
            cases = {c.id: c for c in session.scalars(select(WorkflowCase).where(WorkflowCase.id.in_(ids)))}
            events = {
                ev.case_id: ev
                for ev in session.scalars(
                    select(WorkflowEvent).where(
                        WorkflowEvent.case_id.in_(ids),
                        tuple_(WorkflowEvent.case_id, WorkflowEvent.seq).in_(
                            [(e.case_id, e.seq) for e in group]
                        ),
                    )
                )
            }
            for escalation in group:
                for listener in listeners:
                    listener(session, cases[escalation.case_id], events[escalation.case_id])

    def escalate_statutory_breaches(
        self, session: Session, workflow: str, now: datetime | None = None, limit: int = 500
    ) -> list[WorkflowBreach]:
        """Record, once per case, that an open case's statutory date passed, and hand it up a level.

        Paused time does not count: a case waiting on the applicant is late only
        if its date had already passed when the clock stopped. The ``statutory_breach``
        event goes to the workflow's listeners (the flow tells whom it must). Once:
        a case with a statutory breach row is skipped, and the rows are looked for again
        after the cases are locked, so two workers never both record one.

        One pass for up to ``limit`` cases: one SELECT locks them (skipping any another worker
        holds), one looks for breaches recorded meanwhile, one flush writes the breaches, the
        moves and the events, and the audit entries are chained in one write.
        """
        now = now or utcnow()
        reported = exists().where(
            WorkflowBreach.case_id == WorkflowCase.id, WorkflowBreach.state == STATUTORY_BREACH
        )
        late = (
            session.execute(
                select(WorkflowCase)
                .where(
                    WorkflowCase.workflow == workflow,
                    WorkflowCase.closed_at.is_(None),
                    WorkflowCase.statutory_due_at.is_not(None),
                    or_(
                        WorkflowCase.clock_paused_at.is_(None) & (WorkflowCase.statutory_due_at < now),
                        WorkflowCase.statutory_due_at < WorkflowCase.clock_paused_at,
                    ),
                    ~reported,
                )
                .order_by(WorkflowCase.statutory_due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
        if not late:
            return []
        # Locked now: a breach another worker committed meanwhile is visible to this query.
        recorded = set(
            session.scalars(
                select(WorkflowBreach.case_id).where(
                    WorkflowBreach.case_id.in_([case.id for case in late]),
                    WorkflowBreach.state == STATUTORY_BREACH,
                )
            )
        )
        breaches: list[WorkflowBreach] = []
        events: list[tuple[WorkflowCase, WorkflowEvent]] = []
        for case in late:
            if case.id in recorded:
                continue
            state = self.for_case(case).state(case.state)
            level = case.escalation_level
            target = state.escalate_to[min(level, len(state.escalate_to) - 1)] if state.escalate_to else None
            assert case.statutory_due_at is not None
            breach = WorkflowBreach(
                case_id=case.id,
                state=STATUTORY_BREACH,
                role=case.assigned_role,
                due_at=case.statutory_due_at,
                detected_at=now,
                escalated_to=target,
            )
            breaches.append(breach)
            if target is not None:
                # Like a stage escalation: the next level holds it, with the stage's time limit again.
                case.escalation_level = level + 1
                case.assigned_role = target
                if case.due_at is not None:
                    case.due_at = now + (state.limit(statutory_period(case)) or timedelta(days=1))
            case.event_count += 1
            events.append(
                (
                    case,
                    WorkflowEvent(
                        case_id=case.id,
                        seq=case.event_count,
                        at=now,
                        action=STATUTORY_ACTION,
                        from_state=case.state,
                        to_state=case.state,
                        actor="system",
                        role=SYSTEM_ROLE,
                        reason=STATUTORY_REASON,
                        data={"escalated_to": target, "statutory_due_at": case.statutory_due_at.isoformat()},
                    ),
                )
            )
        if not breaches:
            return []
        # One flush writes them all (the breaches and events in multi-row INSERTs, the cases'
        # moves batched), and the audit chain's lock is taken once for the whole pass.
        session.add_all(breaches)
        session.add_all([event for _, event in events])
        session.flush()
        from hub.audit import AuditRecord, record_many

        record_many(
            session,
            [
                AuditRecord(
                    "system",
                    f"{case.workflow}.{STATUTORY_ACTION}",
                    case.subject_type,
                    case.subject_id,
                    {"from": event.from_state, "to": case.state, "reason": STATUTORY_REASON, **event.data},
                )
                for case, event in events
            ],
        )
        together = self.statutory_listeners.get(workflow)
        if together is not None:
            together(session, events)
        else:
            for case, event in events:
                for listener in self.listeners.get(case.workflow, ()):
                    listener(session, case, event)
        session.flush()
        return breaches

    def history(self, session: Session, case: WorkflowCase) -> list[WorkflowEvent]:
        return list(
            session.execute(
                select(WorkflowEvent).where(WorkflowEvent.case_id == case.id).order_by(WorkflowEvent.seq)
            ).scalars()
        )

    def queue(
        self, session: Session, roles: Iterable[str], office_codes: Iterable[str] | None = None
    ) -> list[WorkflowCase]:
        """Open cases waiting on any of ``roles`` (in these offices), least time left first."""
        query = select(WorkflowCase).where(
            WorkflowCase.closed_at.is_(None), WorkflowCase.assigned_role.in_(list(roles))
        )
        if office_codes is not None:
            query = query.where(WorkflowCase.office_code.in_(list(office_codes)))
        query = query.order_by(WorkflowCase.due_at.is_(None), WorkflowCase.due_at, WorkflowCase.id)
        return list(session.execute(query).scalars())


def find_case(session: Session, workflow: str, subject_type: str, subject_id: str) -> WorkflowCase | None:
    return session.execute(
        select(WorkflowCase).where(
            WorkflowCase.workflow == workflow,
            WorkflowCase.subject_type == subject_type,
            WorkflowCase.subject_id == subject_id,
        )
    ).scalar_one_or_none()


def add_workflow(config: Any, definition: WorkflowDefinition) -> None:
    process_service(config.registry, WorkflowRegistry).add(definition)


ESCALATION_JOB = "workflow.escalate_overdue"
ESCALATION_INTERVAL_SECONDS = 60.0  # time limits are hours or days; a minute late is no breach of note


def includeme(config: Any) -> None:
    registry = config.registry
    flows = WorkflowRegistry()
    config.register_service(flows, WorkflowRegistry)
    config.add_directive("add_workflow", add_workflow)

    def escalate() -> int:
        # One pass over every workflow's overdue cases, in its own transaction; the pushes and
        # SMS its listeners write go to the worker when it commits.
        with unit_of_work(registry) as session:
            return len(flows.escalate_overdue(session))

    # hub-worker runs it (hub.periodic: one worker at a time across machines).
    config.add_periodic_job(ESCALATION_JOB, ESCALATION_INTERVAL_SECONDS, escalate)
