"""The Cloud API's wire format: message bodies the hub sends, webhooks it receives, their signature.

Sending (``POST /{version}/{phone_number_id}/messages``): every body carries
``messaging_product: whatsapp``, ``recipient_type: individual``, ``to`` and ``type``; the hub
sends ``template`` (business-initiated, approved templates only), and inside the 24-hour
customer-service window ``text``, ``interactive`` (``button`` / ``list``) and ``document``
(by media id). ``biz_opaque_callback_data`` carries the hub's delivery id; the platform echoes
it in the message's statuses.

Receiving: ``{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field":
"messages", "value": {"metadata", "contacts", "messages" | "statuses"}}]}]}``, signed with
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>``.
:func:`parse_webhook` is strict: anything not of that shape is a :class:`MalformedWebhook`
naming what is wrong (the view answers 400), never a crash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.whatsapp.messages import Incoming, IncomingKind, Reply

SIGNATURE_HEADER = "X-Hub-Signature-256"
STATUSES = ("sent", "delivered", "read", "failed")
MAX_TEXT = 4096
_WA_ID = re.compile(r"^[0-9]{6,20}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
# Message ids and choice ids: printable ASCII, no spaces (a wamid is base64 after "wamid.").
_ID = re.compile(r"^[\x21-\x7e]{1,256}$")
_CHOICE = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")
_KINDS = {kind.value: kind for kind in IncomingKind}


def sign(app_secret: str, raw_body: bytes) -> str:
    """The header value the platform sends: ``sha256=`` and the hex HMAC of the raw body."""
    digest = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def signature_ok(app_secret: str, raw_body: bytes, given: str | None) -> bool:
    """Constant-time check of ``X-Hub-Signature-256`` over the bytes as received (an empty
    secret accepts nothing: a deployment without one refuses every webhook)."""
    if not app_secret or not given:
        return False
    expected = sign(app_secret, raw_body).encode("ascii")
    return hmac.compare_digest(expected, given.strip().encode("ascii", "replace"))


# --- what the hub sends -------------------------------------------------------------------


def _envelope(to: str, kind: str, callback: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
    }
    if callback:
        body["biz_opaque_callback_data"] = callback
    return body


def template_message(
    to: str,
    name: str,
    language: str,
    body_parameters: Sequence[str],
    document: tuple[str, str] | None = None,
    callback: str | None = None,
) -> dict[str, Any]:
    """An approved template: ``name`` in ``language`` (``hi``, ``en``), body parameters in order,
    and optionally a document header ``(media_id, filename)``."""
    components: list[dict[str, Any]] = []
    if document is not None:
        media_id, filename = document
        components.append(
            {
                "type": "header",
                "parameters": [{"type": "document", "document": {"id": media_id, "filename": filename}}],
            }
        )
    if body_parameters:
        components.append(
            {"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in body_parameters]}
        )
    body = _envelope(to, "template", callback)
    body["template"] = {"name": name, "language": {"code": language}, "components": components}
    return body


def reply_message(
    to: str, reply: Reply, media_id: str | None = None, callback: str | None = None
) -> dict[str, Any]:
    """A free-form reply (inside the 24-hour window): text, buttons, a list, or a document."""
    if reply.document is not None:
        if media_id is None:
            raise ValueError("a document reply needs the uploaded document's media id")
        body = _envelope(to, "document", callback)
        document: dict[str, Any] = {"id": media_id, "filename": reply.document.filename}
        if reply.text:
            document["caption"] = reply.text[:1024]
        body["document"] = document
        return body
    if reply.buttons:
        body = _envelope(to, "interactive", callback)
        body["interactive"] = {
            "type": "button",
            "body": {"text": reply.text[:1024]},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": c.id[:256], "title": c.title[:20]}}
                    for c in reply.buttons
                ]
            },
        }
        return body
    if reply.rows:
        body = _envelope(to, "interactive", callback)
        rows = []
        for c in reply.rows:
            row = {"id": c.id[:200], "title": c.title[:24]}
            if c.description:
                row["description"] = c.description[:72]
            rows.append(row)
        body["interactive"] = {
            "type": "list",
            "body": {"text": reply.text[:4096]},
            "action": {
                "button": reply.list_button[:20],
                "sections": [{"title": reply.list_button[:24], "rows": rows}],
            },
        }
        return body
    body = _envelope(to, "text", callback)
    body["text"] = {"preview_url": False, "body": reply.text[:MAX_TEXT]}
    return body


# --- what the platform sends --------------------------------------------------------------


class MalformedWebhook(ValueError):
    """The webhook body is not the Cloud API's shape; the message says where."""


@dataclass(frozen=True)
class StatusEvent:
    """One ``statuses[]`` entry: what became of a message the hub sent."""

    message_id: str  # the wamid the hub got when it sent the message
    status: str  # sent | delivered | read | failed
    at: datetime
    recipient_id: str
    error_code: int | None = None
    callback: str | None = None  # biz_opaque_callback_data: the hub's delivery id


@dataclass(frozen=True)
class WebhookBatch:
    phone_number_id: str | None
    messages: tuple[Incoming, ...]
    statuses: tuple[StatusEvent, ...]
    # Changes for another business number of the same app, left out (``for_number``).
    other_number: int = 0


def _need(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedWebhook(f"{where}: expected {kind.__name__}")
    return value


def _choice(value: Any, where: str) -> str:
    """The id of a tapped button or row: the hub's own ids, or a template button's payload
    (which may hold spaces); never control characters."""
    raw = _need(value, str, where)
    if not _CHOICE.match(raw):
        raise MalformedWebhook(f"{where}: 1-256 characters, no control characters")
    return raw


def _token(value: Any, where: str) -> str:
    raw = _need(value, str, where)
    if not _ID.match(raw):
        raise MalformedWebhook(f"{where}: 1-256 printable ASCII characters without spaces")
    return raw


def _clean(text: str, limit: int) -> str:
    """A consumer's text as the hub keeps it: NUL removed (no database stores it), capped."""
    return text.replace("\x00", "")[:limit]


def _when(value: Any, where: str) -> datetime:
    raw = _need(value, str, where)
    if not _TIMESTAMP.match(raw):
        raise MalformedWebhook(f"{where}: a Unix timestamp")
    return datetime.fromtimestamp(int(raw), UTC)


def _wa_id(value: Any, where: str) -> str:
    raw = _need(value, str, where)
    if not _WA_ID.match(raw):
        raise MalformedWebhook(f"{where}: a WhatsApp id (6-20 digits)")
    return raw


def _incoming(raw: Any, where: str) -> Incoming:
    message = _need(raw, dict, where)
    wa_id = _wa_id(message.get("from"), where + ".from")
    message_id = _token(message.get("id"), where + ".id")
    sent_at = _when(message.get("timestamp"), where + ".timestamp")
    kind = _KINDS.get(str(message.get("type")), IncomingKind.OTHER)
    text: str | None = None
    choice: str | None = None
    if kind is IncomingKind.TEXT:
        text = _need(_need(message.get("text"), dict, where + ".text").get("body"), str, where + ".text.body")
        text = _clean(text, MAX_TEXT)
    elif kind is IncomingKind.INTERACTIVE:
        inner = _need(message.get("interactive"), dict, where + ".interactive")
        reply = inner.get("button_reply") or inner.get("list_reply")
        if reply is None:
            kind = IncomingKind.OTHER  # nfm_reply (flows) and the like: not something the hub offered
        else:
            reply = _need(reply, dict, where + ".interactive reply")
            choice = _choice(reply.get("id"), where + ".interactive reply.id")
            text = _clean(_need(reply.get("title", ""), str, where + ".interactive reply.title"), 100)
    elif kind is IncomingKind.BUTTON:
        button = _need(message.get("button"), dict, where + ".button")
        choice = _choice(button.get("payload"), where + ".button.payload")
        text = _clean(_need(button.get("text", ""), str, where + ".button.text"), 100)
    return Incoming(
        wa_id=wa_id, message_id=message_id, kind=kind, sent_at=sent_at, text=text, choice_id=choice
    )


def _status(raw: Any, where: str) -> StatusEvent:
    entry = _need(raw, dict, where)
    status = _need(entry.get("status"), str, where + ".status")
    if status not in STATUSES:
        raise MalformedWebhook(f"{where}.status: one of {', '.join(STATUSES)}")
    error_code: int | None = None
    errors = entry.get("errors")
    if errors is not None:
        first = _need(_need(errors, list, where + ".errors")[0] if errors else {}, dict, where + ".errors[0]")
        code = first.get("code")
        error_code = code if isinstance(code, int) and not isinstance(code, bool) else None
    callback = entry.get("biz_opaque_callback_data")
    return StatusEvent(
        message_id=_token(entry.get("id"), where + ".id"),
        status=status,
        at=_when(entry.get("timestamp"), where + ".timestamp"),
        recipient_id=_wa_id(entry.get("recipient_id"), where + ".recipient_id"),
        error_code=error_code,
        callback=callback if isinstance(callback, str) and len(callback) <= 512 else None,
    )


def parse_webhook(raw_body: bytes, for_number: str | None = None) -> WebhookBatch:
    """The messages and statuses of a webhook body (already signature-checked); with
    ``for_number``, only those of changes addressed to that phone number id (an app may serve
    several numbers, and another number's consumers are not this one's)."""
    try:
        document = json.loads(raw_body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedWebhook("body: not UTF-8 JSON") from None
    body = _need(document, dict, "body")
    if body.get("object") != "whatsapp_business_account":
        raise MalformedWebhook("object: expected whatsapp_business_account")
    messages: list[Incoming] = []
    statuses: list[StatusEvent] = []
    phone_number_id: str | None = None
    other_number = 0
    for e, entry in enumerate(_need(body.get("entry"), list, "entry")):
        for c, change in enumerate(
            _need(_need(entry, dict, f"entry[{e}]").get("changes"), list, f"entry[{e}].changes")
        ):
            where = f"entry[{e}].changes[{c}]"
            if _need(change, dict, where).get("field") != "messages":
                continue  # account and template updates: not the channel's business
            value = _need(change.get("value"), dict, where + ".value")
            metadata = value.get("metadata")
            addressed = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            if isinstance(addressed, str):
                phone_number_id = addressed
            # Every change is read (a malformed one is refused whoever it is for), then kept
            # only when it is addressed to this number.
            found = [
                _incoming(message, f"{where}.value.messages[{m}]")
                for m, message in enumerate(_need(value.get("messages", []), list, where + ".value.messages"))
            ]
            events = [
                _status(status, f"{where}.value.statuses[{n}]")
                for n, status in enumerate(_need(value.get("statuses", []), list, where + ".value.statuses"))
            ]
            if for_number is not None and addressed != for_number:
                other_number += 1
                continue
            messages.extend(found)
            statuses.extend(events)
    return WebhookBatch(phone_number_id, tuple(messages), tuple(statuses), other_number)


# --- webhook bodies (the reference backend and the tests play the platform) -----------------


def _webhook(phone_number_id: str, value: dict[str, Any]) -> bytes:
    document = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA-" + phone_number_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "917552551912",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def message_webhook(phone_number_id: str, messages: Sequence[dict[str, Any]], name: str = "") -> bytes:
    """A webhook carrying consumers' messages (each a ``messages[]`` object)."""
    contacts = [{"profile": {"name": name}, "wa_id": m.get("from")} for m in messages[:1]]
    return _webhook(phone_number_id, {"contacts": contacts, "messages": list(messages)})


def status_webhook(phone_number_id: str, statuses: Sequence[dict[str, Any]]) -> bytes:
    """A webhook carrying statuses (each a ``statuses[]`` object)."""
    return _webhook(phone_number_id, {"statuses": list(statuses)})


def status_entry(
    message_id: str,
    status: str,
    recipient_id: str,
    at: datetime,
    callback: str | None = None,
    error_code: int | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(at.timestamp())),
        "recipient_id": recipient_id,
    }
    if callback:
        entry["biz_opaque_callback_data"] = callback
    if error_code is not None:
        entry["errors"] = [{"code": error_code, "title": "Message undeliverable"}]
    return entry


def text_entry(wa_id: str, message_id: str, text: str, at: datetime) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": message_id,
        "timestamp": str(int(at.timestamp())),
        "type": "text",
        "text": {"body": text},
    }
