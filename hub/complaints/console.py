"""How a complaint looks in the officers' console: the consumer, the standard, the level, what was done."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from certs.document import mask_mobile
from hub.complaints.service import ROLE_NAMES, ComplaintService
from hub.console import CaseView, Field
from hub.console.labels import in_ist
from hub.models.complaint import Complaint
from hub.models.workflow import WorkflowCase

CHANNELS = {
    "callcentre": "1912 कॉल सेंटर / 1912 call centre",
    "portal": "पोर्टल / ऐप — portal / app",
    "office": "कार्यालय / office",
}


class ComplaintCaseProvider:
    def __init__(self, service: ComplaintService) -> None:
        self.service = service

    def _complaint(self, session: Session, case: WorkflowCase) -> Complaint | None:
        return session.execute(
            select(Complaint).where(Complaint.complaint_no == case.subject_id)
        ).scalar_one_or_none()

    def title(self, session: Session, case: WorkflowCase) -> str:
        complaint = self._complaint(session, case)
        if complaint is None:
            return f"शिकायत / Complaint {case.subject_id}"
        kind = self.service.kind(complaint.complaint_type)
        return f"शिकायत / Complaint {case.subject_id} — {kind.label_hi} / {kind.label_en}"

    def case_view(self, session: Session, case: WorkflowCase) -> CaseView:
        complaint = self._complaint(session, case)
        if complaint is None:
            return CaseView(title=self.title(session, case))
        kind = self.service.kind(complaint.complaint_type)
        level_role = kind.levels[complaint.level]
        level_en, level_hi = ROLE_NAMES.get(level_role, (level_role, level_role))
        summary = [
            Field("शिकायत नंबर", "Complaint number", complaint.complaint_no),
            Field("प्रकार", "Type", f"{kind.label_hi} / {kind.label_en}"),
            Field("उपभोक्ता क्रमांक", "Consumer number", complaint.consumer_number),
            Field("मोबाइल नंबर", "Mobile", mask_mobile(complaint.mobile)),
            Field("विवरण", "Description", complaint.description),
            Field("माध्यम", "Received through", CHANNELS.get(complaint.channel, complaint.channel)),
            Field("पंजीकरण", "Registered", in_ist(complaint.registered_at)),
            Field(
                "मानक समय-सीमा",
                "Standard of performance",
                f"{kind.standard_hours:g} h — {in_ist(complaint.sop_due_at)}",
            ),
            Field("स्तर", "Level", f"{complaint.level}: {level_hi} / {level_en}"),
        ]
        if complaint.action_taken:
            summary.append(Field("की गई कार्यवाही", "Action taken", complaint.action_taken))
        if complaint.reopen_count:
            summary.append(Field("पुनः खोली गई", "Reopened", str(complaint.reopen_count)))
        if complaint.rating is not None:
            summary.append(Field("उपभोक्ता की रेटिंग", "Consumer's rating", f"{complaint.rating} / 5"))
        if complaint.compensation_amount is not None:
            credited = complaint.compensation_receipt or "लंबित / pending"
            summary.append(
                Field("क्षतिपूर्ति", "Compensation", f"₹ {complaint.compensation_amount:,.2f} ({credited})")
            )
        notes = []
        if kind.compensation is not None:
            notes.append(
                f"मानक पार होने पर क्षतिपूर्ति बिल में / Missing the standard credits ₹{kind.compensation.rupees} "
                f"per {kind.compensation.per_hours} h late (at most ₹{kind.compensation.maximum})"
            )
        return CaseView(title=self.title(session, case), summary=summary, notes=notes)
