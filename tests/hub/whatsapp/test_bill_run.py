"""The monthly bill run: every opted-in consumer their bill once, through a stop and a lost
resume point, paced by the tier; bills rendered when sent and uploaded once; the report."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from connectors.demo import PERSONAS
from connectors.sms.reference import ReferenceSms
from connectors.whatsapp.reference import RefWhatsAppMedia, set_behaviour
from hub.lookup import process_service, registered
from hub.models import IssuedDocument, OutboxMessage, WhatsAppBillRun, WhatsAppOutbound
from hub.models.meta import utcnow
from hub.outbox import unit_of_work
from hub.periodic import PeriodicJobs, run_due_jobs
from hub.systems import Connectors
from hub.whatsapp import BILL_RUN_JOB
from hub.whatsapp.service import WhatsAppService, run_bill_cycle, start_run, stop_run
from tests.hub.whatsapp.conftest import Channel

CYCLE = "2026-11"


def _opt_in_personas(channel: Channel, headers: dict[str, str]) -> dict[str, str]:
    """Every persona with a connection opts in with all of them; returns consumer -> wa_id."""
    subscribed: dict[str, str] = {}
    for persona in PERSONAS.values():
        if not persona.connections:
            continue
        channel.app.post_json(
            "/api/v1/whatsapp/consents",
            {
                "mobile": persona.mobile,
                "consent": "opted_in",
                "how": "portal",
                "source": f"portal:{persona.key}",
                "bills_for": list(persona.consumer_numbers),
            },
            headers=headers,
        )
        subscribed.update({c: "91" + persona.mobile for c in persona.consumer_numbers})
    return subscribed


def _bill_rows(channel: Channel) -> list[WhatsAppOutbound]:
    with Session(channel.engine) as session:
        return list(session.scalars(select(WhatsAppOutbound).where(WhatsAppOutbound.cycle == CYCLE)))


def test_a_cycle_goes_to_every_opted_in_consumer_once_through_stops_and_a_lost_resume_point(
    channel: Channel, live_client: Any
) -> None:
    headers = live_client(["whatsapp:consent", "whatsapp:read"])["headers"]
    subscribed = _opt_in_personas(channel, headers)
    # One consumer opts out before the run: their connections are not in it.
    leaving = PERSONAS["faulty_meter"]
    channel.app.post_json(
        "/api/v1/whatsapp/consents",
        {"mobile": leaving.mobile, "consent": "opted_out", "how": "app", "source": "app-settings"},
        headers=headers,
    )
    expected = {c for c, wa in subscribed.items() if wa != "91" + leaving.mobile}
    registry = channel.app.app.registry
    with unit_of_work(registry) as session:
        start_run(session, CYCLE)

    first = run_bill_cycle(registry, CYCLE, max_pages=1)  # the worker dies after one page
    assert first.handed_now == 3 and first.state == "running" and first.eligible == len(expected)
    with unit_of_work(registry) as session:
        stop_run(session, CYCLE)
    assert run_bill_cycle(registry, CYCLE).handed_now == 0  # stopped: nothing more
    report = channel.app.get(f"/api/v1/whatsapp/bill-runs/{CYCLE}", headers=headers).json
    assert report["state"] == "stopped" and report["handed_off"] == 3 and report["waiting"] == 3

    with unit_of_work(registry) as session:
        start_run(session, CYCLE)  # resume
    # hub-worker goes on with it (its periodic job), and a restarted worker whose resume point
    # was lost starts from the beginning: the unique key hands nothing off twice.
    job = next(j for j in registered(registry, PeriodicJobs) if j.name == BILL_RUN_JOB)
    assert run_due_jobs(channel.engine, [job], "worker-test") == [BILL_RUN_JOB]
    with channel.engine.begin() as conn:
        conn.execute(update(WhatsAppBillRun).values(state="running", cursor=""))
    again = run_bill_cycle(registry, CYCLE)
    assert again.handed_now == 0 and again.state == "done"

    rows = _bill_rows(channel)
    assert sorted(str(r.consumer_number) for r in rows) == sorted(expected)
    with Session(channel.engine) as session:
        outbox = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "whatsapp.bill")
        )
        rendered_before = session.scalar(select(func.count()).select_from(IssuedDocument))
    assert outbox == len(expected)
    assert rendered_before == 0  # nothing rendered at hand-off

    # The worker sends them: a template with the bill PDF as its document header.
    set_behaviour(channel.wa.engine, "91" + PERSONAS["dues"].mobile, "fail")
    channel.wa.forget_behaviours()
    channel.work()
    channel.work()  # a second pass of the outbox changes nothing
    dues_number = "91" + PERSONAS["dues"].mobile
    sent = channel.sent_to(dues_number)
    assert len(sent) == len(PERSONAS["dues"].connections)
    template = sent[0]["template"]
    assert template["name"] == "mpcz_monthly_bill" and template["language"] == {"code": "hi"}
    header, body = template["components"]
    assert header["parameters"][0]["type"] == "document"
    assert header["parameters"][0]["document"]["filename"].endswith(".pdf")
    assert body["parameters"][0]["text"] == PERSONAS["dues"].name_hi
    with Session(channel.wa.engine) as ref:
        uploads = ref.scalar(select(func.count()).select_from(RefWhatsAppMedia))
    billed = [r for r in _bill_rows(channel) if r.status != "failed" or r.error_code != "consumer_not_found"]
    assert uploads == len(billed)  # one upload per bill

    channel.statuses()
    service: WhatsAppService = process_service(registry, WhatsAppService)
    service.fallback_job()
    channel.work()
    sms: ReferenceSms = process_service(registry, Connectors)["sms"]
    fallback_texts = [m.text for m in sms.messages_to(PERSONAS["dues"].mobile)]
    assert len(fallback_texts) == len(PERSONAS["dues"].connections)
    assert all(t.startswith("MPCZ bill ") for t in fallback_texts)
    report = channel.app.get(f"/api/v1/whatsapp/bill-runs/{CYCLE}", headers=headers).json
    assert report["state"] == "done" and report["handed_off"] == len(expected)
    assert report["failed"] == len(PERSONAS["dues"].connections) + (len(expected) - len(billed))
    assert report["fell_back_to_sms"] == len(PERSONAS["dues"].connections)
    assert report["read"] == report["delivered"] == len(billed) - len(PERSONAS["dues"].connections)
    assert report["waiting"] == 0

    # A second month re-uses nothing it should not: a new cycle, new messages, same PDFs kept.
    with unit_of_work(registry) as session:
        start_run(session, "2026-12")
    assert run_bill_cycle(registry, "2026-12").handed_now == len(expected)


def test_the_run_keeps_to_the_tier_and_goes_on_the_next_day(channel: Channel, live_client: Any) -> None:
    headers = live_client(["whatsapp:consent"])["headers"]
    subscribed = _opt_in_personas(channel, headers)
    registry = channel.app.app.registry
    service: WhatsAppService = process_service(registry, WhatsAppService)
    original = service.settings
    service.settings = dataclasses.replace(original, tier_per_day=4, messages_per_second=2)
    slept: list[float] = []
    try:
        with unit_of_work(registry) as session:
            start_run(session, CYCLE)
        today = run_bill_cycle(registry, CYCLE, sleep=slept.append)
        assert today.handed_now == 4 and today.state == "running"
        # Paced at 2 a second: after the first page of 3 it waited for the number's throughput.
        assert slept and slept[0] > 1.0
        assert run_bill_cycle(registry, CYCLE, sleep=slept.append).handed_now == 0
        with channel.engine.begin() as conn:
            conn.execute(update(WhatsAppBillRun).values(day_started_at=utcnow() - timedelta(hours=25)))
        assert run_bill_cycle(registry, CYCLE, sleep=slept.append).handed_now == 4
    finally:
        service.settings = original
    done = run_bill_cycle(registry, CYCLE)
    assert done.state == "done" and done.handed_off == len(subscribed)


def test_a_connection_without_a_bill_this_cycle_is_skipped_not_failed(
    channel: Channel, live_client: Any
) -> None:
    from connectors.billing.tables import RefLedgerEntry

    headers = live_client(["whatsapp:consent", "whatsapp:read"])["headers"]
    subscribed = _opt_in_personas(channel, headers)
    # Billing holds no bill for one subscribed connection (released since its last run).
    unbilled = PERSONAS["clean"].consumer_numbers[0]
    with channel.wa.engine.begin() as conn:
        conn.execute(delete(RefLedgerEntry).where(RefLedgerEntry.consumer_number == unbilled))
    registry = channel.app.app.registry
    with unit_of_work(registry) as session:
        start_run(session, CYCLE)
    run_bill_cycle(registry, CYCLE, max_seconds=30)
    channel.work()
    rows = {row.consumer_number: row for row in _bill_rows(channel)}
    assert set(rows) == set(subscribed)
    assert rows[unbilled].status == "skipped" and rows[unbilled].error_code is None
    assert all(row.status == "accepted" for number, row in rows.items() if number != unbilled)
    # Nothing to tell it: no SMS stand-in either.
    sms: ReferenceSms = process_service(registry, Connectors)["sms"]
    assert [m for m in sms.messages_to(PERSONAS["clean"].mobile) if m.template_name == "whatsapp_bill"] == []
    report = channel.app.get(f"/api/v1/whatsapp/bill-runs/{CYCLE}", headers=headers).json
    assert (report["skipped"], report["failed"]) == (1, 0)
