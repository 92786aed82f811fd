"""The WhatsApp chatbot's conversation: one inbound message in, the replies to send out.

:func:`converse` is the entry point the WhatsApp channel's worker calls for each stored
inbound message::

    converse(registry, incoming, session=None, now=None) -> list[Reply]

Without ``session`` it runs in its own transaction (:func:`hub.outbox.unit_of_work`) and has
committed when it returns; with one, it works in the caller's transaction and the caller
commits (then the replies and the conversation's new step commit together).

Who may see what: the consumer is the WhatsApp number. Connections whose registered mobile
in billing is that number (``IBilling.connections_by_mobile``) are theirs; any other
connection is shown only after an OTP sent by SMS to *its* registered mobile is typed back,
and stays open to this number until the conversation ends or times out. The check is made
when the answer is built, from billing's answer at that moment and the OTPs passed in this
conversation, never from what a tapped button claims. Applications (no-dues, new connection)
are those made with this number as the applicant's mobile.

Deliveries: a message id is acted on once; a message sent before the newest one acted on
is ignored (late or out of order), so it cannot rewind the conversation. Billing not
answering: the step's writes are rolled back (a savepoint), the consumer is told to try
later, and the conversation stays where it was.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.billing import Consumer, is_consumer_number
from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.sms import normalise_mobile
from connectors.whatsapp.messages import Choice, DocumentRef, Incoming, IncomingKind, Reply
from forms.newconnection.workflow import WORKFLOW_NAME as CONNECTION_WORKFLOW
from hub.bills.service import BillService
from hub.chatbot import texts
from hub.chatbot.texts import MENU, MENU_DESCRIPTIONS, MENU_TITLES, button, pick, row, text
from hub.complaints.service import ComplaintService, Intake
from hub.db import WRITE_LOCK_OPTION
from hub.errors import Problem
from hub.kyc.consent import mask_mobile
from hub.lookup import process_service
from hub.models.bills import BillPayment, PaymentState
from hub.models.chatbot import ChatConversation, ChatMessageSeen
from hub.models.connection import ConnectionApplication
from hub.models.document import IssuedDocument
from hub.models.meta import IST, utcnow
from hub.models.nodues import NoDuesApplication
from hub.nodues.workflow import WORKFLOW as NODUES_WORKFLOW
from hub.otp import OtpRefused, consume_otp, create_otp
from hub.outbox import enqueue_sms, unit_of_work
from hub.systems import Connectors
from hub.workflow import WorkflowRegistry

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"  # the complaints channel, the OTP's client id
OTP_TEMPLATE = "otp"
MAX_VERIFIED = 5  # connections opened by OTP in one conversation (bounded state)
MAX_SHOWN = 3  # complaints / applications listed in one answer
MAX_PICKER = 9  # registered connections offered as rows (the tenth is "other connection")
WA_ID = re.compile(r"[1-9][0-9]{5,19}", re.ASCII)
OTP_CODE = re.compile(r"[0-9]{6}")
DIGITS = re.compile(r"[0-9]+")
# Actions that need a connection, and those that go by the number alone.
CONNECTION_ACTIONS = ("complaint", "complaint_status", "bill", "receipt")
APPLICATION_KINDS = ("nodues", "connection")
# A no-dues application (ND-7K3M9P2QXA) or a new-connection one (MPCZ/NC/2026-27/0000042), upper-cased.
APPLICATION_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9/_-]{2,39}")
Application = NoDuesApplication | ConnectionApplication


@dataclass(frozen=True)
class ChatbotSettings:
    idle: timedelta
    messages_per_minute: int
    seen_for: timedelta


@dataclass
class Turn:
    """One message being answered: the conversation row, its language, the replies so far."""

    conversation: ChatConversation
    incoming: Incoming
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    # A new conversation (first message, after "exit" or a timeout): anything typed opens the menu.
    fresh: bool = False

    @property
    def language(self) -> str:
        return self.conversation.language

    def say(self, key: str, **values: object) -> None:
        self.replies.append(Reply(text(self.language, key, **values)))

    def go(self, step: str, **context: Any) -> None:
        """Move to ``step``; what the step needs replaces the last step's (OTP passes are kept)."""
        verified = list(self.conversation.data.get("verified", []))
        self.conversation.step = step
        self.conversation.data = {"verified": verified, **context}

    @property
    def context(self) -> Mapping[str, Any]:
        return self.conversation.data


def wa_mobile(wa_id: str) -> str | None:
    """The ten-digit Indian mobile of a WhatsApp id, or None for a number outside India."""
    if not wa_id.isascii() or not wa_id.isdigit() or len(wa_id) != 12 or not wa_id.startswith("91"):
        return None
    try:
        return normalise_mobile(wa_id)
    except Exception:
        return None


def _ist_date(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("%d-%m-%Y")


def _ist_time(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("%d-%m-%Y %H:%M")


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


class ChatbotService:
    def __init__(self, registry: Any, settings: ChatbotSettings) -> None:
        self.registry = registry
        self.settings = settings

    # -- collaborators -------------------------------------------------------------------------

    @property
    def billing(self) -> Any:
        return process_service(self.registry, Connectors).require("billing")

    @property
    def secret(self) -> str:
        return str(self.registry.settings["hub.secret_key"])

    # -- the entry point -----------------------------------------------------------------------

    def converse(self, session: Session, incoming: Incoming, now: datetime | None = None) -> list[Reply]:
        now = now or utcnow()
        if not WA_ID.fullmatch(incoming.wa_id):
            # The channel hands over the API's digits-only ids; anything else is not a sender.
            log.warning("chatbot: not a WhatsApp id", extra={"wa_id": incoming.wa_id[:40]})
            return []
        if not self._first_time(session, incoming, now):
            return []  # the same delivery again: answered already
        conversation = self._conversation(session, incoming.wa_id, now)
        if conversation.last_sent_at is not None and incoming.sent_at < conversation.last_sent_at:
            return []  # older than what the conversation has moved on from
        flood = self._flooding(conversation, now)
        if flood:
            conversation.last_sent_at = incoming.sent_at
            # Told once per minute; the rest of the flood gets nothing.
            return [Reply(text(conversation.language, "slow_down"))] if flood == 1 else []
        turn = Turn(conversation, incoming, now)
        if conversation.created_at == now or conversation.step == "ended":
            turn.fresh = True
        if now - conversation.last_active_at > self.settings.idle:
            # The step and the connections opened by OTP expire; the language stays.
            if conversation.step not in ("menu", "ended"):
                turn.say("expired")
            conversation.step = "ended"
            conversation.data = {}
            turn.fresh = True
        conversation.last_sent_at = incoming.sent_at
        conversation.last_active_at = now
        before = (conversation.step, dict(conversation.data))
        try:
            with session.begin_nested():
                self._answer(session, turn)
                session.flush()
        except ConnectorUnavailable as exc:
            log.warning("chatbot: billing unavailable", extra={"wa_id": incoming.wa_id, "error": str(exc)})
            conversation.step, conversation.data = before
            conversation.last_sent_at = incoming.sent_at
            conversation.last_active_at = now
            turn.replies = [Reply(text(turn.language, "try_later")), self._menu_buttons(turn.language)]
        except (Problem, ConnectorRejected) as exc:
            # Billing answered but could not give what was asked (no bill, a closed account...).
            log.info("chatbot: could not answer", extra={"wa_id": incoming.wa_id, "error": str(exc)})
            conversation.step, conversation.data = "menu", {"verified": before[1].get("verified", [])}
            turn.replies = [Reply(text(turn.language, "cannot_answer")), self._menu_buttons(turn.language)]
        return turn.replies

    def _first_time(self, session: Session, incoming: Incoming, now: datetime) -> bool:
        """Record the message id; False if it was recorded before (by this or a concurrent delivery)."""
        key = incoming.message_id
        if len(key) > 200:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        if session.get(ChatMessageSeen, key) is not None:
            return False
        try:
            with session.begin_nested():
                session.add(ChatMessageSeen(message_id=key, wa_id=incoming.wa_id[:20], seen_at=now))
                session.flush()
        except IntegrityError:
            return False
        return True

    def _conversation(self, session: Session, wa_id: str, now: datetime) -> ChatConversation:
        query = select(ChatConversation).where(ChatConversation.wa_id == wa_id).with_for_update()
        found = session.execute(query).scalar_one_or_none()
        if found is not None:
            return found
        try:
            with session.begin_nested():
                session.add(
                    ChatConversation(
                        wa_id=wa_id,
                        language="en",
                        language_chosen=False,
                        step="menu",
                        data={},
                        last_active_at=now,
                        window_started_at=now,
                        window_count=0,
                        created_at=now,
                    )
                )
                session.flush()
        except IntegrityError:
            pass  # a concurrent first message created it
        return session.execute(query).scalar_one()

    def _flooding(self, conversation: ChatConversation, now: datetime) -> int:
        """0 within the limit; else how many messages over it this one is (1: the first)."""
        if now - conversation.window_started_at >= timedelta(minutes=1):
            conversation.window_started_at = now
            conversation.window_count = 0
        conversation.window_count += 1
        return max(0, conversation.window_count - self.settings.messages_per_minute)

    # -- understanding the message --------------------------------------------------------------

    def _answer(self, session: Session, turn: Turn) -> None:
        incoming = turn.incoming
        conversation = turn.conversation
        if incoming.kind is IncomingKind.REACTION:
            return  # an emoji on an earlier message asks nothing
        if incoming.kind not in (IncomingKind.TEXT, IncomingKind.INTERACTIVE, IncomingKind.BUTTON):
            turn.say("unsupported")
            self._menu(turn)
            return
        raw = incoming.text or ""
        if not conversation.language_chosen and texts.has_devanagari(raw):
            conversation.language = "hi"
        choice = incoming.choice_id or ""
        command = texts.command_form(raw) if not choice else ""
        if choice.startswith("menu:") or command in texts.GO_TO_MENU:
            item = choice.removeprefix("menu:") if choice.startswith("menu:") else ""
            if item in MENU:
                self._menu_item(session, turn, item)
            else:
                self._menu(turn)
            return
        if command in texts.END:
            self._menu_item(session, turn, "exit")
            return
        if command in texts.HINDI or command in texts.ENGLISH or choice.startswith("lang:"):
            language = "hi" if command in texts.HINDI or choice == "lang:hi" else "en"
            conversation.language = language
            conversation.language_chosen = True
            turn.say("language_set")
            self._menu(turn)
            return
        if choice.startswith("app:") and choice.removeprefix("app:") in APPLICATION_KINDS:
            turn.go("type_application", kind=choice.removeprefix("app:"))
            turn.say("type_application")
            return
        step = conversation.step
        if step == "type_application":
            self._typed_application(session, turn, raw)
        elif step == "pick_connection":
            self._picked_connection(session, turn, choice, command)
        elif step == "type_connection":
            self._typed_connection(session, turn, command)
        elif step == "otp":
            self._typed_otp(session, turn, command)
        elif step == "complaint_type":
            self._picked_complaint_type(session, turn, choice, command)
        elif step == "complaint_text":
            self._described_complaint(session, turn, choice, raw)
        else:
            self._at_menu(session, turn, choice, command)

    def _at_menu(self, session: Session, turn: Turn, choice: str, command: str) -> None:
        if turn.conversation.step not in ("menu", "ended") or (not choice and not command):
            self._menu(turn)
            return
        item: str | None = None
        if command.isascii() and command.isdigit() and 1 <= int(command) <= len(MENU):
            item = MENU[int(command) - 1]
        else:
            for word, keyword_item in texts.KEYWORDS:
                if word in command:
                    item = keyword_item
                    break
        if item is None:
            if not turn.fresh:
                turn.say("not_understood")
            self._menu(turn)
            return
        self._menu_item(session, turn, item)

    # -- menus ----------------------------------------------------------------------------------

    def _menu_reply(self, language: str) -> Reply:
        rows = tuple(
            row(f"menu:{item}", pick(language, MENU_TITLES[item]), pick(language, MENU_DESCRIPTIONS[item]))
            for item in MENU
        )
        return Reply(text(language, "welcome"), rows=rows, list_button=text(language, "menu_button"))

    def _menu(self, turn: Turn) -> None:
        turn.go("menu")
        turn.replies.append(self._menu_reply(turn.language))

    def _menu_buttons(self, language: str) -> Reply:
        return Reply(
            text(language, "anything_else"),
            buttons=(
                button("menu:menu", text(language, "menu_button")),
                button("menu:exit", pick(language, MENU_TITLES["exit"])),
            ),
        )

    def _done(self, turn: Turn) -> None:
        """An answer is given: back at the menu, offered in two buttons."""
        turn.go("menu")
        turn.replies.append(self._menu_buttons(turn.language))

    def _menu_item(self, session: Session, turn: Turn, item: str) -> None:
        if item == "exit":
            turn.say("goodbye")
            turn.conversation.step = "ended"
            turn.conversation.data = {}
            return
        if item == "language":
            turn.go("menu")
            turn.replies.append(
                Reply(
                    pick(turn.language, MENU_DESCRIPTIONS["language"]) + "?",
                    buttons=(button("lang:en", "English"), button("lang:hi", "हिंदी")),
                )
            )
            return
        if item in APPLICATION_KINDS:
            self._application_status(session, turn, item)
            return
        self._ask_connection(turn, item)

    # -- which connection -----------------------------------------------------------------------

    def _registered(self, turn: Turn) -> list[Consumer]:
        mobile = wa_mobile(turn.incoming.wa_id)
        if mobile is None:
            return []
        consumers: list[Consumer] = self.billing.connections_by_mobile(mobile)
        return sorted(consumers, key=lambda c: c.consumer_number)

    def _ask_connection(self, turn: Turn, action: str) -> None:
        registered = self._registered(turn)
        if not registered:
            turn.go("type_connection", action=action)
            turn.say("no_registered")
            turn.say("type_connection")
            return
        turn.go("pick_connection", action=action)
        other = (
            texts.text(turn.language, "other_connection"),
            text(turn.language, "other_connection_description"),
        )
        numbers = [c.consumer_number for c in registered[:MAX_PICKER]]
        if len(numbers) <= 2:
            buttons = (*(button(f"conn:{n}", n) for n in numbers), button("conn:other", other[0]))
            turn.replies.append(Reply(text(turn.language, "pick_connection"), buttons=buttons))
            return
        rows: tuple[Choice, ...] = (*(row(f"conn:{n}", n) for n in numbers), row("conn:other", *other))
        turn.replies.append(
            Reply(
                text(turn.language, "pick_connection"),
                rows=rows,
                list_button=text(turn.language, "choose_button"),
            )
        )

    def _picked_connection(self, session: Session, turn: Turn, choice: str, command: str) -> None:
        action = str(turn.context.get("action", ""))
        picked = choice.removeprefix("conn:") if choice.startswith("conn:") else command.replace(" ", "")
        if picked == "other":
            turn.go("type_connection", action=action)
            turn.say("type_connection")
            return
        if not picked:
            self._menu(turn)
            return
        self._connection_given(session, turn, action, picked)

    def _typed_connection(self, session: Session, turn: Turn, command: str) -> None:
        self._connection_given(session, turn, str(turn.context.get("action", "")), command.replace(" ", ""))

    def _connection_given(self, session: Session, turn: Turn, action: str, number: str) -> None:
        if action not in CONNECTION_ACTIONS:
            self._menu(turn)
            return
        if not is_consumer_number(number):
            turn.go("type_connection", action=action)
            turn.say("bad_consumer_number")
            return
        if self._may_see(turn, number):
            self._act(session, turn, action, number)
            return
        try:
            consumer: Consumer = self.billing.get_consumer(number)
        except NotFound:
            turn.go("type_connection", action=action)
            turn.say("unknown_consumer", number=number)
            return
        try:
            sent = create_otp(session, self.secret, consumer.mobile, self._otp_purpose(turn, number), CHANNEL)
        except OtpRefused as exc:
            turn.say("otp_refused", reason=texts.otp_reason(turn.language, exc.code))
            self._done(turn)
            return
        enqueue_sms(
            session, consumer.mobile, text("en", "otp_sms", code=sent.code, number=number), OTP_TEMPLATE
        )
        turn.go("otp", action=action, consumer=number, challenge=sent.challenge_id)
        turn.say("otp_sent", number=number, mobile=mask_mobile(consumer.mobile))

    def _otp_purpose(self, turn: Turn, subject: str) -> str:
        # Bound to this WhatsApp number and this connection (or application): an OTP passed
        # elsewhere opens nothing here.
        purpose = f"chatbot:{turn.incoming.wa_id[:20]}:{subject}"
        if len(purpose) > 80:  # the challenge's purpose column
            purpose = "chatbot:" + hashlib.sha256(purpose.encode()).hexdigest()
        return purpose

    def _typed_otp(self, session: Session, turn: Turn, command: str) -> None:
        action = str(turn.context.get("action", ""))
        number = str(turn.context.get("consumer", ""))
        challenge = str(turn.context.get("challenge", ""))
        code = command.replace(" ", "")
        if not OTP_CODE.fullmatch(code) or not code.isascii():
            turn.say("otp_wrong")
            return
        subject = (
            f"{action.removeprefix('application:')}:{number}" if action.startswith("application:") else number
        )
        try:
            consume_otp(session, self.secret, challenge, code, self._otp_purpose(turn, subject), CHANNEL)
        except OtpRefused as exc:
            if exc.code == "otp_invalid":
                turn.say("otp_wrong")
                return
            turn.say("otp_over", reason=texts.otp_reason(turn.language, exc.code))
            self._menu(turn)
            return
        opened = number
        kind = action.removeprefix("application:") if action.startswith("application:") else None
        if kind is not None:
            opened = f"app:{kind}:{number}"
        verified = [n for n in turn.conversation.data.get("verified", []) if n != opened]
        verified.append(opened)
        turn.conversation.data = {**turn.conversation.data, "verified": verified[-MAX_VERIFIED:]}
        if kind is None:
            self._act(session, turn, action, number)
            return
        application = self._application(session, kind, number)
        if application is None:
            self._menu(turn)
            return
        self._show_application(session, turn, kind, application)

    def _may_see(self, turn: Turn, number: str) -> bool:
        """Registered to this WhatsApp number in billing now, or opened by an OTP in this conversation."""
        if number in turn.conversation.data.get("verified", []):
            return True
        return any(c.consumer_number == number for c in self._registered(turn))

    # -- the answers ----------------------------------------------------------------------------

    def _act(self, session: Session, turn: Turn, action: str, number: str) -> None:
        if not self._may_see(turn, number):  # the last word, whatever led here
            self._menu(turn)
            return
        if action == "bill":
            self._bill(turn, number)
        elif action == "receipt":
            self._receipt(session, turn, number)
        elif action == "complaint_status":
            self._complaint_status(session, turn, number)
        elif action == "complaint":
            self._ask_complaint_type(turn, number)
        else:
            self._menu(turn)

    def _bill(self, turn: Turn, number: str) -> None:
        bills = process_service(self.registry, BillService)
        bill = self.billing.current_bill(number)
        if bill is None:
            turn.say("no_bill", number=number)
            self._done(turn)
            return
        owed = bill.amount_due + bills.charges_owed(number)
        values = {"bill_number": bill.bill_number, "number": number, "period": bill.period}
        if owed > 0:
            caption = text(
                turn.language,
                "bill_due",
                amount=_money(owed),
                due=bill.due_date.strftime("%d-%m-%Y"),
                late=_money(bill.late_payment_amount + (owed - bill.amount_due)),
                **values,
            )
        else:
            caption = text(turn.language, "bill_clear", **values)
        document = DocumentRef("bill", number, f"bill-{number}-{bill.period}.pdf")
        turn.replies.append(Reply(caption, document=document))
        self._done(turn)

    def _receipt(self, session: Session, turn: Turn, number: str) -> None:
        payment = session.execute(
            select(BillPayment)
            .where(
                or_(
                    BillPayment.posted_to == number,
                    (BillPayment.posted_to.is_(None)) & (BillPayment.consumer_number == number),
                ),
                BillPayment.state.in_(
                    (PaymentState.ACCEPTED.value, PaymentState.POSTING.value, PaymentState.POSTED.value)
                ),
            )
            .order_by(BillPayment.paid_at.desc(), BillPayment.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if payment is None:
            turn.say("no_payment", number=number)
        else:
            document_number = payment.details.get("receipt_document")
            values = {"number": number, "amount": _money(payment.amount), "paid": _ist_time(payment.paid_at)}
            if payment.state == PaymentState.POSTED.value and isinstance(document_number, str):
                receipt_number = payment.receipt_number or document_number
                safe = re.sub(r"[^A-Za-z0-9_.-]", "-", receipt_number)
                turn.replies.append(
                    Reply(
                        text(turn.language, "receipt", receipt_number=receipt_number, **values),
                        document=DocumentRef("receipt", document_number, f"receipt-{safe}.pdf"),
                    )
                )
            else:
                turn.say("receipt_pending", **values)
        self._done(turn)

    def _complaints(self) -> ComplaintService:
        return process_service(self.registry, ComplaintService)

    def _complaint_status(self, session: Session, turn: Turn, number: str) -> None:
        service = self._complaints()
        complaints = service.of_consumer(session, number, limit=MAX_SHOWN)
        if not complaints:
            turn.say("no_complaints", number=number)
        lines = []
        for complaint in complaints:
            described = service.describe(session, complaint)
            line = text(
                turn.language,
                "complaint_line",
                complaint_no=complaint.complaint_no,
                type=described["type_label"][turn.language],
                registered=_ist_date(complaint.registered_at),
                status=described["status_label"][turn.language],
            )
            if complaint.resolved_at is None:
                line += text(turn.language, "complaint_due", due=_ist_time(complaint.sop_due_at))
            lines.append(line)
        if lines:
            turn.replies.append(Reply("\n\n".join(lines)))
        self._done(turn)

    def _ask_complaint_type(self, turn: Turn, number: str) -> None:
        kinds = list(self._complaints().standards.types.values())[:10]
        turn.go("complaint_type", consumer=number)
        rows = tuple(
            row(
                f"type:{kind.code}",
                kind.label_hi if turn.language == "hi" else kind.label_en,
                kind.label_hi if turn.language == "hi" else kind.label_en,
            )
            for kind in kinds
        )
        turn.replies.append(
            Reply(
                text(turn.language, "complaint_type", number=number),
                rows=rows,
                list_button=text(turn.language, "choose_button"),
            )
        )

    def _picked_complaint_type(self, session: Session, turn: Turn, choice: str, command: str) -> None:
        number = str(turn.context.get("consumer", ""))
        kinds = list(self._complaints().standards.types.values())[:10]
        code: str | None = None
        if choice.startswith("type:"):
            code = choice.removeprefix("type:")
        elif command.isascii() and command.isdigit() and 1 <= int(command) <= len(kinds):
            code = kinds[int(command) - 1].code
        if code is None or code not in {k.code for k in kinds}:
            turn.say("not_understood")
            self._ask_complaint_type(turn, number)
            return
        turn.go("complaint_text", consumer=number, type=code)
        turn.replies.append(
            Reply(
                text(turn.language, "complaint_text"), buttons=(button("skip", text(turn.language, "skip")),)
            )
        )

    def _described_complaint(self, session: Session, turn: Turn, choice: str, raw: str) -> None:
        number = str(turn.context.get("consumer", ""))
        code = str(turn.context.get("type", ""))
        if not self._may_see(turn, number):
            self._menu(turn)
            return
        service = self._complaints()
        kind = service.kind(code)
        words = texts.clean(raw, texts.DESCRIPTION_MAX)
        if choice == "skip" or texts.command_form(raw) in texts.SKIP or not words:
            words = f"{kind.label_en} (WhatsApp)"
        digest = hashlib.sha256(turn.incoming.message_id.encode()).hexdigest()[:40]
        try:
            registered = service.register(
                session,
                Intake(
                    channel=CHANNEL,
                    filed_by=f"{CHANNEL}:{turn.incoming.wa_id[:20]}",
                    consumer_number=number,
                    complaint_type=code,
                    description=words,
                    client_id=CHANNEL,
                    # The message that completed it: a redelivery registers nothing twice.
                    ticket_id=f"wa:{digest}",
                    mobile=wa_mobile(turn.incoming.wa_id),
                ),
            )
        except Problem:
            turn.say("unknown_consumer", number=number)
            self._done(turn)
            return
        complaint = registered.complaint
        turn.say(
            "complaint_registered",
            complaint_no=complaint.complaint_no,
            number=number,
            type=kind.label_hi if turn.language == "hi" else kind.label_en,
            due=_ist_time(complaint.sop_due_at),
        )
        self._done(turn)

    def _workflow_label(self, workflow: str, state: str, language: str) -> str:
        try:
            found = process_service(self.registry, WorkflowRegistry).get(workflow).states.get(state)
        except KeyError:
            found = None
        if found is None:
            return state.replace("_", " ")
        return str(found.label_hi if language == "hi" else found.label_en)

    # -- applications ---------------------------------------------------------------------------

    def _applications_of(self, session: Session, kind: str, mobile: str) -> list[Application]:
        if kind == "nodues":
            return list(
                session.execute(
                    select(NoDuesApplication)
                    .where(NoDuesApplication.mobile == mobile)
                    .order_by(NoDuesApplication.id.desc())
                    .limit(MAX_SHOWN)
                ).scalars()
            )
        return list(
            session.execute(
                select(ConnectionApplication)
                .where(ConnectionApplication.mobile == mobile)
                .order_by(ConnectionApplication.id.desc())
                .limit(MAX_SHOWN)
            ).scalars()
        )

    def _application(self, session: Session, kind: str, number: str) -> Application | None:
        if kind == "nodues":
            return session.execute(
                select(NoDuesApplication).where(NoDuesApplication.public_id == number)
            ).scalar_one_or_none()
        return session.execute(
            select(ConnectionApplication).where(ConnectionApplication.application_no == number)
        ).scalar_one_or_none()

    def _application_line(self, session: Session, language: str, application: Application) -> str:
        if isinstance(application, NoDuesApplication):
            line = text(
                language,
                "nodues_line",
                number=application.public_id,
                made=_ist_date(application.created_at),
                status=self._workflow_label(NODUES_WORKFLOW, application.status, language),
            )
            if application.certificate_id is not None:
                record = session.get(IssuedDocument, application.certificate_id)
                if record is not None:
                    line += text(language, "nodues_certificate", certificate=record.number)
            return line
        line = text(
            language,
            "connection_line",
            number=application.application_no,
            made=_ist_date(application.created_at),
            status=self._workflow_label(CONNECTION_WORKFLOW, application.status, language),
        )
        if application.consumer_number:
            line += text(language, "connection_consumer", consumer=application.consumer_number)
        return line

    def _application_status(self, session: Session, turn: Turn, kind: str) -> None:
        """The applications made with this number's mobile, newest first."""
        mobile = wa_mobile(turn.incoming.wa_id)
        applications = [] if mobile is None else self._applications_of(session, kind, mobile)
        if applications:
            lines = [self._application_line(session, turn.language, app) for app in applications]
            turn.replies.append(Reply("\n\n".join(lines)))
        else:
            turn.say("no_nodues" if kind == "nodues" else "no_connection_application")
        self._done_application(turn, kind)

    def _done_application(self, turn: Turn, kind: str) -> None:
        turn.go("menu")
        turn.replies.append(
            Reply(
                text(turn.language, "anything_else"),
                buttons=(
                    button(f"app:{kind}", text(turn.language, "other_application")),
                    button("menu:menu", text(turn.language, "menu_button")),
                    button("menu:exit", pick(turn.language, MENU_TITLES["exit"])),
                ),
            )
        )

    def _typed_application(self, session: Session, turn: Turn, raw: str) -> None:
        kind = str(turn.context.get("kind", ""))
        number = texts.clean(raw, 80).replace(" ", "").upper()
        if kind not in APPLICATION_KINDS:
            self._menu(turn)
            return
        if not APPLICATION_NUMBER.fullmatch(number):
            turn.say("type_application")
            return
        application = self._application(session, kind, number)
        if application is None:
            turn.say("unknown_application", number=number)
            return
        if self._may_see_application(turn, kind, application):
            self._show_application(session, turn, kind, application)
            return
        try:
            sent = create_otp(
                session, self.secret, application.mobile, self._otp_purpose(turn, f"{kind}:{number}"), CHANNEL
            )
        except OtpRefused as exc:
            turn.say("otp_refused", reason=texts.otp_reason(turn.language, exc.code))
            self._done(turn)
            return
        enqueue_sms(
            session,
            application.mobile,
            text("en", "otp_sms_application", code=sent.code, number=number),
            OTP_TEMPLATE,
        )
        turn.go("otp", action=f"application:{kind}", consumer=number, challenge=sent.challenge_id)
        turn.say("otp_sent_application", number=number, mobile=mask_mobile(application.mobile))

    def _may_see_application(self, turn: Turn, kind: str, application: Application) -> bool:
        number = (
            application.public_id
            if isinstance(application, NoDuesApplication)
            else application.application_no
        )
        if f"app:{kind}:{number}" in turn.conversation.data.get("verified", []):
            return True
        mobile = wa_mobile(turn.incoming.wa_id)
        return mobile is not None and application.mobile == mobile

    def _show_application(self, session: Session, turn: Turn, kind: str, application: Application) -> None:
        if not self._may_see_application(turn, kind, application):  # the last word, whatever led here
            self._menu(turn)
            return
        turn.replies.append(Reply(self._application_line(session, turn.language, application)))
        self._done_application(turn, kind)

    # -- housekeeping ---------------------------------------------------------------------------

    def forget_seen(self, now: datetime | None = None) -> int:
        """Periodic job: message ids older than ``seen_for`` are dropped (a later copy is older than
        the conversation's newest message, so it is still ignored)."""
        cutoff = (now or utcnow()) - self.settings.seen_for
        with unit_of_work(self.registry) as session:
            result = session.execute(delete(ChatMessageSeen).where(ChatMessageSeen.seen_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)


def converse(
    registry: Any, incoming: Incoming, session: Session | None = None, now: datetime | None = None
) -> list[Reply]:
    """The replies to one inbound WhatsApp message (see the module docstring)."""
    service = process_service(registry, ChatbotService)
    if session is not None:
        return service.converse(session, incoming, now)
    with unit_of_work(registry) as work:
        # Every message writes (its id at least): on SQLite take the write lock at BEGIN, or two
        # workers that both read first would have one answered "database is locked".
        work.connection(execution_options={WRITE_LOCK_OPTION: True})
        return service.converse(work, incoming, now)
