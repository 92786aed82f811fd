"""The WhatsApp channel: consent, the webhook, sending with SMS fallback, the monthly bill run.

Every message the hub sends is a :class:`~hub.models.whatsapp.WhatsAppOutbound` row with a
unique key, written in the caller's transaction with an outbox message (kind
``whatsapp.send``) that sends it after the commit: a bill, a template for another flow
(:func:`send_template`), or a chatbot reply. Its statuses come only by webhook; what fails,
or is not delivered by its deadline, goes by SMS (the periodic job ``whatsapp.fallback``).

Nothing business-initiated goes to a number that has not opted in, or has opted out; replies
go only inside the 24-hour customer-service window of the number's last message, and never
after an opt-out.

A consumer's message is stored once (its wamid is unique) and handed to the outbox (kind
``whatsapp.inbound``, keyed by the number, so one number's messages are answered in order);
the worker asks the chatbot (:func:`converse`) and sends its replies.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pyramid.registry import Registry
from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError, ConnectorRejected
from connectors.whatsapp import normalise_wa_id
from connectors.whatsapp.messages import Incoming, IncomingKind, Reply
from connectors.whatsapp.wire import (
    MalformedWebhook,
    StatusEvent,
    parse_webhook,
    reply_message,
    signature_ok,
    template_message,
)
from hub.audit import record
from hub.bills.service import BillService
from hub.db import WRITE_LOCK_OPTION, mark_written
from hub.errors import Problem
from hub.lookup import process_service
from hub.models.meta import utcnow
from hub.models.outbox import OutboxMessage
from hub.models.whatsapp import (
    WhatsAppBillRun,
    WhatsAppInbound,
    WhatsAppMedia,
    WhatsAppNumber,
    WhatsAppOutbound,
    WhatsAppSubscription,
)
from hub.outbox import connector, enqueue, enqueue_sms, unit_of_work
from hub.ratelimit import RateLimiter

log = logging.getLogger(__name__)

SEND_KIND = "whatsapp.send"
# The monthly bills: sent by the same handler, behind every other message (a million of them must
# not stand in front of a payment's posting or a chatbot's reply).
BILL_KIND = "whatsapp.bill"
INBOUND_KIND = "whatsapp.inbound"
BILL_TEMPLATE = "bill"
WINDOW = timedelta(hours=24)
# The Cloud API keeps an uploaded media 30 days; a day's margin for a message still on its way.
MEDIA_LIFETIME = timedelta(days=29)
TIER_DAY = timedelta(hours=24)
CONSENT_HOWS = ("portal", "app", "office_form", "whatsapp_keyword", "ivrs", "call_centre")
_CYCLE = re.compile(r"^20[0-9]{2}-(0[1-9]|1[0-2])$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_\-]{1,200}$")
_HOW = re.compile(r"^[a-z_]{2,30}$")
# Words a consumer sends to stop or start messages (English and Hindi, as typed or tapped).
STOP_WORDS = frozenset({"stop", "unsubscribe", "stop all", "बंद", "रोकें", "बंद करें"})
START_WORDS = frozenset({"start", "subscribe", "शुरू", "चालू"})
# Status order: a status only ever moves forward (webhooks come late, twice, out of order).
_RANK = {"queued": 0, "accepted": 1, "sent": 2, "delivered": 3, "read": 4}
SYSTEM_ACTOR = "whatsapp"


@dataclass(frozen=True)
class WaTemplate:
    """An approved template under the hub's name for it, with its SMS stand-in.

    ``sms_text`` fills ``{0}``, ``{1}``... with the same parameters, and must match the DLT
    template ``sms`` (the SMS connector checks it before anything is sent).
    """

    key: str
    name: str
    language: str
    parameters: int
    sms: str
    sms_text: str
    document: bool = False


@dataclass(frozen=True)
class WhatsAppSettings:
    app_secret: str
    verify_token: str
    messages_per_second: int
    tier_per_day: int
    deadline: timedelta
    inbound_per_minute: int
    page_size: int
    run_interval_seconds: int
    fallback_interval_seconds: int
    conversation: str
    templates: Mapping[str, WaTemplate]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> WhatsAppSettings:
        return cls(
            app_secret=str(settings["hub.whatsapp.app_secret"]),
            verify_token=str(settings["hub.whatsapp.verify_token"]),
            messages_per_second=int(settings["hub.whatsapp.messages_per_second"]),
            tier_per_day=int(settings["hub.whatsapp.tier_per_day"]),
            deadline=timedelta(seconds=int(settings["hub.whatsapp.delivery_deadline_seconds"])),
            inbound_per_minute=int(settings["hub.whatsapp.inbound_per_minute"]),
            page_size=int(settings["hub.whatsapp.bill_page_size"]),
            run_interval_seconds=int(settings["hub.whatsapp.bill_run_interval_seconds"]),
            fallback_interval_seconds=int(settings["hub.whatsapp.fallback_interval_seconds"]),
            conversation=str(settings["hub.whatsapp.conversation"]),
            templates=templates_from_settings(settings),
        )


def templates_from_settings(settings: Mapping[str, Any]) -> dict[str, WaTemplate]:
    """``hub.whatsapp.template.<key>.{name,language,parameters,sms,sms_text,document}``."""
    prefix = "hub.whatsapp.template."
    keys = {k[len(prefix) :].split(".")[0] for k in settings if k.startswith(prefix)}
    found: dict[str, WaTemplate] = {}
    for key in sorted(keys):

        def get(field: str, default: str | None = None, key: str = key) -> str:
            value = settings.get(f"{prefix}{key}.{field}", default)
            if value is None or str(value).strip() == "":
                from hub.settings import ConfigurationError

                raise ConfigurationError(f"setting {prefix}{key}.{field} is required")
            return str(value).strip()

        parameters = int(get("parameters", "0"))
        template = WaTemplate(
            key=key,
            name=get("name"),
            language=get("language", "hi"),
            parameters=parameters,
            sms=get("sms"),
            sms_text=get("sms_text"),
            document=get("document", "false").lower() in ("1", "true", "yes"),
        )
        try:
            template.sms_text.format(*(["x"] * parameters))
        except (IndexError, KeyError, ValueError):
            from hub.settings import ConfigurationError

            raise ConfigurationError(
                f"setting {prefix}{key}.sms_text: placeholders {{0}}..{{{parameters - 1}}} only"
            ) from None
        found[key] = template
    return found


# --- numbers and consent ----------------------------------------------------------------------


def wa_id_of(mobile: str) -> str:
    """The WhatsApp id of a mobile as a caller wrote it; Problem validation_failed if not one."""
    try:
        return normalise_wa_id(mobile)
    except ConnectorRejected:
        from hub.errors import FieldError

        raise Problem(
            "validation_failed",
            errors=[FieldError("mobile", "bad_mobile", "an Indian mobile number: +91, 0 or ten digits")],
        ) from None


def number_row(session: Session, wa_id: str, lock: bool = False) -> WhatsAppNumber:
    row = session.get(WhatsAppNumber, wa_id, with_for_update=lock)
    if row is None:
        row = WhatsAppNumber(wa_id=wa_id, consent="none")
        session.add(row)
        session.flush()
    return row


def may_initiate(session: Session, wa_id: str) -> bool:
    """May the hub start a conversation (a template) with ``wa_id``? Only after an opt-in."""
    row = session.get(WhatsAppNumber, wa_id)
    return row is not None and row.consent == "opted_in"


def may_reply(session: Session, wa_id: str, now: datetime | None = None) -> bool:
    """Is ``wa_id`` inside its customer-service window, and not opted out?"""
    row = session.get(WhatsAppNumber, wa_id)
    now = now or utcnow()
    return (
        row is not None
        and row.consent != "opted_out"
        and row.last_inbound_at is not None
        and now - row.last_inbound_at < WINDOW
    )


def consent_json(row: WhatsAppNumber | None, wa_id: str, subscriptions: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "wa_id": wa_id,
        "consent": row.consent if row else "none",
        "consent_at": row.consent_at.isoformat() if row and row.consent_at else None,
        "how": row.consent_how if row else None,
        "source": row.consent_source if row else None,
        "bills_for": list(subscriptions),
    }


def set_consent(
    session: Session, wa_id: str, consent: str, how: str, source: str, actor: str, at: datetime | None = None
) -> WhatsAppNumber:
    """Record an opt-in or opt-out with its evidence (when, how, source), and audit it."""
    if consent not in ("opted_in", "opted_out"):
        raise ValueError("consent is opted_in or opted_out")
    if not _HOW.match(how):
        raise ValueError("how: 2-30 lower-case letters or _")
    row = number_row(session, wa_id, lock=True)
    at = at or utcnow()
    row.consent, row.consent_at, row.consent_how, row.consent_source = consent, at, how, source[:120]
    record(
        session,
        actor,
        f"whatsapp.{consent}",
        "whatsapp_number",
        wa_id,
        {"how": how, "source": source[:120], "at": at.isoformat()},
    )
    return row


def subscriptions_of(session: Session, wa_id: str) -> list[str]:
    return list(
        session.scalars(
            select(WhatsAppSubscription.consumer_number)
            .where(WhatsAppSubscription.wa_id == wa_id)
            .order_by(WhatsAppSubscription.consumer_number)
        )
    )


def subscribe_bills(session: Session, wa_id: str, consumer_numbers: Sequence[str], billing: Any) -> list[str]:
    """Send these connections' bills to ``wa_id``: only those whose registered mobile it is
    (billing says so), so a number never receives another consumer's bill."""
    from connectors.errors import NotFound

    done: list[str] = []
    for number in consumer_numbers:
        try:
            consumer = billing.get_consumer(number)
        except NotFound:
            raise Problem("unknown_consumer_number", extra={"consumer_number": number}) from None
        try:
            registered = normalise_wa_id(consumer.mobile)
        except ConnectorRejected:
            registered = ""
        if registered != wa_id:
            raise Problem("connection_not_yours", "the connection's registered mobile is another number")
        row = session.get(WhatsAppSubscription, number, with_for_update=True)
        if row is None:
            session.add(WhatsAppSubscription(consumer_number=number, wa_id=wa_id, subscribed_at=utcnow()))
        else:
            row.wa_id = wa_id
        done.append(number)
    session.flush()
    return done


# --- sending -----------------------------------------------------------------------------------


def _new_outbound(session: Session, **values: Any) -> WhatsAppOutbound | None:
    """The outbound row under ``values["key"]``, new; None if that key was used before."""
    existing = session.scalar(select(WhatsAppOutbound.id).where(WhatsAppOutbound.key == values["key"]))
    if existing is not None:
        return None
    row = WhatsAppOutbound(status="queued", created_at=utcnow(), **values)
    session.add(row)
    session.flush()
    enqueue(session, SEND_KIND, {"outbound_id": row.id})
    return row


def send_template(
    session: Session,
    registry: Mapping[str, Any],
    mobile: str,
    template: str,
    parameters: Sequence[str],
    key: str,
    consumer_number: str | None = None,
) -> dict[str, Any]:
    """Send the configured template ``template`` to a consumer, honouring consent, SMS otherwise.

    In the caller's transaction, exactly once per ``key`` (e.g. ``outage:<id>:<consumer>``):
    to an opted-in number a WhatsApp template (by SMS later if it fails or is not delivered
    in time); to any other number the template's SMS at once. Returns ``{"channel":
    "whatsapp" | "sms" | "none", "key"}`` ("none": this key was used before, nothing new).
    """
    settings = settings_of(registry)
    spec = settings.templates.get(template)
    if spec is None:
        raise ValueError(f"no WhatsApp template {template!r} configured (hub.whatsapp.template.{template}.*)")
    if len(parameters) != spec.parameters:
        raise ValueError(f"template {template!r} takes {spec.parameters} parameters")
    if not key or len(key) > 180:
        raise ValueError("key must be 1-180 characters")
    wa_id = normalise_wa_id(mobile)
    fallback = {"template": spec.sms, "text": spec.sms_text.format(*parameters)}
    if not may_initiate(session, wa_id):
        # Not opted in (or opted out): SMS, exactly once under the same key.
        if session.scalar(select(WhatsAppOutbound.id).where(WhatsAppOutbound.key == "sms:" + key)):
            return {"channel": "none", "key": key}
        session.add(
            WhatsAppOutbound(
                key="sms:" + key,
                purpose="template",
                wa_id=wa_id,
                consumer_number=consumer_number,
                template=template,
                parameters=list(parameters),
                status="skipped",
                fallback=fallback,
                fell_back_at=utcnow(),
                created_at=utcnow(),
            )
        )
        enqueue_sms(session, wa_id[2:], fallback["text"], spec.sms, key="whatsapp-fallback:" + wa_id)
        return {"channel": "sms", "key": key}
    row = _new_outbound(
        session,
        key=key,
        purpose="template",
        wa_id=wa_id,
        consumer_number=consumer_number,
        template=template,
        parameters=list(parameters),
        fallback=fallback,
        deadline_at=utcnow() + settings.deadline,
    )
    return {"channel": "whatsapp" if row is not None else "none", "key": key}


def settings_of(registry: Mapping[str, Any]) -> WhatsAppSettings:
    return process_service(registry, WhatsAppService).settings  # type: ignore[arg-type]


# Documents a reply may carry: kind -> (session, key) -> PDF bytes. The bill and the payment
# receipt are built in; flows add theirs with :func:`register_document`.
DocumentSource = Callable[[Session, Mapping[str, Any], str], tuple[str, bytes]]
_DOCUMENTS: dict[str, DocumentSource] = {}


def register_document(kind: str, source: DocumentSource) -> None:
    """``source(session, registry, key) -> (media key, PDF)``; the media key names the exact
    document (e.g. bill number and amount), so an upload is reused only for the same PDF."""
    _DOCUMENTS[kind] = source


def _bill_document(session: Session, registry: Mapping[str, Any], consumer_number: str) -> tuple[str, bytes]:
    service = process_service(registry, BillService)
    bill = service.current_bill(consumer_number)
    key = f"bill:{consumer_number}:{bill.bill_number}:{bill.amount_due}"[:120]
    return key, service.bill_pdf(session, consumer_number, "whatsapp")


def _receipt_document(session: Session, registry: Mapping[str, Any], number: str) -> tuple[str, bytes]:
    from hub.certificates.issuing import document_files
    from hub.models.document import IssuedDocument

    record_ = session.scalar(select(IssuedDocument).where(IssuedDocument.number == number))
    if record_ is None:
        raise Problem("not_found", "no such receipt")
    return f"receipt:{number}"[:120], bytes(document_files(session, record_).pdf)


register_document("bill", _bill_document)
register_document("receipt", _receipt_document)


def media_for(registry: Mapping[str, Any], wa: Any, kind: str, key: str, filename: str) -> str:
    """The media id of a document: uploaded the first time, reused after (never rendered again)
    while the platform keeps it (MEDIA_LIFETIME); an older upload is made again."""
    source = _DOCUMENTS.get(kind)
    if source is None:
        raise ValueError(f"no document source for {kind!r}")
    fresh_after = utcnow() - MEDIA_LIFETIME
    with unit_of_work(registry) as session:
        if kind == "bill":
            # The bill's media key is known from billing without rendering anything.
            bill = process_service(registry, BillService).current_bill(key)
            media_key = f"bill:{key}:{bill.bill_number}:{bill.amount_due}"[:120]
            kept = session.get(WhatsAppMedia, media_key)
            if kept is not None and kept.uploaded_at > fresh_after:
                return kept.media_id
        media_key, pdf = source(session, registry, key)
        kept = session.get(WhatsAppMedia, media_key)
        if kept is not None and kept.uploaded_at > fresh_after:
            return kept.media_id
    media_id: str = wa.upload_media(pdf, "application/pdf", filename)
    del pdf  # a run over a million consumers keeps no PDF past its upload
    with unit_of_work(registry) as session:
        kept = session.get(WhatsAppMedia, media_key, with_for_update=True)
        if kept is None:
            session.add(WhatsAppMedia(document_key=media_key, media_id=media_id, uploaded_at=utcnow()))
        elif kept.uploaded_at <= fresh_after:
            kept.media_id, kept.uploaded_at = media_id, utcnow()
    return media_id


# --- the webhook -------------------------------------------------------------------------------


@dataclass
class WebhookOutcome:
    messages: int = 0
    duplicates: int = 0
    limited: int = 0
    statuses: int = 0
    stale_statuses: int = 0
    unknown_statuses: int = 0
    other_number: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def _status_update(session: Session, event: StatusEvent, outcome: WebhookOutcome) -> None:
    row = session.scalars(
        select(WhatsAppOutbound).where(WhatsAppOutbound.wamid == event.message_id).with_for_update()
    ).first()
    if row is None and event.callback and event.callback.startswith("hub-wa-"):
        # The status came before the worker recorded the wamid: the callback data names the row.
        outbound_id = event.callback.removeprefix("hub-wa-")
        if outbound_id.isdigit():
            row = session.get(WhatsAppOutbound, int(outbound_id), with_for_update=True)
            if row is not None and row.wamid is None:
                row.wamid = event.message_id
    if row is None or row.wa_id != event.recipient_id:
        outcome.unknown_statuses += 1
        return
    current = _RANK.get(row.status, -1)
    if event.status == "failed":
        moves = row.status not in ("failed", "delivered", "read", "skipped")
    else:
        moves = row.status != "failed" and _RANK[event.status] > current
    if not moves:
        outcome.stale_statuses += 1
        return
    row.status = event.status
    row.status_at = event.at
    if event.error_code is not None:
        row.error_code = str(event.error_code)
    outcome.statuses += 1


_INBOUND = cast(Table, WhatsAppInbound.__table__)
_NUMBERS = cast(Table, WhatsAppNumber.__table__)


@functools.cache
def _webhook_statements(dialect: str) -> tuple[Any, Any]:
    """Built once per database kind (building an INSERT ... ON CONFLICT costs more than running it):
    store a message unless its wamid is known; open or move the number's window forward."""
    insert_of = pg_insert if dialect == "postgresql" else sqlite_insert
    store_message = (
        insert_of(_INBOUND).on_conflict_do_nothing(index_elements=["message_id"]).returning(_INBOUND.c.id)
    )
    number = insert_of(_NUMBERS)
    open_window = number.on_conflict_do_update(
        index_elements=["wa_id"],
        set_={"last_inbound_at": number.excluded.last_inbound_at},
        where=or_(
            _NUMBERS.c.last_inbound_at.is_(None), _NUMBERS.c.last_inbound_at < number.excluded.last_inbound_at
        ),
    )
    return store_message, open_window


def _keyword(text: str | None) -> str:
    return " ".join((text or "").strip().lower().split())


class WhatsAppService:
    def __init__(self, registry: Registry, settings: WhatsAppSettings) -> None:
        self.registry = registry
        self.settings = settings
        self._conversation: Callable[..., list[Reply]] | None = None

    def wa(self) -> Any:
        from hub.systems import Connectors

        return process_service(self.registry, Connectors).require("whatsapp")

    # -- the webhook ---------------------------------------------------------------------------

    def _our_number(self) -> str | None:
        """The business number's id, when a connector is configured (the webhook's filter)."""
        from hub.systems import Connectors

        wa = process_service(self.registry, Connectors).get("whatsapp")
        number = getattr(wa, "phone_number_id", None)
        return number if isinstance(number, str) else None

    def verify(self, mode: str | None, token: str | None, challenge: str | None) -> str:
        """The subscription handshake: echo ``hub.challenge`` when the token is ours."""
        import hmac

        if (
            mode != "subscribe"
            or not self.settings.verify_token
            or token is None
            or not hmac.compare_digest(
                token.encode("utf-8", "replace"), self.settings.verify_token.encode("utf-8")
            )
        ):
            raise Problem("whatsapp_verification_failed")
        # The platform sends digits; anything else is not echoed (a page reflecting markup).
        if not challenge or not _CHALLENGE.match(challenge):
            raise Problem("whatsapp_webhook_malformed", "hub.challenge: 1-200 letters, digits, - or _")
        return challenge

    def receive(self, session: Session, raw_body: bytes, signature: str | None) -> dict[str, Any]:
        """A webhook POST: signature first (on the bytes as received), then the payload."""
        if not signature_ok(self.settings.app_secret, raw_body, signature):
            raise Problem("whatsapp_signature_invalid")
        try:
            batch = parse_webhook(raw_body, self._our_number())
        except MalformedWebhook as exc:
            raise Problem("whatsapp_webhook_malformed", str(exc)) from None
        outcome = WebhookOutcome(other_number=batch.other_number)
        limiter = process_service(self.registry, RateLimiter)
        now = utcnow()
        for incoming in batch.messages:
            self._inbound(session, incoming, now, limiter, outcome)
        for event in batch.statuses:
            _status_update(session, event, outcome)
        return outcome.as_json()

    def _inbound(
        self,
        session: Session,
        incoming: Incoming,
        now: datetime,
        limiter: RateLimiter,
        outcome: WebhookOutcome,
    ) -> None:
        # Counted before anything is written: a flood (repeated deliveries included) from one
        # number is neither stored nor answered.
        if not limiter.hit("wa:" + incoming.wa_id, self.settings.inbound_per_minute).allowed:
            outcome.limited += 1
            return
        # One statement decides a repeated delivery, also one arriving at the same instant
        # through another process: the wamid is unique.
        store_message = _webhook_statements(session.get_bind().dialect.name)[0]
        connection = session.connection()
        inbound_id = connection.execute(
            store_message,
            {
                "message_id": incoming.message_id,
                "wa_id": incoming.wa_id,
                "kind": incoming.kind.value,
                "text": incoming.text,
                "choice_id": incoming.choice_id,
                "sent_at": incoming.sent_at,
                "received_at": now,
            },
        ).scalar()
        if inbound_id is None:
            outcome.duplicates += 1
            return
        mark_written(session)
        word = _keyword(incoming.text) if incoming.kind in (IncomingKind.TEXT, IncomingKind.BUTTON) else ""
        if word in STOP_WORDS:
            set_consent(
                session, incoming.wa_id, "opted_out", "whatsapp_keyword", incoming.message_id, "consumer"
            )
            # An opt-out is answered by silence: nothing more is sent.
            session.execute(update(_INBOUND).where(_INBOUND.c.id == inbound_id).values(handled_at=now))
        else:
            if word in START_WORDS:
                set_consent(
                    session, incoming.wa_id, "opted_in", "whatsapp_keyword", incoming.message_id, "consumer"
                )
            enqueue(session, INBOUND_KIND, {"inbound_id": inbound_id}, key="whatsapp:" + incoming.wa_id)
        outcome.messages += 1

    # -- the worker's side -------------------------------------------------------------------

    def conversation(self) -> Callable[..., list[Reply]]:
        if self._conversation is None:
            module, _, name = self.settings.conversation.partition(":")
            self._conversation = getattr(importlib.import_module(module), name)
        return self._conversation

    def handle_inbound(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        """Outbox kind ``whatsapp.inbound``: the chatbot's replies to one message, sent once."""
        inbound_id = int(message.payload["inbound_id"])
        with unit_of_work(self.registry) as session:
            row = session.get(WhatsAppInbound, inbound_id)
            if row is None or row.handled_at is not None:
                return
            # The customer-service window opens at the consumer's latest message (deliveries come
            # late and out of order). Here, not in the webhook: the platform's call stays short,
            # and no reply to this message can go before this commits.
            open_window = _webhook_statements(session.get_bind().dialect.name)[1]
            session.connection().execute(
                open_window,
                {"wa_id": row.wa_id, "consent": "none", "last_inbound_at": min(row.sent_at, row.received_at)},
            )
            incoming = Incoming(
                wa_id=row.wa_id,
                message_id=row.message_id,
                kind=IncomingKind(row.kind),
                sent_at=row.sent_at,
                text=row.text,
                choice_id=row.choice_id,
            )
        with unit_of_work(self.registry) as session:
            # The chatbot's step and the replies commit together: a worker killed between them would
            # leave the message marked seen by the chatbot and its replies never written. On SQLite
            # the write lock is taken at BEGIN, as the chatbot's own transactions do.
            session.connection(execution_options={WRITE_LOCK_OPTION: True})
            row = session.get(WhatsAppInbound, inbound_id, with_for_update=True)
            if row is None or row.handled_at is not None:
                return
            replies = converse(self.registry, incoming, session)
            if may_reply(session, incoming.wa_id):
                for n, reply in enumerate(replies):
                    _new_outbound(
                        session,
                        key=f"reply:{incoming.message_id[:150]}:{n}",
                        purpose="reply",
                        wa_id=incoming.wa_id,
                        parameters=reply_json(reply),
                    )
            row.handled_at = utcnow()

    def deliver(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        """Outbox kind ``whatsapp.send``: one outbound message to the API (at most once accepted)."""
        wa = connector(connectors, "whatsapp")
        outbound_id = int(message.payload["outbound_id"])
        with unit_of_work(self.registry) as session:
            row = session.get(WhatsAppOutbound, outbound_id)
            if row is None or row.status != "queued":
                return
            purpose, wa_id, consumer_number = row.purpose, row.wa_id, row.consumer_number
            template, parameters = row.template, row.parameters
            allowed = may_reply(session, wa_id) if purpose == "reply" else may_initiate(session, wa_id)
        if not allowed:
            self._skip(outbound_id)
            return
        idempotency_key = f"hub-wa-{outbound_id}"
        try:
            if purpose == "reply":
                reply = reply_from_json(parameters)
                media_id = None
                if reply.document is not None:
                    media_id = media_for(
                        self.registry, wa, reply.document.kind, reply.document.key, reply.document.filename
                    )
                body = reply_message(wa_id, reply, media_id)
                fallback = None
            elif purpose == "bill":
                body, fallback = self._bill_message(wa, wa_id, str(consumer_number))
            else:
                spec = self.settings.templates[str(template)]
                body = template_message(wa_id, spec.name, spec.language, [str(p) for p in parameters or ()])
                fallback = None
            wamid = wa.send(wa_id, body, idempotency_key)
        except (ConnectorRejected, Problem) as exc:
            if purpose == "bill" and isinstance(exc, Problem) and exc.code == "consumer_not_found":
                # No bill this cycle (a connection released since billing's last run): nothing to
                # send, and no SMS stand-in either.
                self._skip(outbound_id)
                return
            # Refused for good (not on WhatsApp): by SMS if it has a stand-in.
            code = exc.code if isinstance(exc, ConnectorError | Problem) else "rejected"
            self._failed(outbound_id, code)
            return
        now = utcnow()
        with unit_of_work(self.registry) as session:
            row = session.get(WhatsAppOutbound, outbound_id, with_for_update=True)
            assert row is not None
            if row.wamid is None:
                row.wamid = wamid
            if row.status == "queued":
                row.status = "accepted"
            row.sent_at = now
            row.deadline_at = now + self.settings.deadline
            if fallback is not None:
                row.fallback = fallback

    def _bill_message(
        self, wa: Any, wa_id: str, consumer_number: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        spec = self.settings.templates[BILL_TEMPLATE]
        bills = process_service(self.registry, BillService)
        consumer = bills.connector("billing").get_consumer(consumer_number)
        bill = bills.current_bill(consumer_number)
        parameters = [
            consumer.name_hi or consumer.name_en,
            consumer_number,
            bill.period,
            f"{max(bill.amount_due, 0):.2f}",
            bill.due_date.strftime("%d-%m-%Y"),
        ][: spec.parameters]
        media_id = media_for(
            self.registry, wa, "bill", consumer_number, f"bill-{consumer_number}-{bill.period}.pdf"
        )
        body = template_message(
            wa_id,
            spec.name,
            spec.language,
            parameters,
            document=(media_id, f"bill-{consumer_number}-{bill.period}.pdf") if spec.document else None,
        )
        return body, {"template": spec.sms, "text": spec.sms_text.format(*parameters)}

    def _skip(self, outbound_id: int) -> None:
        with unit_of_work(self.registry) as session:
            row = session.get(WhatsAppOutbound, outbound_id, with_for_update=True)
            if row is None or row.status != "queued":
                return
            row.status = "skipped"
            row.status_at = utcnow()
            if row.purpose != "reply":
                _fall_back(session, self.registry, row)

    def _failed(self, outbound_id: int, code: str) -> None:
        with unit_of_work(self.registry) as session:
            row = session.get(WhatsAppOutbound, outbound_id, with_for_update=True)
            if row is None or row.status != "queued":
                return
            row.status, row.error_code, row.status_at = "failed", code[:40], utcnow()
            if row.purpose != "reply":
                _fall_back(session, self.registry, row)

    # -- SMS fallback ---------------------------------------------------------------------------

    def fallback_job(self, limit: int = 1000) -> int:
        """Periodic ``whatsapp.fallback``: SMS for what failed or was not delivered in time."""
        now = utcnow()
        with unit_of_work(self.registry) as session:
            rows = session.scalars(
                select(WhatsAppOutbound)
                .where(
                    WhatsAppOutbound.fell_back_at.is_(None),
                    WhatsAppOutbound.purpose != "reply",
                    or_(
                        WhatsAppOutbound.status == "failed",
                        (WhatsAppOutbound.status.in_(("queued", "accepted", "sent")))
                        & (WhatsAppOutbound.deadline_at < now),
                    ),
                )
                .order_by(WhatsAppOutbound.id)
                .limit(limit)
                .with_for_update()
            ).all()
            done = 0
            for row in rows:
                done += _fall_back(session, self.registry, row)
        return done

    # -- the bill run ---------------------------------------------------------------------------

    def bill_run_job(self) -> None:
        """Periodic ``whatsapp.bill_run``: go on with every running run for a while."""
        with unit_of_work(self.registry) as session:
            cycles = list(
                session.scalars(select(WhatsAppBillRun.cycle).where(WhatsAppBillRun.state == "running"))
            )
        budget = min(25.0, self.settings.run_interval_seconds * 1.0)
        for cycle in cycles:
            run_bill_cycle(self.registry, cycle, max_seconds=budget / max(len(cycles), 1))


def _fall_back(session: Session, registry: Mapping[str, Any], row: WhatsAppOutbound) -> int:
    """The SMS in place of ``row`` (once: ``fell_back_at`` and the outbox key)."""
    if row.fell_back_at is not None:
        return 0
    fallback = row.fallback
    if fallback is None and row.purpose == "bill" and row.consumer_number:
        service: WhatsAppService = process_service(registry, WhatsAppService)  # type: ignore[arg-type]
        spec = service.settings.templates[BILL_TEMPLATE]
        try:
            bill = process_service(registry, BillService).current_bill(row.consumer_number)
        except Problem:
            row.fell_back_at = utcnow()  # no bill any more: nothing to tell
            return 0
        parameters = [
            "",
            row.consumer_number,
            bill.period,
            f"{max(bill.amount_due, 0):.2f}",
            bill.due_date.strftime("%d-%m-%Y"),
        ]
        fallback = {"template": spec.sms, "text": spec.sms_text.format(*parameters[: spec.parameters])}
    row.fell_back_at = utcnow()
    if fallback is None:
        return 0
    row.fallback = fallback
    enqueue_sms(
        session, row.wa_id[2:], fallback["text"], fallback["template"], key=f"whatsapp-fallback:{row.wa_id}"
    )
    return 1


def converse(registry: Any, incoming: Incoming, session: Session) -> list[Reply]:
    """The chatbot's replies to one message, in the caller's transaction: ``hub.whatsapp.conversation``
    (``hub.chatbot:converse``), imported the first time a message comes."""
    service: WhatsAppService = process_service(registry, WhatsAppService)  # type: ignore[arg-type]
    return list(service.conversation()(registry, incoming, session=session))


def reply_json(reply: Reply) -> dict[str, Any]:
    def choices(items: Sequence[Any]) -> list[dict[str, str]]:
        return [{"id": c.id, "title": c.title, "description": c.description} for c in items]

    document = reply.document
    return {
        "text": reply.text,
        "buttons": choices(reply.buttons),
        "rows": choices(reply.rows),
        "list_button": reply.list_button,
        "document": (
            {"kind": document.kind, "key": document.key, "filename": document.filename} if document else None
        ),
    }


def reply_from_json(data: Any) -> Reply:
    from connectors.whatsapp.messages import Choice, DocumentRef

    document = data.get("document")
    return Reply(
        text=data["text"],
        buttons=tuple(Choice(**c) for c in data.get("buttons", ())),
        rows=tuple(Choice(**c) for c in data.get("rows", ())),
        list_button=data.get("list_button", ""),
        document=DocumentRef(**document) if document else None,
    )


# --- the monthly bill run ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunProgress:
    cycle: str
    state: str
    handed_off: int
    eligible: int
    handed_now: int


def check_cycle(cycle: str) -> str:
    if not _CYCLE.match(cycle):
        raise ValueError("a billing cycle is YYYY-MM")
    return cycle


def start_run(session: Session, cycle: str) -> WhatsAppBillRun:
    """Start (or resume) the run of ``cycle``; a done run stays done."""
    check_cycle(cycle)
    now = utcnow()
    run = session.get(WhatsAppBillRun, cycle, with_for_update=True)
    if run is None:
        run = WhatsAppBillRun(
            cycle=cycle,
            state="running",
            cursor="",
            handed_off=0,
            eligible=eligible_count(session),
            day_count=0,
            day_started_at=now,
            started_at=now,
            updated_at=now,
        )
        session.add(run)
    elif run.state == "stopped":
        run.state, run.updated_at = "running", now
        run.eligible = eligible_count(session)
    session.flush()
    return run


def stop_run(session: Session, cycle: str) -> WhatsAppBillRun | None:
    run = session.get(WhatsAppBillRun, cycle, with_for_update=True)
    if run is not None and run.state == "running":
        run.state, run.updated_at = "stopped", utcnow()
    return run


def eligible_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(WhatsAppSubscription)
            .join(WhatsAppNumber, WhatsAppNumber.wa_id == WhatsAppSubscription.wa_id)
            .where(WhatsAppNumber.consent == "opted_in")
        )
        or 0
    )


def _insert_ignoring(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert outbound rows whose key is new; the ids of those inserted."""
    table = WhatsAppOutbound.__table__
    dialect = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)  # type: ignore[arg-type]
    ids: list[int] = []
    for row in rows:
        inserted = session.execute(statement, row).scalar()
        if inserted is not None:
            ids.append(int(inserted))
    return ids


def run_bill_cycle(
    registry: Mapping[str, Any],
    cycle: str,
    max_seconds: float | None = None,
    max_pages: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunProgress:
    """Hand off the cycle's bills page by page from the run's resume point.

    Each page (the next opted-in subscriptions after ``cursor``, in consumer-number order)
    commits its outbound rows, their outbox messages and the new cursor together: a crash or
    a stop repeats at most that page, and the unique key ``bill:<cycle>:<consumer>`` makes
    the repeat hand off nothing twice. The pace is the number's throughput
    (``messages_per_second``) and the tier (``tier_per_day`` business-initiated messages per
    24 hours: at the cap the run waits for the next turn of the job). No bill is rendered
    here: the worker renders each when its message is sent (and keeps it).
    """
    service: WhatsAppService = process_service(registry, WhatsAppService)  # type: ignore[arg-type]
    settings = service.settings
    started = time.monotonic()
    handed_now = pages = 0
    state, handed_off, eligible = "running", 0, 0
    while True:
        with unit_of_work(registry) as session:
            run = session.get(WhatsAppBillRun, cycle, with_for_update=True)
            if run is None:
                raise ValueError(f"no bill run for {cycle}")
            state, handed_off, eligible = run.state, run.handed_off, run.eligible
            if run.state != "running":
                break
            now = utcnow()
            if now - run.day_started_at >= TIER_DAY:
                run.day_count, run.day_started_at = 0, now
            allowance = min(settings.page_size, settings.tier_per_day - run.day_count)
            if allowance <= 0:
                break
            page = session.execute(
                select(WhatsAppSubscription.consumer_number, WhatsAppSubscription.wa_id)
                .join(WhatsAppNumber, WhatsAppNumber.wa_id == WhatsAppSubscription.wa_id)
                .where(
                    WhatsAppNumber.consent == "opted_in", WhatsAppSubscription.consumer_number > run.cursor
                )
                .order_by(WhatsAppSubscription.consumer_number)
                .limit(allowance)
            ).all()
            if not page:
                run.state, run.finished_at, run.updated_at = "done", now, now
                state = "done"
                break
            deadline = now + settings.deadline
            ids = _insert_ignoring(
                session,
                [
                    {
                        "key": f"bill:{cycle}:{consumer}",
                        "purpose": "bill",
                        "wa_id": wa_id,
                        "cycle": cycle,
                        "consumer_number": consumer,
                        "template": BILL_TEMPLATE,
                        "status": "queued",
                        "created_at": now,
                        "deadline_at": deadline,
                    }
                    for consumer, wa_id in page
                ],
            )
            for outbound_id in ids:
                enqueue(session, BILL_KIND, {"outbound_id": outbound_id})
            run.cursor = page[-1][0]
            run.handed_off += len(ids)
            run.day_count += len(ids)
            run.updated_at = now
            handed_off = run.handed_off
        handed_now += len(ids)
        pages += 1
        if max_pages is not None and pages >= max_pages:
            break
        ahead = handed_now / settings.messages_per_second - (time.monotonic() - started)
        if ahead > 0:
            sleep(ahead)  # the number's throughput: never faster, also across turns of the job
        if max_seconds is not None and time.monotonic() - started >= max_seconds:
            break
    return RunProgress(cycle, state, handed_off, eligible, handed_now)


def run_report(session: Session, cycle: str) -> dict[str, Any] | None:
    """Where a run is and what became of its messages: sent / delivered / read / failed / fell back."""
    run = session.get(WhatsAppBillRun, cycle)
    if run is None:
        return None
    by_status = dict(
        session.execute(
            select(WhatsAppOutbound.status, func.count())
            .where(WhatsAppOutbound.cycle == cycle, WhatsAppOutbound.purpose == "bill")
            .group_by(WhatsAppOutbound.status)
        ).all()
    )
    fell_back = session.scalar(
        select(func.count()).where(
            WhatsAppOutbound.cycle == cycle,
            WhatsAppOutbound.purpose == "bill",
            WhatsAppOutbound.fell_back_at.is_not(None),
            WhatsAppOutbound.fallback.is_not(None),
        )
    )
    counts = {
        s: int(by_status.get(s, 0))
        for s in ("queued", "accepted", "sent", "delivered", "read", "failed", "skipped")
    }
    return {
        "cycle": run.cycle,
        "state": run.state,
        "handed_off": run.handed_off,
        "eligible": run.eligible,
        "started_at": run.started_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        # "sent" counts every message the platform took, whatever it reported since.
        "sent": counts["accepted"] + counts["sent"] + counts["delivered"] + counts["read"],
        "delivered": counts["delivered"] + counts["read"],
        "read": counts["read"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
        "waiting": counts["queued"],
        "fell_back_to_sms": int(fell_back or 0),
    }


def list_runs(session: Session) -> list[dict[str, Any]]:
    cycles = session.scalars(select(WhatsAppBillRun.cycle).order_by(WhatsAppBillRun.cycle.desc()).limit(24))
    return [r for c in cycles if (r := run_report(session, c)) is not None]


__all__ = [
    "BILL_KIND",
    "BILL_TEMPLATE",
    "INBOUND_KIND",
    "SEND_KIND",
    "WhatsAppService",
    "WhatsAppSettings",
    "converse",
    "run_bill_cycle",
    "send_template",
    "start_run",
    "stop_run",
]
