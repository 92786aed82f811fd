"""What the officer console shows of a new-connection case (hub.console.CaseProvider)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.connections.service import ConnectionService
from hub.console import CaseView, Evidence, Field
from hub.console.labels import in_ist, value_label
from hub.console.views import statutory_clock
from hub.models.connection import ConnectionDocument
from hub.models.meta import utcnow
from hub.models.workflow import WorkflowCase, WorkflowEvent


class ConnectionCaseProvider:
    def __init__(self, service: ConnectionService) -> None:
        self.service = service

    def title(self, session: Session, case: WorkflowCase) -> str:
        application = self.service.by_number(session, case.subject_id)
        return f"{application.application_no} · {application.enterprise_name}"

    def case_view(self, session: Session, case: WorkflowCase) -> CaseView:
        app = self.service.by_number(session, case.subject_id)
        left, due_ist, passed = statutory_clock(case, utcnow())
        due = f"{due_ist} · {left}" if due_ist else "-"
        if passed:
            due = "वैधानिक तिथि पार / statutory date passed · " + due
        summary = [
            Field("आवेदन क्रमांक", "Application number", app.application_no),
            Field("सिंगल विंडो आईडी", "Single-window id", app.sw_application_id),
            Field("आवेदक", "Applicant", app.enterprise_name),
            Field("श्रेणी", "Category", value_label(app.category)),
            Field(
                "भार",
                "Load",
                f"{app.connected_load_kw} kW"
                + (f" / {app.contract_demand_kva} kVA" if app.contract_demand_kva else ""),
            ),
            Field("आपूर्ति वोल्टेज", "Supply voltage", value_label(app.supply_voltage)),
            Field("ज़िला", "District", value_label(app.district)),
            Field("क्षेत्र की श्रेणी", "Area class", value_label(app.area_class)),
            Field("वैधानिक समय-सीमा", "Statutory due date", due),
        ]
        if app.query_text:
            summary.append(Field("आवेदक से प्रश्न", "Query to the applicant", app.query_text))
        if app.demand_note_number:
            summary.append(
                Field("मांग पत्र", "Demand note", f"{app.demand_note_number} (₹ {app.demand_amount})")
            )
        if app.sanction_letter_number:
            summary.append(Field("स्वीकृति पत्र", "Sanction letter", app.sanction_letter_number))
        documents = list(
            session.execute(
                select(ConnectionDocument)
                .where(ConnectionDocument.application_id == app.id)
                .order_by(ConnectionDocument.id)
            ).scalars()
        )
        evidence = [
            Evidence(
                "दस्तावेज़",
                "Documents",
                [
                    ("प्रकार", "Type"),
                    ("फ़ाइल", "File"),
                    ("आकार", "Size"),
                    ("प्राप्त", "Received"),
                    ("SHA-256", "SHA-256"),
                ],
                [
                    [
                        value_label(d.doc_type),
                        d.file_name,
                        f"{d.size} B",
                        in_ist(d.received_at),
                        d.sha256[:16] + "…",
                    ]
                    for d in documents
                ],
            )
        ]
        queries = _queries_and_answers(session, case, documents)
        if queries:
            evidence.insert(0, queries)
        return CaseView(title=self.title(session, case), summary=summary, evidence=evidence)


def _queries_and_answers(
    session: Session, case: WorkflowCase, documents: list[ConnectionDocument]
) -> Evidence | None:
    """Each question the office asked beside the applicant's answer and the documents sent with it.

    The answer is kept in the workflow event of the single window's ``answer`` (its data), and
    documents sent with it carry the same received time.
    """
    events = session.execute(
        select(WorkflowEvent)
        .where(WorkflowEvent.case_id == case.id, WorkflowEvent.action.in_(("raise_query", "answer")))
        .order_by(WorkflowEvent.seq)
    ).scalars()
    rows: list[list[str]] = []
    waiting: list[bool] = []
    for event in events:
        if event.action == "raise_query":
            rows.append([in_ist(event.at), event.reason or "", "", "उत्तर की प्रतीक्षा / no answer yet", ""])
            waiting.append(True)
        elif rows and waiting[-1]:
            sent = [
                f"{value_label(d.doc_type)}: {d.file_name}" for d in documents if d.received_at == event.at
            ]
            rows[-1][2] = in_ist(event.at)
            rows[-1][3] = str((event.data or {}).get("answer") or "—")
            rows[-1][4] = "; ".join(sent) or "—"
            waiting[-1] = False
    if not rows:
        return None
    return Evidence(
        "आवेदक से प्रश्न एवं उत्तर",
        "Queries to the applicant and answers",
        [
            ("पूछा गया", "Asked"),
            ("प्रश्न", "Question"),
            ("उत्तर दिया", "Answered"),
            ("उत्तर", "Answer"),
            ("साथ भेजे दस्तावेज़", "Documents sent with it"),
        ],
        rows,
        waiting,
    )
