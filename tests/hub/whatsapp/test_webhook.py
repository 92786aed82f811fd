"""The webhook as the platform calls it: the handshake, the signature on the raw body, replays,
malformed payloads, unknown message types, odd numbers, a flood from one number."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from connectors.whatsapp.wire import message_webhook, sign, text_entry
from hub.models import OutboxMessage, WhatsAppInbound
from tests.hub.whatsapp.conftest import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN, Channel, wamid

NUMBER = "919999000011"  # the "clean" persona's registered mobile


def _inbound_count(channel: Channel) -> int:
    with channel.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(WhatsAppInbound)) or 0)


def test_the_handshake_echoes_the_challenge_only_for_our_token(channel: Channel) -> None:
    ok = channel.app.get(
        "/whatsapp/webhook",
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert ok.text == "1158201444"
    assert ok.content_type == "text/plain"
    wrong = channel.app.get(
        "/whatsapp/webhook",
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"},
        status=403,
    )
    assert wrong.json["code"] == "whatsapp_verification_failed"
    assert "1158201444" not in wrong.text
    for params in (
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN + "\u200b", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "टोकन", "hub.challenge": "1"},
    ):
        channel.app.get("/whatsapp/webhook", params, status=403)
    # A challenge that would be echoed as markup is refused, not reflected.
    bad = channel.app.get(
        "/whatsapp/webhook",
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "<script>"},
        status=400,
    )
    assert "<script>" not in bad.text


def test_unsigned_resigned_and_reserialised_webhooks_are_refused_before_anything_is_read(
    channel: Channel,
) -> None:
    body = message_webhook(PHONE_NUMBER_ID, [text_entry(NUMBER, wamid(), "hello", datetime.now(UTC))])
    unsigned = channel.app.post(
        "/whatsapp/webhook", body, headers={"Content-Type": "application/json"}, status=401
    )
    assert unsigned.json["code"] == "whatsapp_signature_invalid"
    assert unsigned.content_type == "application/problem+json"
    channel.post(body, secret="another-apps-secret", status=401)
    channel.post(body, signature="sha256=" + "0" * 64, status=401)
    channel.post(body, signature=sign(APP_SECRET, body).removeprefix("sha256="), status=401)
    channel.post(body, signature="sha1=" + sign(APP_SECRET, body)[7:47], status=401)
    # The same JSON re-serialised (spaces, key order) is other bytes: its old signature fails.
    reserialised = json.dumps(json.loads(body), indent=1).encode()
    channel.post(reserialised, signature=sign(APP_SECRET, body), status=401)
    # Garbage signed with another secret is refused as unsigned, not as malformed: nothing parsed.
    assert channel.post(b"{not json", secret="x", status=401).json["code"] == "whatsapp_signature_invalid"
    assert _inbound_count(channel) == 0
    channel.post(body)
    assert _inbound_count(channel) == 1


def test_malformed_payloads_get_a_clear_400_never_a_500(channel: Channel) -> None:
    now = str(int(datetime.now(UTC).timestamp()))
    good = {"from": NUMBER, "id": wamid(), "timestamp": now, "type": "text", "text": {"body": "hi"}}
    cases: list[tuple[bytes, str]] = [
        (b"", "body"),
        (b"\xff\xfe not utf-8", "body"),
        (b"[]", "body"),
        (b'{"object": "page", "entry": []}', "object"),
        (b'{"object": "whatsapp_business_account"}', "entry"),
        (b'{"object": "whatsapp_business_account", "entry": [{"changes": {}}]}', "changes"),
        (message_webhook(PHONE_NUMBER_ID, [{**good, "from": "+91 99990 00011"}]), "from"),
        (message_webhook(PHONE_NUMBER_ID, [{**good, "from": "९१९९९९०००००११"}]), "from"),
        (message_webhook(PHONE_NUMBER_ID, [{**good, "timestamp": 1749416383}]), "timestamp"),
        (message_webhook(PHONE_NUMBER_ID, [{**good, "id": ""}]), "id"),
        (message_webhook(PHONE_NUMBER_ID, [{**good, "text": {"body": None}}]), "text"),
        (
            message_webhook(PHONE_NUMBER_ID, [{**good, "type": "interactive", "interactive": "x"}]),
            "interactive",
        ),
        (message_webhook(PHONE_NUMBER_ID, [{**good, "id": "x" * 300}]), "id"),
    ]
    for body, where in cases:
        answer = channel.post(body, status=400)
        assert answer.json["code"] == "whatsapp_webhook_malformed"
        assert where in answer.json["detail"]
    statuses = b'{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.X","status":"seen","timestamp":"1","recipient_id":"919999000011"}]}}]}]}'
    assert "status" in channel.post(statuses, status=400).json["detail"]
    assert _inbound_count(channel) == 0


def test_unknown_types_stickers_and_voice_notes_reach_the_chatbot_as_what_they_are(channel: Channel) -> None:
    from tests.hub.whatsapp import conversation

    conversation.SEEN.clear()
    now = str(int(datetime.now(UTC).timestamp()))
    entries: list[dict[str, Any]] = [
        {
            "from": NUMBER,
            "id": wamid(),
            "timestamp": now,
            "type": "sticker",
            "sticker": {"id": "1", "mime_type": "image/webp"},
        },
        {
            "from": NUMBER,
            "id": wamid(),
            "timestamp": now,
            "type": "audio",
            "audio": {"id": "2", "voice": True},
        },
        {"from": NUMBER, "id": wamid(), "timestamp": now, "type": "hologram", "hologram": {}},
        {
            "from": NUMBER,
            "id": wamid(),
            "timestamp": now,
            "type": "unsupported",
            "errors": [{"code": 131051}],
        },
    ]
    assert channel.post(message_webhook(PHONE_NUMBER_ID, entries)).json["messages"] == 4
    channel.work()
    assert [m.kind.value for m in conversation.SEEN] == ["sticker", "audio", "other", "other"]
    texts = [m["text"]["body"] for m in channel.sent_to(NUMBER)]
    assert len(texts) == 4 and all("only text" in t for t in texts)


def test_a_repeated_delivery_is_stored_once_and_answered_once(channel: Channel) -> None:
    message_id = wamid()
    first = channel.say(NUMBER, "नमस्ते", message_id).json
    assert first["messages"] == 1
    again = channel.say(NUMBER, "नमस्ते", message_id).json
    assert again == {**again, "messages": 0, "duplicates": 1}
    channel.work()
    channel.say(NUMBER, "नमस्ते", message_id)  # replayed after it was answered
    channel.work()
    sent = channel.sent_to(NUMBER)
    assert [m["type"] for m in sent] == ["text", "interactive"]
    assert sent[0]["text"]["body"] == "नमस्ते / Hello: नमस्ते"
    assert _inbound_count(channel) == 1


def test_a_flood_from_one_number_is_limited_and_others_still_answered(channel: Channel) -> None:
    flooder, other = "919999000021", "919999000031"
    now = datetime.now(UTC)
    entries = [text_entry(flooder, wamid(), f"spam {n}", now) for n in range(50)]
    outcome = channel.post(message_webhook(PHONE_NUMBER_ID, entries)).json
    assert outcome["messages"] == 20 and outcome["limited"] == 30
    assert channel.say(other, "hello").json["messages"] == 1
    with channel.engine.connect() as conn:
        queued = conn.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "whatsapp.inbound")
        )
    assert queued == 21


def test_hostile_text_is_stored_as_text_and_hostile_ids_are_refused(channel: Channel) -> None:
    from tests.hub.whatsapp import conversation

    conversation.SEEN.clear()
    now = datetime.now(UTC)
    hostile = "बिल\u0000 \u202edlrow\u202c 🙏 '; DROP TABLE whatsapp_inbound; --" + "x" * 5000
    assert channel.say(NUMBER, hostile).json["messages"] == 1
    channel.work()
    [seen] = conversation.SEEN
    assert seen.text is not None and "\u0000" not in seen.text and len(seen.text) <= 4096
    assert seen.text.startswith("बिल \u202edlrow\u202c 🙏 '; DROP TABLE")
    for bad_id in ("wamid.\u0000x", "wamid x", "वामिड"):
        body = message_webhook(PHONE_NUMBER_ID, [text_entry(NUMBER, bad_id, "hi", now)])
        assert "id" in channel.post(body, status=400).json["detail"]
    assert _inbound_count(channel) == 1


def test_changes_for_another_number_of_the_app_are_left_out(channel: Channel) -> None:
    now = datetime.now(UTC)
    other = message_webhook("200000000000002", [text_entry(NUMBER, wamid(), "hi", now)])
    outcome = channel.post(other).json
    assert outcome["other_number"] == 1 and outcome["messages"] == 0
    assert _inbound_count(channel) == 0
    ours = message_webhook(PHONE_NUMBER_ID, [text_entry(NUMBER, wamid(), "hi", now)])
    assert channel.post(ours).json["messages"] == 1
