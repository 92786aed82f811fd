"""Two at once: the same ticket from two call-centre retries, two officers on one complaint."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models.complaint import Complaint
from hub.models.workflow import WorkflowEvent
from tests.hub.complaints.conftest import ComplaintFlow


def _together(*calls: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_the_same_ticket_twice_at_once_registers_one_complaint(flow: ComplaintFlow) -> None:
    answers = _together(*(lambda: flow.call(ticket_id="T-RACE-1") for _ in range(2)))
    assert sorted(a.status_int for a in answers) == [200, 201]
    assert answers[0].json["complaint_no"] == answers[1].json["complaint_no"]
    with Session(flow.engine) as session:
        count = session.execute(
            select(func.count()).select_from(Complaint).where(Complaint.ticket_id == "T-RACE-1")
        ).scalar_one()
    assert count == 1


def test_two_officers_resolving_at_once_resolve_once(flow: ComplaintFlow) -> None:
    number, _ = flow.persona()
    complaint_no = flow.call(status=201).json["complaint_no"]
    dc = flow.dc_of(number)
    first, second = flow.officer(["dc_assistant_manager"], [dc]), flow.officer(["dc_assistant_manager"], [dc])
    answers = _together(
        lambda: flow.act(first, complaint_no, "resolve", "Fuse replaced by lineman A"),
        lambda: flow.act(second, complaint_no, "resolve", "Fuse replaced by lineman B"),
    )
    assert sorted(a.status_int for a in answers) == [302, 409]
    with Session(flow.engine) as session:
        resolutions = session.execute(
            select(func.count())
            .select_from(WorkflowEvent)
            .where(WorkflowEvent.action == "resolve")
            .where(WorkflowEvent.case_id == flow.case_id(complaint_no))
        ).scalar_one()
    assert resolutions == 1
