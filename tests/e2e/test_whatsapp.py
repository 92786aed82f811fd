"""WhatsApp on the served hub, as the platform drives it: signed webhooks in, the Cloud API (the
reference backend) out. A whole chatbot conversation for each menu item, and a month's bill run for
the demo consumers who opted in, killed half way and resumed by hub-worker, each bill sent once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connectors.demo import PERSONAS
from connectors.whatsapp.messages import Choice, DocumentRef, Incoming, IncomingKind, Reply
from connectors.whatsapp.wire import SIGNATURE_HEADER, message_webhook, sign
from hub.db import make_engine
from tests.e2e.conftest import ROOT, ServedHub, file_connection
from tests.hub.chatbot.chat import Chat, choices, said

# development.ini's WhatsApp settings: the reference platform's number and the app secret.
PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "dev-whatsapp-app-secret"
COMPLAINT_NO = re.compile(r"\b[0-9]{13}\b")


def _wait(predicate: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {seconds} s")


def post_webhook(hub: ServedHub, body: bytes, secret: str = APP_SECRET) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/whatsapp/webhook",
        content=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)},
        timeout=30,
    )


def _reply_of(body: dict[str, Any]) -> Reply:
    """A message the hub sent, read back from the Cloud API's JSON as the chatbot's Reply."""
    kind = body["type"]
    if kind == "text":
        return Reply(body["text"]["body"])
    if kind == "document":
        document = body["document"]
        return Reply(
            document.get("caption", ""),
            document=DocumentRef("document", document["id"], document["filename"]),
        )
    assert kind == "interactive", body
    interactive = body["interactive"]
    text = interactive["body"]["text"]
    action = interactive["action"]
    if interactive["type"] == "button":
        return Reply(
            text, buttons=tuple(Choice(b["reply"]["id"], b["reply"]["title"]) for b in action["buttons"])
        )
    rows = tuple(
        Choice(r["id"], r["title"], r.get("description", "")) for s in action["sections"] for r in s["rows"]
    )
    return Reply(text, rows=rows, list_button=action["button"])


class Platform:
    """WhatsApp's side: a consumer's message as a signed webhook; what the hub sent back, read
    from the reference Cloud API once hub-worker has answered and sent every reply."""

    def __init__(self, hub: ServedHub) -> None:
        self.hub = hub
        self.last: list[Reply] = []

    def __call__(self, message: Incoming) -> list[Reply]:
        entry: dict[str, Any] = {
            "from": message.wa_id,
            "id": message.message_id,
            "timestamp": str(int(message.sent_at.timestamp())),
        }
        if message.kind is IncomingKind.STICKER:
            entry |= {"type": "sticker", "sticker": {"id": "1009", "mime_type": "image/webp"}}
        elif message.choice_id is None:
            entry |= {"type": "text", "text": {"body": message.text or ""}}
        else:
            rows = {c.id for r in self.last for c in r.rows}
            kind = "list_reply" if message.choice_id in rows else "button_reply"
            entry |= {
                "type": "interactive",
                "interactive": {"type": kind, kind: {"id": message.choice_id, "title": message.text or ""}},
            }
        answer = post_webhook(self.hub, message_webhook(PHONE_NUMBER_ID, [entry]))
        assert answer.status_code == 200, answer.text
        self.last = self.replies_to(message.message_id)
        return self.last

    def replies_to(self, message_id: str) -> list[Reply]:
        def handled() -> bool:
            rows = self.hub.sql("SELECT handled_at FROM whatsapp_inbound WHERE message_id = :m", m=message_id)
            return bool(rows) and rows[0][0] is not None

        _wait(handled, f"hub-worker answering {message_id}")

        def sent() -> list[Any] | None:
            rows = self.hub.sql(
                "SELECT id, key, status FROM whatsapp_outbound WHERE key LIKE :k",
                k=f"reply:{message_id[:150]}:%",
            )
            if any(status == "queued" for _, _, status in rows):
                return None
            return sorted(rows, key=lambda row: int(str(row[1]).rpartition(":")[2])) or [None]

        outbound = [row for row in _wait(sent, f"the replies to {message_id} sent") if row is not None]
        replies = []
        for outbound_id, _key, _status in outbound:
            [(body,)] = self.hub.reference_sql(
                "SELECT body FROM ref_whatsapp_message WHERE idempotency_key = :k", k=f"hub-wa-{outbound_id}"
            )
            replies.append(_reply_of(json.loads(body)))
        return replies


def chat(hub: ServedHub, mobile: str) -> Chat:
    # A person's messages a second apart (the platform's timestamps are whole seconds).
    return Chat(Platform(hub), "91" + mobile, start=datetime.now(UTC), step=timedelta(seconds=1))


def test_a_whole_conversation_for_each_menu_item_through_signed_webhooks(served_hub: ServedHub) -> None:
    clean, dues = PERSONAS["clean"], PERSONAS["dues"]

    # Unsigned or re-signed: refused before anything is read.
    body = message_webhook(
        PHONE_NUMBER_ID,
        [
            {
                "from": "91" + clean.mobile,
                "id": "wamid.X",
                "timestamp": "1",
                "type": "text",
                "text": {"body": "hi"},
            }
        ],
    )
    assert post_webhook(served_hub, body, secret="not-the-app-secret").status_code == 401
    assert served_hub.sql("SELECT COUNT(*) FROM whatsapp_inbound WHERE message_id = 'wamid.X'") == [(0,)]

    # Any message opens the menu.
    consumer = chat(served_hub, clean.mobile)
    consumer.say("hello")
    menu = [c.id for c in choices(consumer.last)]
    assert "menu:bill" in menu and "menu:complaint" in menu and "Welcome" in said(consumer.last)

    # Register a complaint, then its status.
    consumer.tap("menu:complaint")
    consumer.tap(f"conn:{clean.consumer_numbers[0]}")
    consumer.tap("type:supply_failure")
    consumer.say("No power since morning, lane 4")
    registered = COMPLAINT_NO.search(said(consumer.last))
    assert registered is not None, said(consumer.last)
    complaint_no = registered.group(0)
    assert served_hub.sql("SELECT channel FROM complaints WHERE complaint_no = :n", n=complaint_no) == [
        ("whatsapp",)
    ]
    consumer.say("status")
    consumer.tap(f"conn:{clean.consumer_numbers[0]}")
    assert complaint_no in said(consumer.last)

    # The latest bill, as a PDF document sent by media id.
    owing = chat(served_hub, dues.mobile)
    owing.say("bill")
    owing.tap(f"conn:{dues.consumer_numbers[0]}")
    [document] = [r.document for r in owing.last if r.document is not None]
    assert document.filename.endswith(".pdf") and "4572.50" in said(owing.last)
    media = served_hub.reference_sql(
        "SELECT size FROM ref_whatsapp_media WHERE media_id = :m", m=document.key
    )
    assert media and media[0][0] > 10_000

    # The payment receipt: none yet for this connection, said so.
    owing.say("receipt")
    owing.tap(f"conn:{dues.consumer_numbers[0]}")
    assert "no payment" in said(owing.last).lower()

    # Application status: no-dues, and a new connection filed by the single window with this mobile.
    _, _, application_no = file_connection(served_hub)
    applicant = chat(served_hub, "9425012345")  # the LT industrial sample form's contact mobile
    applicant.say("hello")
    applicant.tap("menu:connection")
    assert application_no in said(applicant.last)
    applicant.tap("menu:menu")
    applicant.tap("menu:nodues")
    assert "no-dues" in said(applicant.last).lower()

    # Hindi, remembered; then exit.
    owing.say("menu")
    owing.tap("menu:language")
    owing.tap("lang:hi")
    assert "हिंदी" in said(owing.last)
    owing.say("बिल")
    assert "कौन सा कनेक्शन" in said(owing.last)
    owing.tap(f"conn:{dues.consumer_numbers[0]}")
    assert "जमा करें" in said(owing.last) and [r.document for r in owing.last if r.document]
    owing.say("मेनू")
    owing.tap("menu:exit")
    assert "धन्यवाद" in said(owing.last)

    # A sticker it cannot read: said so, with the menu.
    consumer.send(IncomingKind.STICKER)
    assert "text" in said(consumer.last).lower() and choices(consumer.last)
    # The same message delivered again is not answered again.
    again = consumer.sent[-1]
    answer = post_webhook(
        served_hub,
        message_webhook(
            PHONE_NUMBER_ID,
            [
                {
                    "from": again.wa_id,
                    "id": again.message_id,
                    "timestamp": str(int(again.sent_at.timestamp())),
                    "type": "sticker",
                    "sticker": {"id": "st1", "mime_type": "image/webp"},
                }
            ],
        ),
    )
    assert answer.status_code == 200 and answer.json()["duplicates"] == 1


def test_a_bill_run_killed_half_way_resumes_and_sends_each_bill_once(served_hub: ServedHub) -> None:
    consents = served_hub.client("Discom portal (WhatsApp)", "whatsapp:consent whatsapp:read")
    # Demo consumers who opted in on the portal, with their connections' bills.
    people: dict[str, list[str]] = {}
    for number, mobile in served_hub.reference_sql(
        "SELECT consumer_number, mobile FROM ref_consumer WHERE connection_status = 'active' ORDER BY consumer_number"
    ):
        people.setdefault(str(mobile), []).append(str(number))
    chosen = dict(list(people.items())[:12])
    for mobile, numbers in chosen.items():
        answer = httpx.post(
            f"{served_hub.url}/api/v1/whatsapp/consents",
            json={
                "mobile": mobile,
                "consent": "opted_in",
                "how": "portal",
                "source": "e2e session",
                "bills_for": numbers,
            },
            headers=consents["headers"],
            timeout=30,
        )
        assert answer.status_code in (200, 201), answer.text
    subscribed = sum(len(n) for n in chosen.values())
    # A connection released since billing's last run (another walk may have released one) has no
    # bill this cycle: it is skipped, not sent and not failed.
    billed = {
        str(n)
        for (n,) in served_hub.reference_sql(
            "SELECT DISTINCT consumer_number FROM ref_ledger_entry WHERE kind = 'bill'"
        )
    }
    with_bill = sum(1 for numbers in chosen.values() for n in numbers if n in billed)

    cycle = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    def run() -> dict[str, Any]:
        answer = httpx.get(
            f"{served_hub.url}/api/v1/whatsapp/bill-runs/{cycle}", headers=consents["headers"], timeout=30
        )
        if answer.status_code == 404:
            return {"state": None, "handed_off": 0}
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    # An operator runs it in the foreground, three consumers a page, two a second, and the process
    # is killed after its first page: the run stays where that page left it.
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "hub-admin"),
            "development.ini",
            "whatsapp",
            "bill-run",
            "start",
            cycle,
            "--here",
        ],
        cwd=ROOT,
        env={**served_hub.env, "HUB_WHATSAPP_BILL_PAGE_SIZE": "3", "HUB_WHATSAPP_MESSAGES_PER_SECOND": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait(lambda: run()["handed_off"] > 0, "the first page handed off", 60)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    # Killed after its first page; hub-worker, which goes on with every running run, finishes it
    # from where it was left (or had taken pages alongside): nothing is handed off twice either way.
    assert 0 < run()["handed_off"] <= subscribed
    _wait(lambda: run()["state"] == "done", "hub-worker finishing the run", 120)
    _wait(lambda: run()["sent"] == with_bill, "every bill sent", 120)

    # The platform reports delivery and reading; the report counts them.
    reference = make_engine(served_hub.reference_url, pool_size=1)
    try:
        from connectors.whatsapp.reference import ReferenceWhatsApp

        platform = ReferenceWhatsApp(reference, PHONE_NUMBER_ID)
        while (statuses := platform.take_status_webhook(limit=1000)) is not None:
            assert post_webhook(served_hub, statuses).status_code == 200
    finally:
        reference.dispose()
    report = run()
    assert (report["handed_off"], report["eligible"], report["read"], report["failed"]) == (
        subscribed,
        subscribed,
        with_bill,
        0,
    )
    assert report["skipped"] == subscribed - with_bill

    # Each subscribed connection's bill reached its number once, as the approved template with the PDF.
    for mobile, numbers in chosen.items():
        bodies = [
            json.loads(body)
            for (body,) in served_hub.reference_sql(
                "SELECT body FROM ref_whatsapp_message WHERE \"to\" = :t AND kind = 'template'",
                t="91" + mobile,
            )
        ]
        assert len(bodies) == sum(1 for n in numbers if n in billed), (mobile, bodies)
        for body in bodies:
            header = body["template"]["components"][0]
            assert header["type"] == "header" and header["parameters"][0]["type"] == "document"
