"""A planned and an unplanned outage on a feeder of the demo network, as the discom meets them: the GIS's
network synced by hub-admin, billing's contacts extract loaded, the shutdown announced by the outage
tool, the fault reported by SCADA, its estimate updated, its restoration reported; hub-worker delivers,
and the reference SMS gateway and mail server show exactly the feeder's consumers told once per
channel and notice (the consumers below computed here from the raw network rows)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from hub.outages.service import OutageSettings
from tests.e2e.conftest import ServedHub, until


def _below(hub: ServedHub, code: str) -> set[str]:
    parent = dict(hub.sql("SELECT code, parent_code FROM network_nodes"))
    found = set()
    for number, dt in hub.sql("SELECT consumer_number, dt_code FROM network_consumers"):
        node = dt
        while node is not None:
            if node == code:
                found.add(number)
                break
            node = parent.get(node)
    return found


def _morning_comes(hub: ServedHub, due: datetime) -> None:
    """The messages held for the morning become due now, as the clock would have made them."""
    from sqlalchemy import update

    from hub.db import make_engine
    from hub.models.outbox import OutboxMessage

    engine = make_engine(hub.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            held = conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at >= due - timedelta(seconds=1),
                )
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            assert held.rowcount > 0
    finally:
        engine.dispose()


def test_planned_and_unplanned_outage_on_a_demo_feeder(served_hub: ServedHub, tmp_path: Path) -> None:
    hub = served_hub
    hub.admin("network", "sync")
    consumers = hub.reference_sql("SELECT consumer_number, mobile FROM ref_consumer")
    extract = tmp_path / "contacts.csv"
    with extract.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["consumer_number", "mobile", "email"])
        for number, mobile in consumers:
            writer.writerow([number, mobile, f"c{number}@mail.example" if int(number) % 2 else ""])
    loaded = json.loads(hub.admin("outages", "contacts", str(extract)).splitlines()[0])
    assert loaded == {"loaded": len(consumers), "refused": 0}

    feeders = [code for (code,) in hub.sql("SELECT code FROM network_nodes WHERE kind = 'feeder'")]
    feeder = max(sorted(feeders), key=lambda code: len(_below(hub, code)))
    below = _below(hub, feeder)
    assert len(below) >= 2
    mobile_of = dict(consumers)
    with_email = {n for n in below if int(n) % 2}

    tool = hub.client("outage-tool-e2e", "outages:manage")["headers"]
    scada = hub.client("scada-e2e", "outages:report")["headers"]
    now = datetime.now(UTC)

    # The planned shutdown: announced at once (its window is close), unless it is night in India.
    start = now + timedelta(hours=3)
    planned = httpx.post(
        f"{hub.url}/api/v1/outages",
        json={
            "node_code": feeder,
            "kind": "planned",
            "starts_at": start.isoformat(),
            "expected_restoration_at": (start + timedelta(hours=2)).isoformat(),
            "reason_en": "Line maintenance",
            "reason_hi": "लाइन रखरखाव",
        },
        headers=tool,
        timeout=30,
    )
    assert planned.status_code == 201, planned.text
    announced = planned.json()
    due = datetime.fromisoformat(announced["notices"]["due"])
    assert due == OutageSettings(24, (21, 0), (8, 0)).out_of_quiet_hours(due)
    assert announced["notices"]["sent"] == {"sms": len(below), "email": len(with_email), "whatsapp": 0}

    # The fault: SCADA reports it (twice: the same event id changes nothing), the estimate moves, it is restored.
    event = {"source": "scada", "event_id": "E2E-TRIP-1", "node_code": feeder, "action": "outage"}
    tripped = httpx.post(
        f"{hub.url}/api/v1/outages/events",
        json={**event, "at": (now - timedelta(minutes=2)).isoformat()},
        headers=scada,
        timeout=30,
    )
    assert tripped.status_code == 201, tripped.text
    again = httpx.post(
        f"{hub.url}/api/v1/outages/events",
        json={**event, "at": (now - timedelta(minutes=2)).isoformat()},
        headers=scada,
        timeout=30,
    )
    assert again.status_code == 200 and again.json()["replayed"] is True
    outage_id = tripped.json()["id"]
    current = httpx.get(f"{hub.url}/api/v1/outages", params={"feeder": feeder}, timeout=10).json()["outages"]
    assert {o["id"] for o in current} == {announced["id"], outage_id}
    estimate = httpx.post(
        f"{hub.url}/api/v1/outages/{outage_id}/restoration-estimate",
        json={"expected_restoration_at": (now + timedelta(hours=1)).isoformat()},
        headers=tool,
        timeout=30,
    )
    assert estimate.status_code == 200, estimate.text
    restored = httpx.post(
        f"{hub.url}/api/v1/outages/events",
        json={
            "source": "scada",
            "event_id": "E2E-RESTORE-1",
            "node_code": feeder,
            "action": "restoration",
            "at": datetime.now(UTC).isoformat(),
        },
        headers=scada,
        timeout=30,
    )
    assert restored.status_code == 201 and restored.json()["state"] == "restored", restored.text

    # hub-worker delivers: each consumer below told once per channel and notice, nobody else.
    templates = ("outage_unplanned", "outage_update", "outage_restored")

    def sms_sent() -> list[tuple[str, str]]:
        return [
            (mobile, template)
            for mobile, template in hub.reference_sql(
                "SELECT mobile, template_name FROM ref_sms_message WHERE template_name LIKE 'outage_%'"
            )
        ]

    expected_sms = len(below) * len(templates)
    until(
        "every unplanned-outage SMS delivered",
        lambda: sum(t in templates for _, t in sms_sent()) == expected_sms,
        seconds=120,
    )
    sent = sms_sent()
    for template in templates:
        to = sorted(m for m, t in sent if t == template)
        assert to == sorted(mobile_of[n] for n in below), template
    if due > datetime.now(UTC):
        assert all(t != "outage_planned" for _, t in sent), "announced in the quiet hours"
        # The night passes: the hold is the notices' due time in the outbox, and morning comes.
        _morning_comes(hub, due)
    until(
        "the shutdown announced",
        lambda: sum(t == "outage_planned" for _, t in sms_sent()) == len(below),
        seconds=120,
    )
    announced_to = sorted(m for m, t in sms_sent() if t == "outage_planned")
    assert announced_to == sorted(mobile_of[n] for n in below)

    expected_mail = len(with_email) * len(templates)

    def mails() -> list[tuple[str, str]]:
        return list(hub.reference_sql('SELECT "to", subject FROM ref_email_message'))

    until(
        "every unplanned-outage e-mail delivered",
        lambda: sum("Planned" not in s for _, s in mails()) >= expected_mail,
        seconds=120,
    )
    unplanned_mail = [(to, s) for to, s in mails() if "Planned" not in s]
    assert len(unplanned_mail) == expected_mail
    assert {to for to, _ in unplanned_mail} == {f"c{n}@mail.example" for n in with_email}
    until(
        "the shutdown e-mailed",
        lambda: sum("Planned" in s for _, s in mails()) == len(with_email),
        seconds=120,
    )
    assert sorted(to for to, s in mails() if "Planned" in s) == sorted(
        f"c{n}@mail.example" for n in with_email
    )

    # The public page shows the announced shutdown, no longer the restored fault.
    office = hub.sql("SELECT office_code FROM network_nodes WHERE code = :c", c=feeder)[0][0]
    page = httpx.get(f"{hub.url}/outages", params={"dc": office}, timeout=10)
    assert page.status_code == 200 and "लाइन रखरखाव" in page.text
    assert "SCADA" not in page.text
