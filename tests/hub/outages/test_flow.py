"""Outage notices as officers, SCADA and consumers meet them: over HTTP against the app as served,
the outbox delivered as hub-worker would, what the consumers received read from the reference
SMS gateway and mail server, and who is below a node computed independently in the test."""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.models.meta import IST, utcnow
from hub.models.network import NetworkNode
from hub.models.outage import Outage
from hub.models.outbox import OutboxMessage
from hub.outages.service import OutageSettings
from tests.hub.outages.conftest import Network, email_of

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _iso(at: datetime) -> str:
    return at.isoformat()


def _expected(network: Network, numbers: set[str]) -> dict[str, int]:
    return {
        "sms": sum(1 for n in numbers if network.contacts.get(n, (None, None))[0]),
        "email": sum(1 for n in numbers if network.contacts.get(n, (None, None))[1]),
    }


def test_unplanned_feeder_outage_tells_exactly_its_consumers_once_updated_and_restored(
    network: Network,
) -> None:
    feeder, dts = network.feeder_with_dts()
    below = network.below(feeder)
    now = utcnow()
    created = network.create(
        node_code=feeder,
        kind="unplanned",
        starts_at=_iso(now - timedelta(minutes=5)),
        expected_restoration_at=_iso(now + timedelta(hours=2)),
        reason_en="Conductor snapped",
        reason_hi="कंडक्टर टूटा",
    ).json
    assert created["state"] == "open" and created["notices"]["sent"] == _expected(network, below)
    told = network.notices(outage_id=created["id"])
    assert {n for n, _, _ in told} == below
    assert Counter((n, ch) for n, ch, _ in told).most_common(1)[0][1] == 1

    # The DT below reports the same outage through SCADA: one event for its consumers, nothing new.
    dt = dts[0]
    event = network.event(
        source="scada", event_id="EV-1", node_code=dt, action="outage", at=_iso(now - timedelta(minutes=4))
    ).json
    assert event["group_id"] == created["group_id"] and event["replayed"] is False
    assert network.notices(outage_id=event["id"]) == []
    again = network.event(
        status=200,
        source="scada",
        event_id="EV-1",
        node_code=dt,
        action="outage",
        at=_iso(now - timedelta(minutes=4)),
    ).json
    assert again["id"] == event["id"] and again["replayed"] is True

    updated = network.update(created["id"], _iso(now + timedelta(hours=3))).json
    assert updated["notices"]["sent"] == _expected(network, below)

    # The DT's restoration while the feeder is still down tells nobody; the feeder's tells everyone.
    restored_dt = network.event(
        source="scada", event_id="EV-2", node_code=dt, action="restoration", at=_iso(utcnow())
    ).json
    assert restored_dt["state"] == "restored"
    assert network.notices(outage_id=event["id"], notice="restored") == []
    closed = network.close(created["id"], _iso(utcnow())).json
    assert closed["state"] == "restored" and closed["notices"]["sent"] == _expected(network, below)

    network.drain()
    number, mobile = network.single_mobile_consumer(below)
    templates = [m.template_name for m in network.sms_to(mobile)]
    assert templates == ["outage_unplanned", "outage_update", "outage_restored"]
    assert (
        "बिजली" in network.sms_to(mobile)[0].text and "supply interrupted" in network.sms_to(mobile)[0].text
    )
    mails = network.mails_to(str(email_of(number)))
    assert [m.subject.split(":")[0] for m in mails] == [
        "बिजली बाधित / Power outage",
        "बहाली का नया समय / Restoration time updated",
        "बिजली बहाल / Supply restored",
    ]
    # Every outage SMS the gateway holds went to a consumer below the feeder: three notices each.
    from connectors.sms.reference import RefSmsMessage

    with Session(network.reference) as ref:
        sent = list(
            ref.scalars(select(RefSmsMessage.mobile).where(RefSmsMessage.template_name.like("outage_%")))
        )
    mobiles_below = {network.contacts[n][0] for n in below}
    assert set(sent) <= mobiles_below and len(sent) == 3 * _expected(network, below)["sms"]


def test_dt_first_then_its_feeder_tells_the_dt_consumers_once(network: Network) -> None:
    feeder, dts = network.feeder_with_dts()
    now = utcnow()
    base = {
        "kind": "unplanned",
        "starts_at": _iso(now - timedelta(minutes=10)),
        "reason_en": "Fault",
        "reason_hi": "खराबी",
    }
    first = network.create(node_code=dts[0], **base).json
    assert first["notices"]["sent"] == _expected(network, network.below(dts[0]))
    second = network.create(node_code=feeder, **base).json
    assert second["group_id"] == first["group_id"]
    assert second["notices"]["sent"] == _expected(network, network.below(feeder) - network.below(dts[0]))
    # Exactly one start notice per consumer and channel across both outages.
    starts = network.notices(group_id=first["group_id"], notice="start")
    assert len(starts) == len(set(starts))
    assert {n for n, _, _ in starts} == network.below(feeder)


def test_planned_outage_is_announced_ahead_and_never_at_night(network: Network) -> None:
    feeder, _ = network.feeder_with_dts()
    # A window starting 23:30 IST two days on: the announcement 24 h before falls at night.
    day = (utcnow().astimezone(IST) + timedelta(days=2)).date()
    start = datetime.combine(day, datetime.min.time(), IST).replace(hour=23, minute=30)
    created = network.create(
        node_code=feeder,
        kind="planned",
        starts_at=_iso(start),
        expected_restoration_at=_iso(start + timedelta(hours=4)),
        reason_en="Line maintenance",
        reason_hi="लाइन रखरखाव",
    ).json
    assert created["state"] == "scheduled"
    due = datetime.fromisoformat(created["notices"]["due"]).astimezone(IST)
    assert (due.hour, due.minute) == (8, 0) and due.date() == start.date()
    with Session(network.engine) as session:
        dues = set(session.scalars(select(OutboxMessage.next_attempt_at)))
    assert len(dues) == 1
    held = dues.pop()
    assert (held if held.tzinfo else held.replace(tzinfo=UTC)) == due
    assert network.drain() == []  # held: nothing is due yet

    # Restoring a shutdown that has not begun is refused; cancelling it tells the consumers once.
    problem = network.close(created["id"], _iso(utcnow()), status=409).json
    assert problem["code"] == "outage_not_started"
    cancelled = network.app.post(
        f"/api/v1/outages/{created['id']}/cancellation", headers=network.manager, status=200
    ).json
    assert cancelled["state"] == "cancelled"
    assert cancelled["notices"]["sent"] == _expected(network, network.below(feeder))


def test_quiet_hours_boundaries() -> None:
    settings = OutageSettings(24, (21, 0), (8, 0))
    day = datetime(2026, 12, 4, tzinfo=IST)

    def at(h: int, m: int) -> datetime:
        return day.replace(hour=h, minute=m)

    assert settings.out_of_quiet_hours(at(20, 59)) == at(20, 59)
    assert settings.out_of_quiet_hours(at(21, 0)) == at(8, 0) + timedelta(days=1)
    assert settings.out_of_quiet_hours(at(23, 59)) == at(8, 0) + timedelta(days=1)
    assert settings.out_of_quiet_hours(at(0, 0)) == at(8, 0)
    assert settings.out_of_quiet_hours(at(7, 59)) == at(8, 0)
    assert settings.out_of_quiet_hours(at(8, 0)) == at(8, 0)
    # A window that does not cross midnight.
    afternoon = OutageSettings(24, (13, 0), (14, 0))
    assert afternoon.out_of_quiet_hours(at(13, 30)) == at(14, 0)
    assert afternoon.out_of_quiet_hours(at(12, 0)) == at(12, 0)


def test_reading_current_outages_by_consumer_feeder_and_dc_and_the_public_page(network: Network) -> None:
    feeder, dts = network.feeder_with_dts()
    now = utcnow()
    created = network.create(
        node_code=feeder,
        kind="unplanned",
        starts_at=_iso(now - timedelta(minutes=1)),
        reason_en="<script>alert(1)</script>",
        reason_hi="पेड़ गिरा",
    ).json
    consumer = sorted(network.below(dts[0]))[0]
    by_consumer = network.app.get("/api/v1/outages", {"consumer_number": consumer}).json["outages"]
    assert [o["id"] for o in by_consumer] == [created["id"]]
    by_feeder = network.app.get("/api/v1/outages", {"feeder": feeder}).json["outages"]
    assert [o["id"] for o in by_feeder] == [created["id"]]
    by_dc = network.app.get("/api/v1/outages", {"dc": created["office_code"]}).json["outages"]
    assert created["id"] in [o["id"] for o in by_dc]
    elsewhere = sorted(set(network.dt_of) - network.below(feeder))[0]
    assert network.app.get("/api/v1/outages", {"consumer_number": elsewhere}).json["outages"] == []
    page = network.app.get("/outages", {"dc": created["office_code"]})
    assert page.content_type == "text/html" and "पेड़ गिरा" in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert network.app.get(f"/api/v1/outages/{created['id']}").json["state"] == "open"


def test_bad_input_answers_problem_json(network: Network) -> None:
    feeder, dts = network.feeder_with_dts()
    now = utcnow()
    body = {
        "node_code": feeder,
        "kind": "unplanned",
        "starts_at": _iso(now - timedelta(minutes=1)),
        "reason_en": "Fault",
        "reason_hi": "खराबी",
    }
    assert (
        network.create(status=422, **{**body, "node_code": "FDR-NOPE-1"}).json["code"]
        == "outage_node_unknown"
    )
    # A bidi override is cleaned away like any control character: what is left names no node.
    assert (
        network.create(status=422, **{**body, "node_code": "FDR\u202e1"}).json["code"]
        == "outage_node_unknown"
    )
    for hostile in ("फीडर-1", "A" * 41, "x; DROP TABLE outages", "fdr-lower"):
        problem = network.create(status=400, **{**body, "node_code": hostile}).json
        assert problem["code"] == "validation_failed"
    assert network.create(status=400, **{**body, "colour": "red"}).json["code"] == "validation_failed"
    assert (
        network.create(status=400, **{**body, "starts_at": "yesterday"}).json["code"] == "validation_failed"
    )
    backwards = {**body, "expected_restoration_at": _iso(now - timedelta(hours=1))}
    assert network.create(status=422, **backwards).json["code"] == "outage_times_invalid"
    past_plan = {**body, "kind": "planned", "expected_restoration_at": _iso(now + timedelta(hours=1))}
    assert network.create(status=422, **past_plan).json["code"] == "outage_times_invalid"

    created = network.create(**body).json
    duplicate = network.create(status=409, **body).json
    assert duplicate["code"] == "outage_duplicate" and duplicate["outage_id"] == created["id"]
    early = network.close(created["id"], _iso(now - timedelta(hours=1)), status=409).json
    assert early["code"] == "outage_not_started"
    network.close(created["id"], _iso(utcnow()))
    assert network.close(created["id"], _iso(utcnow()), status=409).json["code"] == "outage_state_conflict"
    assert (
        network.update(created["id"], _iso(now + timedelta(hours=1)), status=409).json["code"]
        == "outage_state_conflict"
    )
    assert network.close(99999999, _iso(utcnow()), status=404).json["code"] == "not_found"

    event = {
        "source": "scada",
        "event_id": "EV-9",
        "node_code": dts[0],
        "action": "restoration",
        "at": _iso(now),
    }
    assert network.event(status=409, **event).json["code"] == "outage_not_open"
    network.event(**{**event, "action": "outage"})
    reused = network.event(status=409, **{**event, "action": "outage", "node_code": feeder}).json
    assert reused["code"] == "outage_event_conflict"
    # SCADA's scope does not open outages as an officer, and reading needs a filter.
    network.app.post_json("/api/v1/outages", body, headers=network.scada, status=403)
    assert network.app.get("/api/v1/outages", status=400).json["code"] == "validation_failed"
    assert (
        network.app.get("/api/v1/outages", {"feeder": "फीडर"}, status=400).json["code"] == "validation_failed"
    )


def _officer(network: Network, offices: list[str]) -> TestApp:
    from hub.console.officers import create_officer

    username = "o" + secrets.token_hex(4)
    with Session(network.engine) as session, session.begin():
        create_officer(session, username, "सुरेश वर्मा", PASSWORD, ["je"], offices)
    # The console cookie is Secure: browse over https so WebTest sends it back.
    browser = TestApp(network.app.app, extra_environ={"wsgi.url_scheme": "https"})
    token = CSRF.search(browser.get("/console/login").text)
    assert token is not None
    answer = browser.post(
        "/console/login", {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_int == 302, answer.text
    return browser


def _ist_local(at: datetime) -> str:
    return at.astimezone(IST).strftime("%Y-%m-%dT%H:%M")


def test_officer_records_updates_and_closes_an_outage_in_the_console(network: Network) -> None:
    feeder, _ = network.feeder_with_dts()
    office = network.nodes_office(feeder)
    browser = _officer(network, [office])
    page = browser.get("/console/outages")
    assert "बिजली बंद" in page.text and "Outages" in page.text
    form = page.forms[len(page.forms) - 1]
    form["node_code"] = feeder
    form["kind"] = "unplanned"
    form["starts_at"] = _ist_local(utcnow() - timedelta(minutes=30))
    form["expected_restoration_at"] = _ist_local(utcnow() + timedelta(hours=2))
    form["reason_hi"] = "ट्रांसफार्मर जला"
    form["reason_en"] = "Transformer burnt"
    listed = form.submit().follow()
    assert "Outage" in listed.text and feeder in listed.text
    below = network.below(feeder)
    [outage_id] = {o for (o,) in _outage_ids(network)}
    assert {n for n, _, _ in network.notices(outage_id=outage_id)} == below
    # The start time is the officer's IST, stored in UTC.
    shown = network.app.get(f"/api/v1/outages/{outage_id}").json
    assert _ist_local(datetime.fromisoformat(shown["starts_at"])) == form["starts_at"].value

    update = listed.forms[1]
    update["expected_restoration_at"] = _ist_local(utcnow() + timedelta(hours=4))
    update.submit().follow()
    assert network.notices(outage_id=outage_id, notice=f"update:{outage_id}:1")
    # Restoration before the start is refused with the reason; then recorded.
    close = browser.get("/console/outages").forms[2]
    close["restored_at"] = _ist_local(utcnow() - timedelta(hours=5))
    refused = close.submit(status=409)
    assert "restored before it started" in refused.text
    close = browser.get("/console/outages").forms[2]
    close["restored_at"] = _ist_local(utcnow())
    close.submit().follow()
    assert network.app.get(f"/api/v1/outages/{outage_id}").json["state"] == "restored"
    assert {n for n, _, k in network.notices(outage_id=outage_id) if k == "restored"} == below

    # Another office's officer neither sees nor acts on it; a stale form is refused.
    stranger = _officer(network, ["NOPE-1"])
    assert feeder not in stranger.get("/console/outages").text
    token = CSRF.search(stranger.get("/console/outages").text)
    assert token is not None
    stranger.post(f"/console/outages/{outage_id}/cancel", {"csrf_token": token.group(1)}, status=404)
    browser.post("/console/outages", {"node_code": feeder, "csrf_token": "stale"}, status=403)
    # Unknown node and Devanagari in the code: the page again with the reason, nothing recorded.
    bad = browser.get("/console/outages").forms[len(browser.get("/console/outages").forms) - 1]
    bad["node_code"] = "फीडर"
    bad["starts_at"] = "कल"
    bad["reason_hi"] = "x"
    bad["reason_en"] = "x"
    again = bad.submit(status=409)
    assert "node_code" in again.text and "starts_at" in again.text
    assert len(_outage_ids(network)) == 1


def _outage_ids(network: Network) -> list[tuple[int]]:
    with Session(network.engine) as session:
        return [tuple(r) for r in session.execute(select(Outage.id))]  # type: ignore[misc]


def test_a_fault_without_estimate_is_not_the_shutdown_announced_for_later(network: Network) -> None:
    feeder, _ = network.feeder_with_dts()
    now = utcnow()
    planned = network.create(
        node_code=feeder,
        kind="planned",
        starts_at=_iso(now + timedelta(hours=3)),
        expected_restoration_at=_iso(now + timedelta(hours=5)),
        reason_en="Maintenance",
        reason_hi="रखरखाव",
    ).json
    fault = network.event(
        source="headend",
        event_id="HES-7",
        node_code=feeder,
        action="outage",
        at=_iso(now - timedelta(minutes=1)),
    ).json
    assert fault["id"] != planned["id"] and fault["group_id"] != planned["group_id"]
    assert fault["state"] == "open" and fault["source"] == "headend"
    # A second fault on the same node while the first is open is the same outage.
    body = {"kind": "unplanned", "starts_at": _iso(now), "reason_en": "Fault", "reason_hi": "खराबी"}
    assert network.create(status=409, node_code=feeder, **body).json["outage_id"] == fault["id"]


def test_a_channel_is_a_row_kind(network: Network) -> None:
    """A third channel (as WhatsApp will add itself) rides the same fan-out and the same unique key."""
    from hub.models.outage import ConsumerContact
    from hub.outages.service import NewOutage, NoticeChannel, OutageService, OutageSettings, json_object

    service = OutageService(network.registry, OutageSettings.from_settings(network.registry.settings))
    channel = NoticeChannel(
        "ivr",
        "ivr.call",
        lambda: select(ConsumerContact.consumer_number, ConsumerContact.mobile.label("address")).where(
            ConsumerContact.mobile.like("9%")
        ),
        lambda dialect, address, texts: json_object(dialect, {"to": address, "text": texts.sms_text}),
    )
    service.add_channel(channel)
    assert list(service.channels) == ["sms", "email", "ivr"]
    feeder, _ = network.feeder_with_dts()
    with Session(network.engine) as session, session.begin():
        outage, fan_out = service.open(
            session, NewOutage(feeder, "unplanned", utcnow(), None, "Fault", "खराबी", "officer", "test")
        )
        assert fan_out is not None
        nines = {n for n in network.below(feeder) if (network.contacts[n][0] or "").startswith("9")}
        assert fan_out.sent["ivr"] == len(nines)
        node = session.get(NetworkNode, feeder)
        assert node is not None
        again = service.fan_out(session, outage, node, "start", utcnow())
        assert again.sent == {"sms": 0, "email": 0, "ivr": 0}
        payloads = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.kind == "ivr.call")
        ).all()
        assert sorted(p["to"] for p in payloads) == sorted(str(network.contacts[n][0]) for n in nines)


@pytest.mark.postgresql_only
def test_feeder_and_dt_reported_at_the_same_moment_share_one_group(network: Network) -> None:
    """SCADA reports the feeder and the head-end its DT at once, each on its own connection: the
    substation's row serialises them, so the DT's consumers are told once."""
    feeder, dts = network.feeder_with_dts()
    at = _iso(utcnow() - timedelta(minutes=1))
    barrier = threading.Barrier(2)
    answers: list[dict[str, Any]] = []

    def report(source: str, node: str) -> None:
        app = TestApp(network.app.app)
        barrier.wait()
        answers.append(
            app.post_json(
                "/api/v1/outages/events",
                {
                    "source": source,
                    "event_id": f"{source}-{node}",
                    "node_code": node,
                    "action": "outage",
                    "at": at,
                },
                headers=network.scada,
            ).json
        )

    threads = [
        threading.Thread(target=report, args=("scada", feeder)),
        threading.Thread(target=report, args=("headend", dts[0])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len({a["group_id"] for a in answers}) == 1
    starts = network.notices(group_id=answers[0]["group_id"], notice="start")
    assert len(starts) == len(set(starts))
    assert Counter((n, ch) for n, ch, _ in starts).most_common(1)[0][1] == 1
    assert {n for n, _, _ in starts} == network.below(feeder)


def test_officers_above_a_distribution_centre_see_and_act_on_its_outages(network: Network) -> None:
    import csv
    import io

    from connectors.demo import write_offices_extract
    from hub.offices import load_offices

    extract = io.StringIO()
    write_offices_extract(network.reference, extract)
    extract.seek(0)
    rows = list(csv.DictReader(extract))
    with Session(network.engine) as session, session.begin():
        assert load_offices(session, rows).refused == []
    parent = {r["code"]: r["parent_code"] for r in rows}
    feeder, _ = network.feeder_with_dts()
    dc = network.nodes_office(feeder)
    division = parent[parent[dc]]
    circle = parent[division]
    other_division = next(c for c, p in parent.items() if p == circle and c != division)
    now = utcnow()
    outage = network.create(
        node_code=feeder,
        kind="unplanned",
        starts_at=_iso(now - timedelta(minutes=5)),
        expected_restoration_at=_iso(now + timedelta(hours=2)),
        reason_en="Insulator failed",
        reason_hi="इंसुलेटर खराब",
    ).json

    # The division's officer sees the DC's outage and updates it; so do the circle and the discom.
    executive = _officer(network, [division])
    page = executive.get("/console/outages")
    assert feeder in page.text
    token = CSRF.search(page.text)
    assert token is not None
    executive.post(
        f"/console/outages/{outage['id']}/update",
        {"csrf_token": token.group(1), "expected_restoration_at": _ist_local(now + timedelta(hours=5))},
        status=302,
    )
    assert network.app.get(f"/api/v1/outages/{outage['id']}").json["updates"] == 1
    assert feeder in _officer(network, [circle]).get("/console/outages").text
    assert feeder in _officer(network, ["DISCOM"]).get("/console/outages").text
    # Another division of the same circle neither sees nor acts on it.
    neighbour = _officer(network, [other_division])
    page = neighbour.get("/console/outages")
    assert feeder not in page.text
    token = CSRF.search(page.text)
    assert token is not None
    neighbour.post(f"/console/outages/{outage['id']}/cancel", {"csrf_token": token.group(1)}, status=404)
