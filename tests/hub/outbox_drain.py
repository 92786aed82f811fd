"""Deliver the outbox in-process, as hub-worker would: for live-mode flow tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub.lookup import process_service, registered
from hub.models.meta import utcnow
from hub.models.outbox import OutboxMessage, OutboxStatus
from hub.outbox import DeliveryOutcome, OutboxHandlers, deliverer_from_settings
from hub.systems import Connectors


def drain_outbox(registry: Any, engine: Engine, rounds: int = 20) -> list[DeliveryOutcome]:
    """Deliver every due message until nothing is due or a round delivers nothing (all backing off)."""
    deliverer = deliverer_from_settings(
        registry.settings, engine, process_service(registry, Connectors), registered(registry, OutboxHandlers)
    )
    outcomes: list[DeliveryOutcome] = []
    for _ in range(rounds):
        with engine.connect() as conn:
            ids = list(
                conn.execute(
                    select(OutboxMessage.id)
                    .where(
                        OutboxMessage.status == OutboxStatus.PENDING.value,
                        OutboxMessage.next_attempt_at <= utcnow(),
                    )
                    .order_by(OutboxMessage.id)
                ).scalars()
            )
        if not ids:
            break
        done = deliverer.deliver(ids)
        outcomes += done
        if not any(o.result == "delivered" for o in done):
            break
    return outcomes
