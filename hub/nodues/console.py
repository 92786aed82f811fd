"""How a no-dues case looks in the officers' console: the applicant, the connections and the check evidence."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from certs.document import mask_mobile
from hub.console import CaseView, Evidence, Field
from hub.console.labels import details_text, in_ist, value_label
from hub.models.document import IssuedDocument
from hub.models.nodues import NoDuesApplication, NoDuesCheck
from hub.models.workflow import WorkflowCase
from hub.nodues.names import same_name
from hub.nodues.service import IDENTITY_PROOFS

CHECK_LABELS = {
    "dues": ("बकाया राशि", "Outstanding dues"),
    "meter": ("मीटर स्थिति", "Meter status"),
    "ekyc": ("ई-केवाईसी", "e-KYC"),
    "no_connection": ("कोई कनेक्शन नहीं", "No connection in billing"),
    "connection": ("कनेक्शन", "Connection known to billing"),
    "identity": ("पहचान (समग्र)", "Identity (Samagra)"),
    "registered_connections": ("नाम दर्ज अन्य कनेक्शन", "Other connections registered to the person"),
}
PROOF_LABELS = {
    "ekyc": "ई-केवाईसी में यही समग्र आईडी / e-KYC carries this Samagra ID",
    "samagra_otp": "समग्र में दर्ज मोबाइल पर ओटीपी / OTP to the mobile Samagra holds",
}
MISMATCH = "मेल नहीं खाता / MISMATCH"
COLLAPSE_ABOVE = 12  # check rows shown open; more are folded under the summary


def _counts(app: NoDuesApplication, checks: list[NoDuesCheck]) -> list[Field]:
    """The case in four numbers, before any detail."""
    failed = [c for c in checks if c.result != "pass"]
    dues = sum((Decimal(str(c.details.get("amount", "0"))) for c in checks if c.name == "dues"), Decimal("0"))
    return [
        Field("कनेक्शन", "Connections", str(len(app.connections or []))),
        Field("सफल जाँचें", "Checks passed", f"{len(checks) - len(failed)} / {len(checks)}"),
        Field(
            "असफल जाँचें",
            "Checks failed",
            str(len(failed))
            + (
                " — " + ", ".join(sorted({CHECK_LABELS.get(c.name, (c.name, c.name))[1] for c in failed}))
                if failed
                else ""
            ),
        ),
        Field("कुल बकाया", "Total dues", f"₹ {dues:,.2f}"),
    ]


def identity_evidence(app: NoDuesApplication) -> Evidence:
    """The registry's record beside what the applicant typed, each name compared (spelling-tolerant)."""
    rows: list[list[str]] = []
    failed: list[bool] = []
    for hi, en, registry, typed in (
        ("नाम (हिन्दी)", "Name (Devanagari)", app.name_deva, app.typed_name_deva),
        ("नाम (अंग्रेज़ी)", "Name (Latin)", app.name_latin, app.typed_name_latin),
    ):
        if not typed:
            rows.append([f"{hi} / {en}", registry, "—", "नहीं दिया / not given"])
            failed.append(False)
            continue
        ok = same_name(typed, app.name_deva, app.name_latin)
        rows.append([f"{hi} / {en}", registry, typed, "मेल / match" if ok else MISMATCH])
        failed.append(not ok)
    proof = PROOF_LABELS.get(app.identity_proof or "", "प्रमाणित नहीं / NOT PROVED")
    rows.append(["पहचान का प्रमाण / Identity proved by", app.samagra_id, "", proof])
    failed.append(app.identity_proof not in IDENTITY_PROOFS)
    return Evidence(
        "आवेदक की पहचान: समग्र पंजी बनाम आवेदन",
        "Applicant's identity: Samagra registry vs application",
        (
            ("विवरण", "Item"),
            ("समग्र पंजी में", "Samagra registry"),
            ("आवेदन में लिखा", "Typed in the application"),
            ("मिलान", "Comparison"),
        ),
        rows,
        failed,
    )


class NoDuesCaseProvider:
    def _application(self, session: Session, case: WorkflowCase) -> NoDuesApplication | None:
        return session.execute(
            select(NoDuesApplication).where(NoDuesApplication.public_id == case.subject_id)
        ).scalar_one_or_none()

    def title(self, session: Session, case: WorkflowCase) -> str:
        app = self._application(session, case)
        name = (app.name_deva or app.name_latin) if app is not None else ""
        return f"नो ड्यूज प्रमाण-पत्र / No-dues {case.subject_id} — {name}"

    def case_view(self, session: Session, case: WorkflowCase) -> CaseView:
        app = self._application(session, case)
        if app is None:
            return CaseView(title=self.title(session, case))
        purpose = app.purpose or {}
        summary = [
            Field("आवेदन क्रमांक", "Application", app.public_id),
            Field("आवेदक (हिन्दी, समग्र)", "Applicant (Devanagari, Samagra)", app.name_deva or "—"),
            Field("आवेदक (अंग्रेज़ी, समग्र)", "Applicant (Latin, Samagra)", app.name_latin or "—"),
            Field("समग्र आईडी", "Samagra ID", app.samagra_id),
            Field("मोबाइल नंबर", "Mobile", mask_mobile(app.mobile)),
            Field(
                "बिजली कनेक्शन",
                "Connections",
                ", ".join(app.connections) if app.connections else "कोई कनेक्शन नहीं / no connection declared",
            ),
            Field(
                "उद्देश्य",
                "Purpose",
                " · ".join(
                    v
                    for v in (
                        value_label(purpose["election"]) if purpose.get("election") else None,
                        purpose.get("body"),
                        purpose.get("ward"),
                    )
                    if v
                ),
            ),
            Field(
                "बकाया की तिथि", "Dues as of", app.dues_as_of.isoformat() if app.dues_as_of else "आज / today"
            ),
            Field("आवेदन तिथि", "Filed", in_ist(app.created_at)),
        ]
        if app.certificate_id is not None:
            record = session.get(IssuedDocument, app.certificate_id)
            if record is not None:
                summary.append(
                    Field("प्रमाण-पत्र", "Certificate", f"{record.number} ({value_label(record.status)})")
                )
        checks = list(
            session.execute(
                select(NoDuesCheck).where(NoDuesCheck.application_id == app.id).order_by(NoDuesCheck.id)
            ).scalars()
        )
        rows = []
        for c in checks:
            hi, en = CHECK_LABELS.get(c.name, (c.name, c.name))
            rows.append(
                [
                    f"{hi} / {en}",
                    c.consumer_number or "—",
                    value_label(c.result),
                    details_text(c.details),
                    c.evidence_ref,
                    in_ist(c.checked_at, seconds=True),
                ]
            )
        evidence = Evidence(
            "स्वचालित जाँच एवं साक्ष्य",
            "Automatic checks and evidence",
            (
                ("जाँच", "Check"),
                ("उपभोक्ता क्रमांक", "Consumer number"),
                ("परिणाम", "Result"),
                ("विवरण", "Details"),
                ("साक्ष्य संदर्भ", "Evidence reference"),
                ("समय", "Checked at"),
            ),
            rows,
            [c.result != "pass" for c in checks],
            # A many-connection case: the counts above tell the story, the rows are there to open.
            collapsed=len(rows) > COLLAPSE_ABOVE,
        )
        summary[:0] = _counts(app, checks)
        notes = []
        if app.status == "checks_pending":
            notes.append(
                f"जाँच लंबित / Checks pending: {app.check_attempts} attempt(s); {app.last_check_error or ''}"
            )
        return CaseView(
            title=self.title(session, case),
            summary=summary,
            evidence=[identity_evidence(app), evidence],
            notes=notes,
        )
