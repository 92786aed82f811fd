"""Outage notices on WhatsApp: the consumers below the node whose number opted in get the approved
``notice`` template, once per notice even when a feeder and its DT both report; a number that
opted out gets nothing on WhatsApp (its SMS comes through the outage's own SMS channel)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.demo import PERSONAS
from hub.lookup import process_service
from hub.models.meta import utcnow
from hub.models.network import ConsumerSupply, NetworkNode
from hub.network.service import NetworkService
from hub.outages.service import NewOutage, OutageService
from tests.hub.whatsapp.conftest import Channel

DUES = PERSONAS["dues"]
CLEAN = PERSONAS["clean"]


def _templates_to(channel: Channel, mobile: str) -> list[dict[str, Any]]:
    return [b for b in channel.sent_to("91" + mobile) if b["type"] == "template"]


def test_opted_in_consumers_below_the_node_get_the_notice_once(channel: Channel, live_client: Any) -> None:
    registry = channel.app.app.registry
    headers = live_client(["whatsapp:consent"])["headers"]
    for person, consent in ((DUES, "opted_in"), (CLEAN, "opted_out")):
        channel.app.post_json(
            "/api/v1/whatsapp/consents",
            {
                "mobile": person.mobile,
                "consent": consent,
                "how": "portal",
                "source": "test",
                **({"bills_for": list(person.consumer_numbers)} if consent == "opted_in" else {}),
            },
            headers=headers,
        )
    process_service(registry, NetworkService).sync()
    consumer = DUES.consumer_numbers[0]
    with Session(channel.engine) as session:
        dt = session.scalar(select(ConsumerSupply.dt_code).where(ConsumerSupply.consumer_number == consumer))
        assert dt is not None
        feeder = session.scalar(select(NetworkNode.parent_code).where(NetworkNode.code == dt))
        assert feeder is not None
        on_dt = set(
            session.scalars(select(ConsumerSupply.consumer_number).where(ConsumerSupply.dt_code == dt))
        )
    subscribed_here = len(on_dt & set(DUES.consumer_numbers))

    outages = process_service(registry, OutageService)
    assert "whatsapp" in outages.channels
    with Session(channel.engine) as session, session.begin():
        new = NewOutage(
            dt, "unplanned", utcnow(), None, "Transformer fault", "ट्रांसफार्मर खराब", "scada", "test"
        )
        _, fan_out = outages.open(session, new)
        assert fan_out is not None and fan_out.sent["whatsapp"] == subscribed_here
    # Its feeder reports the same outage: the DT's consumers are not told again.
    with Session(channel.engine) as session, session.begin():
        new = NewOutage(feeder, "unplanned", utcnow(), None, "Feeder trip", "फीडर ट्रिप", "scada", "test")
        _, fan_out = outages.open(session, new)
        assert fan_out is None or fan_out.sent.get("whatsapp", 0) <= len(set(DUES.consumer_numbers) - on_dt)
    channel.work()
    channel.work()
    sent = _templates_to(channel, DUES.mobile)
    assert len(sent) == len(set(DUES.consumer_numbers) & (on_dt | _below(channel, feeder)))
    assert all(b["template"]["name"] == "mpcz_notice" for b in sent)
    text = json.dumps(sent, ensure_ascii=False)
    assert "ट्रांसफार्मर" in text or "Transformer" in text
    # The number that opted out gets nothing on WhatsApp.
    assert _templates_to(channel, CLEAN.mobile) == []


def _below(channel: Channel, feeder: str) -> set[str]:
    with Session(channel.engine) as session:
        dts = set(session.scalars(select(NetworkNode.code).where(NetworkNode.parent_code == feeder)))
        return set(
            session.scalars(select(ConsumerSupply.consumer_number).where(ConsumerSupply.dt_code.in_(dts)))
        )
