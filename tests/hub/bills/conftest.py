"""Live-mode fixtures for bills and payments: demo billing reloaded per test, partners, the worker,
revenue officers in the console."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.billing.tables import RefLedgerEntry
from connectors.demo import PERSONAS, generate_demo_data
from connectors.payment import SignedCallback
from connectors.payment.reference import ReferencePayment
from hub.console.officers import create_officer
from hub.lookup import process_service
from hub.models import BillPayment, BillPaymentOrder, Officer, OutboxMessage, PaymentEvent
from hub.outbox import DeliveryOutcome
from hub.systems import Connectors
from tests.hub.outbox_drain import drain_outbox

DUES = PERSONAS["dues"].consumer_numbers[0]  # owes 4572.50
DUES_CLEAR = PERSONAS["dues"].consumer_numbers[1]
DISCONNECTED = PERSONAS["disconnected_smart"].consumer_numbers[0]  # owes 1830.00
CLEAN = PERSONAS["clean"].consumer_numbers[0]
UNKNOWN = "1019999999"


@dataclass
class Bills:
    app: TestApp
    engine: Engine
    partner: Callable[..., dict[str, Any]]
    reference: Engine  # the outside systems' own store (billing's ledger)

    def headers(self, *scopes: str) -> dict[str, str]:
        return dict(self.partner(list(scopes))["headers"])

    @property
    def gateway(self) -> ReferencePayment:
        gateway: ReferencePayment = process_service(self.app.app.registry, Connectors)["payment"]
        return gateway

    def drain(self, connectors: dict[str, Any] | None = None) -> list[DeliveryOutcome]:
        registry = self.app.app.registry
        if connectors is None:
            return drain_outbox(registry, self.engine)
        from hub.lookup import registered
        from hub.outbox import OutboxHandlers, deliverer_from_settings

        deliverer = deliverer_from_settings(
            registry.settings, self.engine, connectors, registered(registry, OutboxHandlers)
        )
        with self.engine.connect() as conn:
            ids = list(
                conn.execute(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.status == "pending")
                    .order_by(OutboxMessage.id)
                ).scalars()
            )
        return deliverer.deliver(ids)

    def due_now(self) -> None:
        """Let messages backing off after a failure be due again (time passing)."""
        from hub.models.meta import utcnow

        with self.engine.begin() as conn:
            conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "pending")
                .values(next_attempt_at=utcnow())
            )

    def payment(self, channel: str, transaction_id: str) -> BillPayment:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            found = session.execute(
                select(BillPayment).where(
                    BillPayment.channel == channel, BillPayment.transaction_id == transaction_id
                )
            ).scalar_one()
            session.expunge(found)
            return found

    def payments(self) -> list[BillPayment]:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            rows = list(session.execute(select(BillPayment).order_by(BillPayment.id)).scalars())
            session.expunge_all()
            return rows

    def ledger_payments(self, consumer_number: str) -> list[Decimal]:
        with self.reference.connect() as conn:
            rows = conn.execute(
                select(RefLedgerEntry.amount_paise).where(
                    RefLedgerEntry.consumer_number == consumer_number,
                    RefLedgerEntry.kind == "payment",
                    RefLedgerEntry.reference.like("HUB-%"),
                )
            ).scalars()
            return [Decimal(-p) / 100 for p in rows]

    def balance(self, consumer_number: str) -> Decimal:
        with self.reference.connect() as conn:
            paise = conn.execute(
                select(func.sum(RefLedgerEntry.amount_paise)).where(
                    RefLedgerEntry.consumer_number == consumer_number
                )
            ).scalar()
        return (Decimal(paise or 0) / 100).quantize(Decimal("0.01"))

    def messages(self, kind: str) -> list[OutboxMessage]:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            rows = list(
                session.execute(
                    select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
                ).scalars()
            )
            session.expunge_all()
            return rows

    def portal_payment(self, transaction_id: str, consumer_number: str, paise: int = 10000) -> None:
        """The citizen-services portal's advice of a payment made now, accepted (202)."""
        self.app.post_json(
            "/api/v1/bills/payments/portal",
            {
                "cs_txn_no": transaction_id,
                "ivrs_no": consumer_number,
                "amount_paise": paise,
                "txn_datetime": datetime.now(UTC).replace(microsecond=0).isoformat(),
            },
            headers=self.headers("bills:portal"),
            status=202,
        )

    def pay_order(self, consumer_number: str, **complete: Any) -> tuple[dict[str, Any], SignedCallback]:
        order = self.app.post(
            f"/api/v1/bills/{consumer_number}/payment-orders", headers=self.headers("bills:pay")
        ).json
        callback = self.gateway.complete_order(order["order_id"], **complete)
        return order, callback

    def webhook(self, callback: SignedCallback, status: int | None = None) -> Any:
        return self.app.post(
            "/api/v1/bills/payments/gateway",
            callback.body,
            headers={**callback.headers, "Content-Type": "application/json"},
            status=status or "*",
        )


@pytest.fixture()
def bills(live_app: TestApp, live_engine: Engine, live_reference_engine: Engine, live_client: Any) -> Bills:
    generate_demo_data(live_reference_engine, consumers=40, seed=3, replace=True)
    with live_engine.begin() as conn:
        for table in (BillPayment, BillPaymentOrder, PaymentEvent, OutboxMessage):
            conn.execute(delete(table))
    return Bills(live_app, live_engine, live_client, live_reference_engine)


PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture()
def officer_app(bills: Bills) -> TestApp:
    with Session(bills.engine) as session, session.begin():
        for username, roles in (("revenue.one", ["revenue"]), ("dgm.plain", ["dc_manager"])):
            if (
                session.execute(select(Officer).where(Officer.username == username)).scalar_one_or_none()
                is None
            ):
                create_officer(session, username, "Kavita Joshi", PASSWORD, roles, ["DIV-BPL-1"])
    app = TestApp(bills.app.app, extra_environ={"wsgi.url_scheme": "https"})
    return app


def login(app: TestApp, username: str) -> None:
    token = CSRF.search(app.get("/console/login").text)
    assert token is not None
    app.post(
        "/console/login",
        {"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        status=302,
    )


def csrf(page: Any) -> str:
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)
