"""Drive reconnection as its users do: billing's payment posting, hub-worker, the head-end, officers."""

from __future__ import annotations

import itertools
import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.demo import PERSONAS
from hub.lookup import process_service, registered
from hub.models.meter import CommandStatus, MeterCommand
from hub.outbox import DeliveryOutcome, enqueue, unit_of_work
from hub.periodic import PeriodicJobs
from hub.systems import Connectors
from tests.hub.outbox_drain import drain_outbox

METER_SETTINGS: dict[str, str] = {
    "hub.console.secure_cookie": "false",
    "hub.meters.max_attempts": "2",
    "hub.meters.retry_seconds": "60",
    # Disconnections may leave at any hour here; the hours themselves are tested on their own.
    "hub.meters.switching_hours": "0-24",
    "hub.meters.switching_days": "mon tue wed thu fri sat sun",
}
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PAYMENTS = itertools.count(secrets.randbelow(10**9) + 1)


class MeterFlow:
    def __init__(self, app: TestApp, engine: Engine, reference: Engine, make_client: Any) -> None:
        self.app = app
        self.engine = engine
        self.reference = reference  # the outside systems' own store (the head-end's commands)
        self.registry = app.app.registry
        self.connectors = process_service(self.registry, Connectors)
        self.headers = make_client(["meters:read"])["headers"]

    @staticmethod
    def persona(key: str) -> tuple[str, str, str]:
        """(consumer number, meter number, mobile) of a demo persona's first connection."""
        persona = PERSONAS[key]
        number = persona.consumer_numbers[0]
        return number, "DEMO" + number, persona.mobile

    # -- billing posts a payment, as the bills flow does -------------------------------------
    def pay(self, consumer_number: str, amount: str, payment_id: int | None = None) -> int:
        payment_id = payment_id or next(_PAYMENTS)
        self.connectors["billing"].post_payment(
            consumer_number, Decimal(amount), f"PAY-{payment_id}", datetime.now(UTC), "gateway"
        )
        self.payment_posted(consumer_number, payment_id, amount)
        return payment_id

    def payment_posted(self, consumer_number: str, payment_id: int, amount: str) -> None:
        with unit_of_work(self.registry) as session:
            enqueue(
                session,
                "meters.payment_posted",
                {
                    "consumer_number": consumer_number,
                    "payment_id": payment_id,
                    "amount": amount,
                    "channel": "gateway",
                },
                key=f"payment:{payment_id}",
            )

    def disconnection_ordered(self, consumer_number: str, order_id: int, notice_served_on: str) -> None:
        """Billing orders a disconnection for non-payment after serving the written notice."""
        with unit_of_work(self.registry) as session:
            enqueue(
                session,
                "meters.disconnection_ordered",
                {
                    "consumer_number": consumer_number,
                    "order_id": order_id,
                    "notice_served_on": notice_served_on,
                },
                key=f"disconnection:{consumer_number}",
            )

    # -- hub-worker ---------------------------------------------------------------------------
    def drain(self) -> list[DeliveryOutcome]:
        return drain_outbox(self.registry, self.engine)

    def watch(self) -> object:
        """The periodic job as hub-worker runs it."""
        job = next(j for j in registered(self.registry, PeriodicJobs) if j.name == "meters.watch")
        return job.run()

    def time_passes(self) -> None:
        """Every window and backoff runs out (the clock moved on)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(MeterCommand)
                .where(MeterCommand.next_check_at.is_not(None))
                .values(next_check_at=datetime(2000, 1, 1, tzinfo=UTC))
            )

    # -- the head-end -------------------------------------------------------------------------
    def deliver_notifications(self, status: int | str = "*") -> list[Any]:
        """The head-end POSTs what it owes to the response URL (here: the app under test)."""
        answers = []
        for note in self.connectors["headend"].take_notifications():
            answers.append(
                self.app.post(urlsplit(note.url).path, note.body, headers=note.headers, status=status)
            )
        return answers

    # -- reading ------------------------------------------------------------------------------
    def status(self, consumer_number: str) -> dict[str, Any]:
        return dict(
            self.app.get(f"/api/v1/meters/reconnections/{consumer_number}", headers=self.headers).json
        )

    def commands(self, consumer_number: str) -> list[MeterCommand]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                session.scalars(select(MeterCommand).where(MeterCommand.consumer_number == consumer_number))
            )

    def headend_commands(self, meter_no: str) -> int:
        from connectors.headend.tables import RefHesCommand

        with self.reference.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(RefHesCommand).where(RefHesCommand.meter_no == meter_no)
                ).scalar_one()
            )

    def sms(self, mobile: str) -> list[Any]:
        sent = self.connectors["sms"].messages_to(mobile)
        return [m for m in sent if m.template_name == "meter_reconnected"]

    # -- officers -----------------------------------------------------------------------------
    def console(self, username: str, offices: list[str]) -> TestApp:
        from hub.console.officers import create_officer

        with Session(self.engine) as session, session.begin():
            create_officer(session, username, "सुरेश वर्मा", PASSWORD, ["dc_manager"], offices)
        browser = TestApp(self.app.app)
        token = CSRF.search(browser.get("/console/login").text)
        assert token is not None
        answer = browser.post(
            "/console/login", {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        assert answer.status_int == 302, answer.text
        return browser


__all__ = ["METER_SETTINGS", "CommandStatus", "MeterFlow"]
