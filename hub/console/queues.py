"""One work list across every flow: what waits on this officer, whatever flow it belongs to.

Each flow contributes a :class:`QueueSource`: a function that, given the officer's roles and
offices, returns a ``SELECT`` of the flow's waiting items in the common shape
(:data:`ITEM_COLUMNS`), or ``None`` when the officer has no part in that flow. The console
puts the sources together with ``UNION ALL`` and lets the database filter, search, sort (what
breaches first) and page, so a page costs one query for the rows and one for the count, however
many items wait.

A flow registers its source with ``config.add_queue_source(source)`` (after
``config.include("hub.console")``). A flow on the workflow engine needs only
:func:`workflow_queue_source`: its cases are listed with the officer's roles and offices the
engine already records; a join to the flow's own table adds the consumer number and mobile
the search looks at. Workflow cases no source claims are still listed, under "other".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause

from forms.newconnection.workflow import WORKFLOW_NAME as CONNECTION_WORKFLOW
from hub.lookup import registered
from hub.models.bills import BillPayment, PaymentState
from hub.models.complaint import Complaint
from hub.models.connection import ConnectionApplication
from hub.models.meta import UTCDateTime
from hub.models.meter import CommandStatus, MeterCommand
from hub.models.nodues import NoDuesApplication
from hub.models.workflow import WorkflowCase

PAGE_SIZE = 25
# Who may resolve a payment held in suspense (the same roles hub.bills.console lets in).
SUSPENSE_ROLES = frozenset({"revenue", "dgm", "gm"})
# A payment in suspense is the consumer's money the discom holds: resolved within three days.
SUSPENSE_HOURS = 72
# A reconnection the head-end failed leaves a paying consumer dark: the visit is due within a day.
FIELD_VISIT_HOURS = 24
FIELD_VISIT_ROLES = frozenset({"dc_assistant_manager", "dc_manager", "dgm", "gm", "lineman"})

# The common shape every source selects, in this order and with these labels.
ITEM_COLUMNS = (
    "flow",  # the source's name (complaints, nodues, ...)
    "kind",  # the workflow's name, or the flow's own sub-kind: picks the status label
    "item_id",  # the key the source's link needs (a case id, a payment id)
    "reference",  # what the officer reads and searches: complaint / application / transaction no
    "consumer_number",
    "mobile",
    "office_code",
    "status",
    "due_at",  # when it breaches (NULL: no time limit)
    "opened_at",
    "escalation_level",
)


@dataclass(frozen=True)
class QueueSource:
    """A flow's part of the work list.

    ``items(roles, offices)`` returns a SELECT with :data:`ITEM_COLUMNS` (use :func:`item_select`),
    or None when none of the roles works this flow. ``link(request, item_id)`` is the page where
    the officer acts on an item. ``status_label(request, kind, status)`` is (Hindi, English).
    ``claims`` (for workflow-based flows) is a SQL test on ``WorkflowCase.workflow`` naming its
    cases, so the catch-all "other" source leaves them out.
    """

    flow: str
    label_hi: str
    label_en: str
    items: Callable[[Sequence[str], Sequence[str]], Select[Any] | None]
    link: Callable[[Request, str], str]
    status_label: Callable[[Request, str, str], tuple[str, str]]
    claims: Callable[[Any], ColumnElement[bool]] | None = None


def item_select(
    *,
    flow: str,
    kind: Any,
    item_id: Any,
    reference: Any,
    consumer_number: Any,
    mobile: Any,
    office_code: Any,
    status: Any,
    due_at: Any,
    opened_at: Any,
    escalation_level: Any = 0,
) -> Select[Any]:
    """A SELECT in the common shape (types cast so every UNION ALL branch agrees)."""

    def text(value: Any) -> Any:
        return cast(value if value is not None else null(), String)

    return select(
        literal(flow, String).label("flow"),
        text(kind).label("kind"),
        text(item_id).label("item_id"),
        text(reference).label("reference"),
        text(consumer_number).label("consumer_number"),
        text(mobile).label("mobile"),
        text(office_code).label("office_code"),
        text(status).label("status"),
        type_coerce(due_at, UTCDateTime()).label("due_at"),
        type_coerce(opened_at, UTCDateTime()).label("opened_at"),
        (escalation_level if not isinstance(escalation_level, int) else literal(escalation_level)).label(
            "escalation_level"
        ),
    )


class QueueSources(dict[str, QueueSource]):
    """The flows' work-list sources, by flow (``config.add_queue_source``)."""


def add_queue_source(config: Configurator, source: QueueSource) -> None:
    """``config.add_queue_source(source)``: the flow's items join every officer's work list."""

    def register() -> None:
        registered(config.registry, QueueSources)[source.flow] = source

    config.action(("hub.console.queue_source", source.flow), register)


# -- workflow-based flows ------------------------------------------------------------------------


def _workflow_status(request: Request, kind: str, status: str) -> tuple[str, str]:
    from hub.workflow import WorkflowRegistry

    workflows: WorkflowRegistry = request.find_service(WorkflowRegistry)
    if kind not in workflows.latest:
        return status, status
    state = workflows.get(kind).state(status)
    return state.label_hi, state.label_en


def _case_link(request: Request, item_id: str) -> str:
    return str(request.route_path("console.case", case_id=item_id))


def workflow_queue_source(
    flow: str,
    label_hi: str,
    label_en: str,
    claims: Callable[[Any], ColumnElement[bool]],
    subject: tuple[FromClause, Any, Any, Any] | None = None,
) -> QueueSource:
    """A source for a flow on the workflow engine.

    ``claims(WorkflowCase.workflow)`` names its workflows (e.g. ``lambda w: w == "bill_correction"``).
    ``subject`` = (the flow's table, its column equal to the case's ``subject_id``, its consumer
    number column, its mobile column) lets the officer find a case by consumer number or mobile.
    """

    def items(roles: Sequence[str], offices: Sequence[str]) -> Select[Any] | None:
        consumer: Any = None
        mobile: Any = None
        if subject is not None:
            table, key, consumer, mobile = subject
        query = item_select(
            flow=flow,
            kind=WorkflowCase.workflow,
            item_id=WorkflowCase.id,
            reference=WorkflowCase.subject_id,
            consumer_number=consumer,
            mobile=mobile,
            office_code=WorkflowCase.office_code,
            status=WorkflowCase.state,
            due_at=WorkflowCase.due_at,
            opened_at=WorkflowCase.created_at,
            escalation_level=WorkflowCase.escalation_level,
        ).where(
            WorkflowCase.closed_at.is_(None),
            WorkflowCase.assigned_role.in_(list(roles)),
            WorkflowCase.office_code.in_(list(offices)),
            claims(WorkflowCase.workflow),
        )
        if subject is not None:
            query = query.select_from(WorkflowCase).outerjoin(table, key == WorkflowCase.subject_id)
        return query

    return QueueSource(flow, label_hi, label_en, items, _case_link, _workflow_status, claims)


def _other_workflows(registry: dict[str, QueueSource]) -> QueueSource:
    """Workflow cases no flow's source claims (a new flow before it registers one): never lost."""

    def claims(column: Any) -> ColumnElement[bool]:
        claimed = [s.claims(column) for s in registry.values() if s.claims is not None and s.flow != "other"]
        return ~or_(*claimed) if claimed else ~false()

    source = workflow_queue_source("other", "अन्य", "Other", claims)
    return QueueSource(
        source.flow, source.label_hi, source.label_en, source.items, source.link, source.status_label
    )


# -- payments in suspense and reconnections waiting for a visit ----------------------------------

SUSPENSE_LABEL = ("निलंबित भुगतान", "Payment in suspense")
FIELD_VISIT_LABEL = ("क्षेत्र भ्रमण आवश्यक", "Field visit needed")


def _suspense_items(roles: Sequence[str], offices: Sequence[str]) -> Select[Any] | None:
    if not SUSPENSE_ROLES.intersection(roles):
        return None
    # A payment is the discom's, not an office's, until billing says whose consumer it is.
    return item_select(
        flow="suspense",
        kind=BillPayment.suspense_reason,
        item_id=BillPayment.id,
        reference=BillPayment.transaction_id,
        consumer_number=BillPayment.consumer_number,
        mobile=None,
        office_code=None,
        status=BillPayment.state,
        due_at=plus_hours(BillPayment.received_at, SUSPENSE_HOURS),
        opened_at=BillPayment.received_at,
    ).where(BillPayment.state == PaymentState.SUSPENSE.value)


def _field_visit_items(roles: Sequence[str], offices: Sequence[str]) -> Select[Any] | None:
    if not FIELD_VISIT_ROLES.intersection(roles):
        return None
    return item_select(
        flow="reconnections",
        kind=MeterCommand.failure_code,
        item_id=MeterCommand.id,
        reference=MeterCommand.transaction_id,
        consumer_number=MeterCommand.consumer_number,
        mobile=MeterCommand.mobile,
        office_code=MeterCommand.dc_code,
        status=MeterCommand.status,
        due_at=plus_hours(MeterCommand.updated_at, FIELD_VISIT_HOURS),
        opened_at=MeterCommand.updated_at,
    ).where(MeterCommand.status == CommandStatus.FIELD_VISIT.value, MeterCommand.dc_code.in_(list(offices)))


def plus_hours(column: Any, hours: int) -> Any:
    """``column + N hours`` in the database's own arithmetic (PostgreSQL interval, SQLite strftime)."""
    return func.hub_plus_hours(column, literal(hours), type_=UTCDateTime())


def _compile_plus_hours() -> None:
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.sql.functions import GenericFunction

    class hub_plus_hours(GenericFunction[datetime]):  # noqa: N801 - SQL function name
        inherit_cache = True
        name = "hub_plus_hours"

    @compiles(hub_plus_hours, "postgresql")
    def _pg(element: Any, compiler: Any, **kw: Any) -> str:
        column, hours = list(element.clauses)
        return f"({compiler.process(column, **kw)} + make_interval(hours => {compiler.process(hours, **kw)}))"

    @compiles(hub_plus_hours, "sqlite")
    def _sqlite(element: Any, compiler: Any, **kw: Any) -> str:
        column, hours = list(element.clauses)
        return (
            f"strftime('%Y-%m-%d %H:%M:%S', {compiler.process(column, **kw)}, "
            f"'+' || {compiler.process(hours, **kw)} || ' hours')"
        )


_compile_plus_hours()


def _fixed_label(label: tuple[str, str]) -> Callable[[Request, str, str], tuple[str, str]]:
    return lambda request, kind, status: label


SUSPENSE_SOURCE = QueueSource(
    "suspense",
    "निलंबित भुगतान",
    "Payments in suspense",
    _suspense_items,
    lambda request, item_id: str(request.route_path("console.bills.suspense")) + f"#payment-{item_id}",
    _fixed_label(SUSPENSE_LABEL),
)
FIELD_VISIT_SOURCE = QueueSource(
    "reconnections",
    "विफल पुनः संयोजन",
    "Failed reconnections",
    _field_visit_items,
    lambda request, item_id: str(request.route_path("meters.field_visits")) + f"#command-{item_id}",
    _fixed_label(FIELD_VISIT_LABEL),
)
COMPLAINTS_SOURCE = workflow_queue_source(
    "complaints",
    "शिकायतें",
    "Complaints",
    lambda workflow: workflow.like("complaint.%"),
    (Complaint.__table__, Complaint.complaint_no, Complaint.consumer_number, Complaint.mobile),
)
NODUES_SOURCE = workflow_queue_source(
    "nodues",
    "बकाया-मुक्त प्रमाणपत्र",
    "No-dues certificates",
    lambda workflow: workflow == "nodues",
    (NoDuesApplication.__table__, NoDuesApplication.public_id, None, NoDuesApplication.mobile),
)
CONNECTIONS_SOURCE = workflow_queue_source(
    "connections",
    "नए कनेक्शन",
    "New connections",
    lambda workflow: workflow == CONNECTION_WORKFLOW,
    (
        ConnectionApplication.__table__,
        ConnectionApplication.application_no,
        ConnectionApplication.consumer_number,
        ConnectionApplication.mobile,
    ),
)
BUILT_IN = (COMPLAINTS_SOURCE, NODUES_SOURCE, CONNECTIONS_SOURCE, SUSPENSE_SOURCE, FIELD_VISIT_SOURCE)


# -- the work list ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    flow: str = ""
    status: str = ""
    office: str = ""
    overdue: bool = False
    search: str = ""
    page: int = 1


@dataclass(frozen=True)
class QueuePage:
    rows: list[Any]
    total: int
    page: int
    pages: int


def sources(registry: Any) -> list[QueueSource]:
    by_flow = registered(registry, QueueSources)
    return [*by_flow.values(), _other_workflows(by_flow)]


def work_list(
    session: Session,
    registered: Sequence[QueueSource],
    roles: Sequence[str],
    offices: Sequence[str],
    wanted: QueueFilter,
    now: datetime,
    page_size: int = PAGE_SIZE,
) -> QueuePage:
    """One page of what waits on the officer, what breaches first on top (no limit last)."""
    parts = [
        q
        for s in registered
        if not wanted.flow or s.flow == wanted.flow
        if (q := s.items(roles, offices)) is not None
    ]
    if not parts:
        return QueuePage([], 0, 1, 1)
    items = union_all(*parts).subquery("items")
    conditions: list[ColumnElement[bool]] = []
    if wanted.status:
        conditions.append(items.c.status == wanted.status)
    if wanted.office:
        conditions.append(items.c.office_code == wanted.office)
    if wanted.overdue:
        conditions.append(items.c.due_at < now)
    if wanted.search:
        term = wanted.search
        conditions.append(
            or_(items.c.reference == term, items.c.consumer_number == term, items.c.mobile == term)
        )
    where = and_(*conditions) if conditions else None
    counted = select(func.count()).select_from(items)
    listed = select(items)
    if where is not None:
        counted, listed = counted.where(where), listed.where(where)
    total = int(session.execute(counted).scalar_one())
    pages = max(1, -(-total // page_size))
    page = min(max(1, wanted.page), pages)
    rows = list(
        session.execute(
            listed.order_by(items.c.due_at.is_(None), items.c.due_at, items.c.flow, items.c.item_id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    )
    return QueuePage(rows, total, page, pages)


def includeme(config: Configurator) -> None:
    config.add_directive("add_queue_source", add_queue_source)
    for source in BUILT_IN:
        config.add_queue_source(source)  # type: ignore[attr-defined]
