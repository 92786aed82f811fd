"""A minimal conversation for the channel's tests only (the real one is hub.chatbot, built apart).

It answers the way a chatbot would use each shape of reply, so the tests see every shape go
through the channel: a menu of buttons, a list, a document (the consumer's bill), plain text.
"""

from __future__ import annotations

from typing import Any

from connectors.demo import PERSONAS
from connectors.whatsapp.messages import Choice, DocumentRef, Incoming, IncomingKind, Reply

SEEN: list[Incoming] = []
# The "dues" persona's first connection: the bill the test conversation shows.
BILL_FOR = PERSONAS["dues"].consumer_numbers[0]


def converse(registry: Any, incoming: Incoming, session: Any = None) -> list[Reply]:
    SEEN.append(incoming)
    if incoming.kind not in (IncomingKind.TEXT, IncomingKind.INTERACTIVE, IncomingKind.BUTTON):
        return [Reply("I can read only text and menu choices. / मैं केवल लिखा हुआ पढ़ सकता हूँ।")]
    if incoming.choice_id == "bill":
        return [Reply("आपका बिल / Your bill", document=DocumentRef("bill", BILL_FOR, "bill.pdf"))]
    if incoming.choice_id == "more":
        rows = tuple(Choice(f"row{n}", f"विकल्प {n}", "description") for n in range(1, 4))
        return [Reply("और विकल्प / More", rows=rows, list_button="चुनें / Choose")]
    return [
        Reply(f"नमस्ते / Hello: {incoming.text or ''}"[:200]),
        Reply(
            "क्या चाहिए? / What do you need?",
            buttons=(Choice("bill", "बिल / Bill"), Choice("more", "और / More")),
        ),
    ]
