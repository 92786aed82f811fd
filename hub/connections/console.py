"""What the officer console shows of a new-connection case (hub.console.CaseProvider)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.connections.service import ConnectionService
from hub.console import CaseView, Evidence, Field
from hub.console.views import statutory_clock
from hub.models.connection import ConnectionDocument
from hub.models.meta import utcnow
from hub.models.workflow import WorkflowCase


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
            Field("श्रेणी", "Category", app.category),
            Field(
                "भार",
                "Load",
                f"{app.connected_load_kw} kW"
                + (f" / {app.contract_demand_kva} kVA" if app.contract_demand_kva else ""),
            ),
            Field("आपूर्ति वोल्टेज", "Supply voltage", app.supply_voltage),
            Field("ज़िला / क्षेत्र", "District / area", f"{app.district} / {app.area_class}"),
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
        documents = session.execute(
            select(ConnectionDocument)
            .where(ConnectionDocument.application_id == app.id)
            .order_by(ConnectionDocument.id)
        ).scalars()
        evidence = Evidence(
            "दस्तावेज़",
            "Documents",
            [("प्रकार", "Type"), ("फ़ाइल", "File"), ("आकार", "Size"), ("SHA-256", "SHA-256")],
            [[d.doc_type, d.file_name, f"{d.size} B", d.sha256[:16] + "…"] for d in documents],
        )
        return CaseView(title=self.title(session, case), summary=summary, evidence=[evidence])
