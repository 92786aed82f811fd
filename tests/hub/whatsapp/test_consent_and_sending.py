"""Consent with its evidence, what may be sent to whom, the conversation's replies, SMS fallback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.demo import PERSONAS
from connectors.sms.reference import ReferenceSms
from connectors.whatsapp.reference import set_behaviour
from hub.lookup import process_service
from hub.models import AuditEntry, WhatsAppNumber, WhatsAppOutbound
from hub.models.meta import utcnow
from hub.outbox import unit_of_work
from hub.systems import Connectors
from hub.whatsapp.service import WhatsAppService, send_template
from tests.hub.whatsapp.conftest import Channel

CLEAN = PERSONAS["clean"]
DUES = PERSONAS["dues"]


def _consent(channel: Channel, headers: dict[str, str], status: int = 200, **body: Any) -> Any:
    return channel.app.post_json("/api/v1/whatsapp/consents", body, headers=headers, status=status)


def _sms_to(channel: Channel, mobile: str) -> list[str]:
    sms: ReferenceSms = process_service(channel.app.app.registry, Connectors)["sms"]
    return [m.text for m in sms.messages_to(mobile)]


def _notice(
    channel: Channel, mobile: str, key: str, text: str = "Supply off 10-12 on feeder F-7"
) -> dict[str, Any]:
    registry = channel.app.app.registry
    with unit_of_work(registry) as session:
        return send_template(session, registry, mobile, "notice", [text], key)


def test_consent_is_kept_with_its_evidence_whatever_way_the_number_is_written(
    channel: Channel, live_client: Any
) -> None:
    headers = live_client(["whatsapp:consent", "whatsapp:read"])["headers"]
    for spelling in ("+91 99990 00021", "09999000021", "9999000021", "91-9999-000021"):
        answer = _consent(
            channel, headers, mobile=spelling, consent="opted_in", how="portal", source="portal-session-81f2"
        ).json
        assert answer["wa_id"] == "919999000021"
        assert answer["consent"] == "opted_in" and answer["how"] == "portal"
        assert answer["source"] == "portal-session-81f2" and answer["consent_at"]
    answer = _consent(
        channel,
        headers,
        mobile="9999000021",
        consent="opted_in",
        how="office_form",
        source="DC-0101/2026/77",
        bills_for=list(DUES.consumer_numbers),
    ).json
    assert answer["bills_for"] == sorted(DUES.consumer_numbers)
    shown = channel.app.get("/api/v1/whatsapp/consents/+919999000021", headers=headers).json
    assert shown == answer
    with Session(channel.engine) as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == "919999000021").order_by(AuditEntry.seq)
        ).all()
    assert actions == ["whatsapp.opted_in"] * 5
    # Another consumer's connection is never subscribed to this number.
    refused = _consent(
        channel,
        headers,
        status=403,
        mobile="9999000021",
        consent="opted_in",
        how="portal",
        source="s",
        bills_for=list(CLEAN.consumer_numbers),
    )
    assert refused.json["code"] == "connection_not_yours"
    for odd in (
        "12345",
        "+1 415 555 0100",
        "९९९९०००२१",
        "99990000２１",
        "5999000021",
        "",
        "+91 99990 00021 1",
    ):
        bad = _consent(channel, headers, status=400, mobile=odd, consent="opted_in", how="portal", source="s")
        assert bad.json["code"] == "validation_failed"
    bad = _consent(
        channel, headers, status=400, mobile="9999000021", consent="maybe", how="portal", source="s"
    )
    assert bad.json["errors"][0]["field"] == "consent"
    channel.app.post_json("/api/v1/whatsapp/consents", {}, status=401)
    reader = live_client(["whatsapp:read"])["headers"]
    _consent(channel, reader, status=403, mobile="9999000021", consent="opted_out", how="portal", source="s")


def test_nothing_goes_by_whatsapp_to_a_number_not_opted_in_or_opted_out(
    channel: Channel, live_client: Any
) -> None:
    headers = live_client(["whatsapp:consent"])["headers"]
    assert _notice(channel, "9999000011", "outage:1:a")["channel"] == "sms"
    _consent(channel, headers, mobile="9999000011", consent="opted_in", how="app", source="app-42")
    assert _notice(channel, "9999000011", "outage:1:b")["channel"] == "whatsapp"
    _consent(
        channel, headers, mobile="9999000011", consent="opted_out", how="call_centre", source="1912-T-88"
    )
    assert _notice(channel, "9999000011", "outage:1:c")["channel"] == "sms"
    assert _notice(channel, "9999000011", "outage:1:c")["channel"] == "none"  # same key: nothing new
    channel.work()
    # Opted in when the notice was written, opted out before the worker sent it: not sent, SMS.
    assert channel.sent_to("919999000011") == []
    assert _sms_to(channel, "9999000011") == ["Supply off 10-12 on feeder F-7"] * 3


def test_stop_opts_out_with_the_message_as_evidence_and_start_opts_back_in(
    channel: Channel, live_client: Any
) -> None:
    headers = live_client(["whatsapp:consent"])["headers"]
    _consent(channel, headers, mobile="9999000031", consent="opted_in", how="portal", source="p")
    channel.say("919999000031", "  STOP ")
    channel.work()
    with Session(channel.engine) as session:
        number = session.get(WhatsAppNumber, "919999000031")
        assert number is not None and number.consent == "opted_out"
        assert number.consent_how == "whatsapp_keyword" and (number.consent_source or "").startswith("wamid.")
    assert channel.sent_to("919999000031") == []  # no reply to an opt-out
    channel.say("919999000031", "hello")  # inside the window, but opted out: no reply either
    channel.work()
    assert channel.sent_to("919999000031") == []
    channel.say("919999000031", "शुरू")
    channel.work()
    assert len(channel.sent_to("919999000031")) == 2  # the conversation answers again
    assert _notice(channel, "9999000031", "n:1")["channel"] == "whatsapp"


def test_replies_in_every_shape_go_inside_the_window_only(channel: Channel) -> None:
    wa_id = "919999000021"
    channel.say(wa_id, "hi")
    channel.work()
    channel.tap(wa_id, "more")
    channel.work()
    channel.tap(wa_id, "bill")
    channel.work()
    channel.tap(wa_id, "bill")  # the same bill again: uploaded once, sent by media id
    channel.work()
    sent = channel.sent_to(wa_id)
    assert [m["type"] for m in sent] == ["text", "interactive", "interactive", "document", "document"]
    buttons = sent[1]["interactive"]
    assert buttons["type"] == "button"
    assert [b["reply"]["id"] for b in buttons["action"]["buttons"]] == ["bill", "more"]
    listing = sent[2]["interactive"]
    assert listing["type"] == "list" and len(listing["action"]["sections"][0]["rows"]) == 3
    assert sent[3]["document"]["id"] == sent[4]["document"]["id"]
    from connectors.whatsapp.reference import RefWhatsAppMedia

    with Session(channel.wa.engine) as ref:
        assert ref.scalars(select(RefWhatsAppMedia.media_id)).all() == [sent[3]["document"]["id"]]
    # A month on, the platform has dropped the upload: the same PDF is uploaded again, not re-rendered.
    from hub.models import IssuedDocument, WhatsAppMedia

    with channel.engine.begin() as conn:
        conn.execute(update(WhatsAppMedia).values(uploaded_at=utcnow() - timedelta(days=30)))
    channel.tap(wa_id, "bill")
    channel.work()
    newest = channel.sent_to(wa_id)[-1]["document"]["id"]
    assert newest != sent[3]["document"]["id"]
    with Session(channel.engine) as session:
        assert session.scalars(select(WhatsAppMedia.media_id)).all() == [newest]
        assert len(session.scalars(select(IssuedDocument.id)).all()) == 1
    assert sent[3]["document"]["caption"] == "आपका बिल / Your bill"
    # Past the 24-hour window no reply is sent, even to an answer the chatbot gave.
    with channel.engine.begin() as conn:
        conn.execute(
            update(WhatsAppNumber)
            .where(WhatsAppNumber.wa_id == wa_id)
            .values(last_inbound_at=utcnow() - timedelta(hours=25))
        )
    registry = channel.app.app.registry
    with unit_of_work(registry) as session:
        from hub.whatsapp.service import _new_outbound

        _new_outbound(session, key="reply:late", purpose="reply", wa_id=wa_id, parameters={"text": "late"})
    channel.work()
    assert len(channel.sent_to(wa_id)) == 6
    with Session(channel.engine) as session:
        late = session.scalars(select(WhatsAppOutbound).where(WhatsAppOutbound.key == "reply:late")).one()
        assert late.status == "skipped" and late.fell_back_at is None


def test_failed_or_undelivered_whatsapp_falls_back_to_sms_once(channel: Channel, live_client: Any) -> None:
    headers = live_client(["whatsapp:consent"])["headers"]
    for mobile in ("9999000011", "9999000021", "9999000031"):
        _consent(channel, headers, mobile=mobile, consent="opted_in", how="portal", source="p")
    set_behaviour(channel.wa.engine, "919999000021", "fail")
    set_behaviour(channel.wa.engine, "919999000031", "silent")
    channel.wa.forget_behaviours()
    for mobile in ("9999000011", "9999000021", "9999000031"):
        _notice(channel, mobile, f"outage:7:{mobile}")
    channel.work()
    channel.statuses()
    channel.statuses()  # repeated: nothing moves twice
    service: WhatsAppService = process_service(channel.app.app.registry, WhatsAppService)
    assert service.fallback_job() == 1  # the failed one; the silent one is still within its time
    with channel.engine.begin() as conn:
        conn.execute(update(WhatsAppOutbound).values(deadline_at=utcnow() - timedelta(seconds=1)))
    assert service.fallback_job() == 1  # now the undelivered one; the read one never
    assert service.fallback_job() == 0
    channel.work()
    assert _sms_to(channel, "9999000011") == []
    assert _sms_to(channel, "9999000021") == ["Supply off 10-12 on feeder F-7"]
    assert _sms_to(channel, "9999000031") == ["Supply off 10-12 on feeder F-7"]
    with Session(channel.engine) as session:
        rows = {r.wa_id: r for r in session.scalars(select(WhatsAppOutbound))}
    assert rows["919999000011"].status == "read"
    assert rows["919999000021"].status == "failed" and rows["919999000021"].error_code == "131026"
    assert rows["919999000031"].status == "sent"


def test_statuses_out_of_order_and_for_unknown_messages_are_harmless(
    channel: Channel, live_client: Any
) -> None:
    from datetime import UTC, datetime

    from connectors.whatsapp.wire import status_entry, status_webhook
    from tests.hub.whatsapp.conftest import PHONE_NUMBER_ID

    headers = live_client(["whatsapp:consent"])["headers"]
    _consent(channel, headers, mobile="9999000011", consent="opted_in", how="portal", source="p")
    _notice(channel, "9999000011", "k:1")
    channel.work()
    [sent] = channel.wa.messages_to("919999000011")
    now = datetime.now(UTC)
    read_first = status_webhook(
        PHONE_NUMBER_ID,
        [
            status_entry(sent.wamid, "read", "919999000011", now),
            status_entry(sent.wamid, "delivered", "919999000011", now),
            status_entry(sent.wamid, "failed", "919999000011", now, error_code=131026),
            status_entry("wamid.NOT_OURS", "delivered", "919999000011", now),
            status_entry(sent.wamid, "delivered", "919999000099", now),  # another recipient: not this one
        ],
    )
    outcome = channel.post(read_first).json
    assert outcome["statuses"] == 1 and outcome["stale_statuses"] == 2 and outcome["unknown_statuses"] == 2
    with Session(channel.engine) as session:
        row = session.scalars(select(WhatsAppOutbound)).one()
        assert row.status == "read"
