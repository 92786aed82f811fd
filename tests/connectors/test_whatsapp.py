"""The WhatsApp connector: the wire format, the reference Cloud API, and the httpx client
against a fake Graph API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from connectors.errors import ConnectorRejected, ConnectorUnavailable
from connectors.reference_db import set_down
from connectors.whatsapp import IWhatsApp, normalise_wa_id
from connectors.whatsapp.client import CloudWhatsApp
from connectors.whatsapp.messages import Choice, DocumentRef, IncomingKind, Reply
from connectors.whatsapp.reference import ReferenceWhatsApp, set_behaviour
from connectors.whatsapp.wire import (
    MalformedWebhook,
    message_webhook,
    parse_webhook,
    reply_message,
    sign,
    signature_ok,
    template_message,
    text_entry,
)
from tests.connectors.fake_whatsapp import PHONE_NUMBER_ID, TOKEN, VERSION, FakeGraph
from tests.connectors.fakehttp import FakeServer
from tests.connectors.messaging_fixtures import FAILURE_MODES, http_context, ref_context, ref_engine

__all__ = ["ref_engine"]

PDF = b"%PDF-1.7\n% bill\n" + bytes(range(256)) + b"\n%%EOF\n"


@pytest.mark.parametrize(
    "raw",
    [
        "+91 98765 43210",
        "+919876543210",
        "919876543210",
        "09876543210",
        "9876543210",
        "98765-43210",
        "(0)98765 43210",
    ],
)
def test_numbers_in_every_usual_spelling_are_one_wa_id(raw: str) -> None:
    assert normalise_wa_id(raw) == "919876543210"


@pytest.mark.parametrize(
    "raw",
    ["", "12345", "+14155550100", "5876543210", "९८७६५४३२१०", "98765４3210", "9876543210x", "919876543210 1"],
)
def test_other_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ConnectorRejected) as err:
        normalise_wa_id(raw)
    assert err.value.code == "whatsapp_bad_number"


def test_the_signature_is_over_the_raw_bytes_and_checked_in_constant_time() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = sign("secret", body)
    assert header.startswith("sha256=") and len(header) == 71
    assert signature_ok("secret", body, header)
    assert not signature_ok("secret", body + b" ", header)
    assert not signature_ok("other", body, header)
    assert not signature_ok("", body, sign("", body))  # no secret configured: nothing accepted
    assert not signature_ok("secret", body, None)
    assert not signature_ok("secret", body, "sha256=ज़" + header[9:])


def test_webhooks_parse_into_incoming_messages_and_statuses() -> None:
    now = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    body = message_webhook(
        PHONE_NUMBER_ID,
        [
            text_entry("919876543210", "wamid.A", "बिल दिखाओ", now),
            {
                "from": "919876543210",
                "id": "wamid.B",
                "timestamp": str(int(now.timestamp())),
                "type": "interactive",
                "interactive": {"type": "list_reply", "list_reply": {"id": "complaint", "title": "शिकायत"}},
            },
            {
                "from": "919876543210",
                "id": "wamid.C",
                "timestamp": "1",
                "type": "button",
                "button": {"payload": "stop", "text": "Stop"},
            },
            {
                "from": "919876543210",
                "id": "wamid.D",
                "timestamp": "1",
                "type": "image",
                "image": {"id": "5"},
            },
        ],
    )
    batch = parse_webhook(body)
    assert batch.phone_number_id == PHONE_NUMBER_ID
    kinds = [(m.kind, m.text, m.choice_id) for m in batch.messages]
    assert kinds == [
        (IncomingKind.TEXT, "बिल दिखाओ", None),
        (IncomingKind.INTERACTIVE, "शिकायत", "complaint"),
        (IncomingKind.BUTTON, "Stop", "stop"),
        (IncomingKind.IMAGE, None, None),
    ]
    assert batch.messages[0].sent_at == now
    with pytest.raises(MalformedWebhook, match="messages\\[0\\].from"):
        parse_webhook(message_webhook(PHONE_NUMBER_ID, [text_entry("+91 98765", "wamid.A", "x", now)]))


def test_message_bodies_are_the_cloud_apis() -> None:
    body = template_message(
        "919876543210", "mpcz_monthly_bill", "hi", ["रमेश", "2026-11"], ("9001", "bill.pdf"), "hub-wa-1"
    )
    assert body["type"] == "template" and body["biz_opaque_callback_data"] == "hub-wa-1"
    assert body["template"]["components"][0] == {
        "type": "header",
        "parameters": [{"type": "document", "document": {"id": "9001", "filename": "bill.pdf"}}],
    }
    assert body["template"]["components"][1]["parameters"][0] == {"type": "text", "text": "रमेश"}
    buttons = reply_message("919876543210", Reply("menu", buttons=(Choice("a", "A" * 30),)))
    assert buttons["interactive"]["action"]["buttons"][0]["reply"] == {"id": "a", "title": "A" * 20}
    listing = reply_message("919876543210", Reply("menu", rows=(Choice("r", "R", "d"),), list_button="चुनें"))
    assert listing["interactive"]["action"]["sections"][0]["rows"] == [
        {"id": "r", "title": "R", "description": "d"}
    ]
    document = reply_message(
        "919876543210", Reply("बिल", document=DocumentRef("bill", "1", "b.pdf")), media_id="77"
    )
    assert document["document"] == {"id": "77", "filename": "b.pdf", "caption": "बिल"}
    with pytest.raises(ValueError):
        reply_message("919876543210", Reply("x", document=DocumentRef("bill", "1", "b.pdf")))


# --- the reference Cloud API ---------------------------------------------------------------


def test_reference_records_once_per_key_and_reports_statuses_as_told(ref_engine: Engine) -> None:
    wa = ReferenceWhatsApp.from_context(ref_context("whatsapp", ref_engine))
    assert IWhatsApp.providedBy(wa)
    set_behaviour(ref_engine, "919876543211", "fail")
    set_behaviour(ref_engine, "919876543212", "silent")
    set_behaviour(ref_engine, "919876543213", "reject")
    wa.forget_behaviours()
    body = template_message("919876543210", "t", "hi", ["x"])
    first = wa.send("919876543210", body, "hub-wa-1")
    assert wa.send("919876543210", body, "hub-wa-1") == first  # retried: nothing sent twice
    failing = wa.send("919876543211", template_message("919876543211", "t", "hi", []), "hub-wa-2")
    silent = wa.send("919876543212", template_message("919876543212", "t", "hi", []), "hub-wa-3")
    with pytest.raises(ConnectorRejected):
        wa.send("919876543213", template_message("919876543213", "t", "hi", []), "hub-wa-4")
    with pytest.raises(ConnectorRejected) as err:
        wa.send("919876543219", template_message("919876543219", "t", "hi", []), "hub-wa-1")
    assert err.value.code == "idempotency_conflict"
    statuses = parse_webhook(wa.take_status_webhook() or b"").statuses
    by_message = {(s.message_id, s.status) for s in statuses}
    assert {(first, "sent"), (first, "delivered"), (first, "read")} <= by_message
    assert (failing, "failed") in by_message and (silent, "sent") in by_message
    assert (silent, "delivered") not in by_message
    assert next(s for s in statuses if s.status == "failed").error_code == 131026
    assert all(s.callback and s.callback.startswith("hub-wa-") for s in statuses)
    assert wa.take_status_webhook() is None
    set_down(ref_engine, "whatsapp")
    with pytest.raises(ConnectorUnavailable):
        wa.send("919876543210", body, "hub-wa-9")
    set_down(ref_engine, "whatsapp", False)


# --- the real client against a fake Graph API -------------------------------------------------


@pytest.fixture
def graph() -> Iterator[tuple[FakeServer, FakeGraph]]:
    handler = FakeGraph()
    with FakeServer(handler) as server:
        yield server, handler


def client_for(server: FakeServer, token: str = TOKEN) -> CloudWhatsApp:
    return CloudWhatsApp.from_context(
        http_context(
            "whatsapp", server.url, access_token=token, api_version=VERSION, phone_number_id=PHONE_NUMBER_ID
        )
    )


def test_client_uploads_the_bill_once_and_sends_it_in_a_template_header(
    graph: tuple[FakeServer, FakeGraph],
) -> None:
    server, fake = graph
    wa = client_for(server)
    assert IWhatsApp.providedBy(wa)
    media_id = wa.upload_media(PDF, "application/pdf", "bill-1019990000021-2026-11.pdf")
    assert fake.uploads[media_id] == {
        "filename": "bill-1019990000021-2026-11.pdf",
        "content": PDF,
        "type": "application/pdf",
    }
    body = template_message(
        "919876543210", "mpcz_monthly_bill", "hi", ["सुनीता", "₹4,572.50"], (media_id, "bill.pdf")
    )
    wamid = wa.send("919876543210", body, "hub-wa-17")
    assert wamid.startswith("wamid.")
    sent = fake.messages[0]
    assert sent["template"]["components"][0]["parameters"][0]["document"]["id"] == media_id
    assert sent["template"]["components"][1]["parameters"][0]["text"] == "सुनीता"
    assert sent["biz_opaque_callback_data"] == "hub-wa-17"
    assert [r.path for r in server.requests] == [
        f"/{VERSION}/{PHONE_NUMBER_ID}/media",
        f"/{VERSION}/{PHONE_NUMBER_ID}/messages",
    ]
    wa.send(
        "919876543210",
        reply_message("919876543210", Reply("बिल", document=DocumentRef("bill", "1", "b.pdf")), media_id),
        "hub-wa-18",
    )
    wa.send(
        "919876543210", reply_message("919876543210", Reply("menu", buttons=(Choice("a", "A"),))), "hub-wa-19"
    )
    assert [m["type"] for m in fake.messages] == ["template", "document", "interactive"]
    wa.heartbeat()


def test_client_maps_graph_errors(graph: tuple[FakeServer, FakeGraph]) -> None:
    server, fake = graph
    with pytest.raises(ConnectorUnavailable):  # our token is wrong: nothing will work until fixed
        client_for(server, token="expired").send(
            "919876543210", template_message("919876543210", "t", "hi", []), "k"
        )
    fake.not_on_whatsapp.add("919876543211")
    with pytest.raises(ConnectorRejected) as err:
        client_for(server).send("919876543211", template_message("919876543211", "t", "hi", []), "k")
    assert err.value.code == "whatsapp_rejected"
    with pytest.raises(ConnectorRejected):
        client_for(server).send(
            "919876543210",
            reply_message("919876543210", Reply("x", document=DocumentRef("b", "1", "b.pdf")), "404"),
            "k",
        )


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_client_failures_are_unavailable(graph: tuple[FakeServer, FakeGraph], mode: str) -> None:
    server, _ = graph
    wa = client_for(server)
    if mode == "refused":
        server.down()
    else:
        server.mode = mode
    with pytest.raises(ConnectorUnavailable):
        wa.send("919876543210", template_message("919876543210", "t", "hi", []), "k")
    with pytest.raises(ConnectorUnavailable):
        wa.upload_media(PDF, "application/pdf", "b.pdf")
    with pytest.raises(ConnectorUnavailable):
        wa.heartbeat()
    server.mode = "ok"
    server.up()
    assert wa.send("919876543210", template_message("919876543210", "t", "hi", []), "k").startswith("wamid.")


def test_client_refuses_bad_settings_and_garbage_answers(graph: tuple[FakeServer, FakeGraph]) -> None:
    server, _ = graph
    with pytest.raises(ValueError):
        CloudWhatsApp.from_context(
            http_context(
                "whatsapp", server.url, access_token=TOKEN, api_version="21", phone_number_id=PHONE_NUMBER_ID
            )
        )
    with pytest.raises(ValueError):
        CloudWhatsApp.from_context(
            http_context("whatsapp", server.url, access_token=TOKEN, phone_number_id="abc")
        )
    from tests.connectors.fakehttp import FakeResponse

    server.handler = lambda request: FakeResponse.json(200, {"messages": [{"id": "<script>"}]})
    with pytest.raises(ConnectorUnavailable):
        client_for(server).send("919876543210", template_message("919876543210", "t", "hi", []), "k")
    server.handler = lambda request: FakeResponse.json(200, {"id": "not-a-number"})
    with pytest.raises(ConnectorUnavailable):
        client_for(server).upload_media(PDF, "application/pdf", "b.pdf")


def test_template_button_payloads_may_hold_spaces_but_no_control_characters() -> None:
    def button(payload: str) -> bytes:
        entry = {
            "from": "919876543210",
            "id": "wamid.E",
            "timestamp": "1",
            "type": "button",
            "button": {"payload": payload, "text": "Stop"},
        }
        return message_webhook(PHONE_NUMBER_ID, [entry])

    assert parse_webhook(button("Stop promotions")).messages[0].choice_id == "Stop promotions"
    assert parse_webhook(button("बंद करें")).messages[0].choice_id == "बंद करें"
    for bad in ("stop\u0007", "", "x" * 257):
        with pytest.raises(MalformedWebhook, match="button.payload"):
            parse_webhook(button(bad))
