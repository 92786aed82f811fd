"""What the WhatsApp channel hands the chatbot, and what the chatbot asks it to send.

The channel (webhook, signature check, deduplication, the 24-hour window, sending) lives
in the connector and :mod:`hub.whatsapp`; the conversation lives in :mod:`hub.chatbot`.
Both speak these types, so neither knows the other's insides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class IncomingKind(StrEnum):
    """The Cloud API's ``messages[].type`` values the hub tells apart."""

    TEXT = "text"
    # A tap on a reply button or a list row (``interactive.button_reply`` / ``list_reply``).
    INTERACTIVE = "interactive"
    # A tap on a quick-reply button of a template message (``button.payload``).
    BUTTON = "button"
    IMAGE = "image"
    STICKER = "sticker"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    LOCATION = "location"
    CONTACTS = "contacts"
    REACTION = "reaction"
    # Anything else the API sends (``unsupported``, new types): the bot says it cannot read it.
    OTHER = "other"


@dataclass(frozen=True)
class Incoming:
    """One message from a consumer, as the webhook delivered it.

    ``wa_id`` is the sender's WhatsApp id: the number in international form, digits only
    (``919876543210``). ``message_id`` is the API's ``wamid``, unique per message; a webhook
    delivered twice carries the same id. ``text`` is the body of a text message or the title
    of the tapped button or row; ``choice_id`` the id the hub gave that button or row.
    """

    wa_id: str
    message_id: str
    kind: IncomingKind
    sent_at: datetime
    text: str | None = None
    choice_id: str | None = None


@dataclass(frozen=True)
class Choice:
    """A reply button or list row: ``id`` comes back as ``Incoming.choice_id`` when tapped."""

    id: str  # at most 256 characters
    title: str  # at most 20 characters on a button, 24 on a list row
    description: str = ""  # list rows only, at most 72 characters


@dataclass(frozen=True)
class DocumentRef:
    """A document the hub holds, to be sent as a WhatsApp document (PDF).

    ``kind`` names the hub's document (``bill``, ``receipt``...), ``key`` which one
    (bill number, receipt number); the channel renders or finds it and uploads it once.
    """

    kind: str
    key: str
    filename: str


@dataclass(frozen=True)
class Reply:
    """A free-form message inside the customer-service window.

    Plain ``text``; with ``buttons`` (1–3) an interactive button message; with ``rows``
    (1–10) an interactive list opened by ``list_button``; with ``document`` a PDF whose
    caption is ``text``. Only one of buttons, rows and document.
    """

    text: str
    buttons: tuple[Choice, ...] = ()
    rows: tuple[Choice, ...] = ()
    list_button: str = ""
    document: DocumentRef | None = None

    def __post_init__(self) -> None:
        shapes = sum(1 for part in (self.buttons, self.rows, self.document) if part)
        if shapes > 1:
            raise ValueError(
                "a reply is text with buttons, or with list rows, or with a document: one of them"
            )
        if len(self.buttons) > 3:
            raise ValueError("at most 3 reply buttons")
        if len(self.rows) > 10:
            raise ValueError("at most 10 list rows")
        if self.rows and not self.list_button:
            raise ValueError("a list needs the label of the button that opens it")
