"""Live-mode fixtures for outages: the demo network synced from the reference GIS, billing's contacts
loaded, partners for the officers' tools and SCADA, the worker draining the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.billing.tables import RefConsumer
from connectors.demo import generate_demo_data
from connectors.network.reference import ReferenceNetwork
from hub.db import standalone_registry
from hub.lookup import process_service
from hub.models.network import ConsumerSupply, NetworkNode
from hub.models.outage import ConsumerContact, Outage, OutageNotice, OutageSourceEvent
from hub.models.outbox import OutboxMessage
from hub.network.service import sync_network
from hub.outages.service import load_contacts
from hub.outbox import DeliveryOutcome
from hub.systems import Connectors
from tests.hub.outbox_drain import drain_outbox

OUTAGE_SETTINGS = {
    "hub.email.backend": "connectors.email.reference:ReferenceEmail",
    "hub.sms.template.outage_planned.id": "1107000000000000041",
    "hub.sms.template.outage_unplanned.id": "1107000000000000042",
    "hub.sms.template.outage_update.id": "1107000000000000043",
    "hub.sms.template.outage_restored.id": "1107000000000000044",
    "hub.sms.template.outage_cancelled.id": "1107000000000000045",
}


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    return {**live_settings, **OUTAGE_SETTINGS}


def email_of(consumer_number: str) -> str | None:
    """Billing knows an e-mail for about one consumer in three (the extract says which)."""
    return f"c{consumer_number}@mail.example" if int(consumer_number) % 3 == 0 else None


class Network:
    """The demo network as the hub holds it, read independently of the code under test."""

    def __init__(self, app: TestApp, engine: Engine, reference: Engine, manager: Any, scada: Any) -> None:
        self.app = app
        self.engine = engine
        self.reference = reference
        self.registry = app.app.registry
        self.connectors = process_service(self.registry, Connectors)
        self.manager = manager
        self.scada = scada
        with Session(engine) as session:
            self.nodes = {n.code: (n.kind, n.parent_code) for n in session.scalars(select(NetworkNode))}
            self.dt_of = dict(
                list(session.execute(select(ConsumerSupply.consumer_number, ConsumerSupply.dt_code)).tuples())
            )
            self.contacts = {
                c.consumer_number: (c.mobile, c.email) for c in session.scalars(select(ConsumerContact))
            }

    def below(self, code: str) -> set[str]:
        """Consumer numbers under ``code``, by walking each consumer's chain upwards in Python."""
        found = set()
        for number, dt in self.dt_of.items():
            node = dt
            while node is not None:
                if node == code:
                    found.add(number)
                    break
                node = self.nodes.get(node, (None, None))[1]
        return found

    def feeder_with_dts(self) -> tuple[str, list[str]]:
        """The feeder supplying the most consumers, and its DTs that supply any."""
        feeders = [code for code, (kind, _) in self.nodes.items() if kind == "feeder"]
        feeder = max(sorted(feeders), key=lambda code: len(self.below(code)))
        dts = sorted(
            c for c, (k, parent) in self.nodes.items() if k == "dt" and parent == feeder and self.below(c)
        )
        assert dts and len(self.below(feeder)) >= 3, "the demo network has no feeder with consumers"
        return feeder, dts

    def nodes_office(self, code: str) -> str:
        with Session(self.engine) as session:
            node = session.get(NetworkNode, code)
            assert node is not None
            return node.office_code

    def notices(self, **where: Any) -> list[tuple[str, str, str]]:
        with Session(self.engine) as session:
            query = select(OutageNotice.consumer_number, OutageNotice.channel, OutageNotice.notice)
            for name, value in where.items():
                query = query.where(getattr(OutageNotice, name) == value)
            return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]

    def drain(self) -> list[DeliveryOutcome]:
        return drain_outbox(self.registry, self.engine)

    def sms_to(self, mobile: str) -> list[Any]:
        return [
            m for m in self.connectors["sms"].messages_to(mobile) if m.template_name.startswith("outage_")
        ]

    def mails_to(self, address: str) -> list[Any]:
        return list(self.connectors["email"].mails_to(address))

    def single_mobile_consumer(self, numbers: set[str]) -> tuple[str, str]:
        """A consumer below whose mobile no other consumer of the demo shares (one SMS inbox, one consumer)."""
        counts: dict[str, int] = {}
        for mobile, _ in self.contacts.values():
            if mobile:
                counts[mobile] = counts.get(mobile, 0) + 1
        for number in sorted(numbers):
            mobile = self.contacts[number][0]
            if mobile and counts[mobile] == 1 and email_of(number):
                return number, mobile
        raise AssertionError("no consumer with a mobile of their own and an e-mail")

    # -- REST --------------------------------------------------------------------------------------
    def create(self, status: int | str = 201, **body: Any) -> Any:
        return self.app.post_json("/api/v1/outages", body, headers=self.manager, status=status)

    def event(self, status: int | str = 201, **body: Any) -> Any:
        return self.app.post_json("/api/v1/outages/events", body, headers=self.scada, status=status)

    def update(self, outage_id: int, expected: str, status: int | str = 200) -> Any:
        return self.app.post_json(
            f"/api/v1/outages/{outage_id}/restoration-estimate",
            {"expected_restoration_at": expected},
            headers=self.manager,
            status=status,
        )

    def close(self, outage_id: int, restored: str, status: int | str = 200) -> Any:
        return self.app.post_json(
            f"/api/v1/outages/{outage_id}/restoration",
            {"restored_at": restored},
            headers=self.manager,
            status=status,
        )


@pytest.fixture(scope="module")
def demo_network(live_wsgi_app: Any, live_engine: Engine, live_reference_engine: Engine) -> None:
    generate_demo_data(live_reference_engine, consumers=400, seed=5, replace=True)
    sync_network(standalone_registry(live_engine), ReferenceNetwork(live_reference_engine), 5_000)
    with Session(live_reference_engine) as ref:
        rows = [
            {
                "consumer_number": c.consumer_number,
                "mobile": c.mobile,
                "email": email_of(c.consumer_number) or "",
            }
            for c in ref.scalars(select(RefConsumer))
        ]
    with Session(live_engine) as session, session.begin():
        report = load_contacts(session, rows)
    assert report.loaded == len(rows) and not report.refused


@pytest.fixture()
def network(
    demo_network: None,
    live_app: TestApp,
    live_engine: Engine,
    live_reference_engine: Engine,
    live_client: Any,
) -> Iterator[Network]:
    with live_engine.begin() as conn:
        for table in (OutageNotice, OutageSourceEvent, Outage, OutboxMessage):
            conn.execute(delete(table))
    manager = live_client(["outages:manage"])["headers"]
    scada = live_client(["outages:report"])["headers"]
    yield Network(live_app, live_engine, live_reference_engine, manager, scada)
