"""Live-mode fixtures for bill corrections: the complaints' helpers (reference billing and SMS with the
demo personas, officers signing in to the console, the worker), plus the correction's own steps."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.billing.reference import ledger_t
from hub.models.correction import BillCorrection
from hub.models.workflow import WorkflowCase
from tests.hub.complaints.conftest import CSRF, ComplaintFlow

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OFFICE = ["dc_office_assistant"]


class CorrectionFlow(ComplaintFlow):
    def offices(self, consumer_number: str) -> Any:
        return self.connectors["billing"].get_consumer(consumer_number).offices

    def propose(
        self,
        browser: TestApp,
        status: int | str = "*",
        files: list[tuple[str, bytes]] | None = None,
        **fields: str,
    ) -> Any:
        number, _ = self.persona()
        form = {
            "consumer_number": number,
            "bill_period": "2026-10",
            "reading_billed": "4210",
            "reading_correct": "2410",
            "amount_billed": "16540.00",
            "amount_correct": "8540.00",
            "reason": "मीटर रीडिंग गलत दर्ज हुई / reading keyed as 4210 for 2410",
            **fields,
        }
        page = browser.get("/console/corrections/new")
        token = CSRF.search(page.text)
        assert token is not None
        form["csrf_token"] = token.group(1)
        uploads = [("evidence", name, content) for name, content in (files or [("bill.pdf", PDF)])]
        return browser.post("/console/corrections/new", form, upload_files=uploads, status=status)

    def act(
        self, browser: TestApp, complaint_no: str, action: str, reason: str = "", status: int | str = "*"
    ) -> Any:
        """The officer opens the case page (another office's case sends them back to the queue)
        and takes ``action``; ``status`` is the decision's answer."""
        case_id = self.case_id(complaint_no)
        page = browser.get(f"/console/cases/{case_id}")
        if page.status_int != 200:
            return page
        token = CSRF.search(page.text)
        assert token is not None
        return browser.post(
            f"/console/cases/{case_id}/decide",
            {"action": action, "reason": reason, "csrf_token": token.group(1), "confirm": "yes"},
            status=status,
        )

    def latest(self, consumer_number: str) -> BillCorrection:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(
                select(BillCorrection)
                .where(BillCorrection.consumer_number == consumer_number)
                .order_by(BillCorrection.id.desc())
                .limit(1)
            ).scalar_one()

    def count(self) -> int:
        with Session(self.engine) as session:
            return int(session.execute(select(func.count()).select_from(BillCorrection)).scalar_one())

    def case(self, correction_no: str) -> WorkflowCase:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.execute(
                select(WorkflowCase).where(WorkflowCase.subject_id == correction_no)
            ).scalar_one()

    def credits(self, correction_no: str) -> int:
        with self.reference.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(ledger_t)
                    .where(ledger_t.c.reference == f"BC/{correction_no}")
                ).scalar_one()
            )

    def portal_read(self, correction_no: str, consumer_number: str, status: int | str = 200) -> Any:
        return self.app.get(
            f"/api/v1/corrections/{correction_no}",
            {"consumer_number": consumer_number},
            headers=self.portal,
            status=status,
        )


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    return {**live_settings, "hub.console.secure_cookie": "false"}


@pytest.fixture()
def flow(
    live_app: TestApp, live_engine: Engine, live_reference_engine: Engine, live_client: Any
) -> CorrectionFlow:
    from sqlalchemy import delete

    from connectors.demo import generate_demo_data
    from connectors.reference_db import set_down
    from connectors.sms.reference import RefSmsMessage
    from hub.models.outbox import OutboxMessage

    generate_demo_data(live_reference_engine, consumers=20, seed=1, replace=True)
    with live_reference_engine.begin() as conn:
        conn.execute(delete(RefSmsMessage))
    with live_engine.begin() as conn:
        conn.execute(delete(OutboxMessage))
    set_down(live_reference_engine, "billing", False)
    return CorrectionFlow(live_app, live_engine, live_reference_engine, live_client)
