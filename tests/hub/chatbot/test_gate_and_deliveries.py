"""Who may see what (the OTP gate, attempts to read another consumer's data), and deliveries as
the webhook makes them: repeated, out of order, of kinds the bot cannot read, in a flood, after
a timeout, and with billing down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.demo import PERSONAS
from connectors.whatsapp.messages import IncomingKind
from hub.chatbot import converse
from hub.chatbot.texts import MENU
from hub.models import Complaint, OtpChallenge
from tests.hub.chatbot.chat import Chat, choices, documents, incoming, said
from tests.hub.chatbot.conftest import Bot, wa

DUES, DUES_CLEAR = PERSONAS["dues"].consumer_numbers  # the first owes 4572.50
CLEAN = PERSONAS["clean"].consumer_numbers[0]
DUES_MOBILE = PERSONAS["dues"].mobile
SECRETS = ("4572.50", PERSONAS["dues"].name_en, PERSONAS["dues"].name_hi, DUES_MOBILE)


def leaks(chat: Chat) -> list[str]:
    text = said(chat.last) + repr(documents(chat.last))
    return [s for s in SECRETS if s in text] + (["document"] if documents(chat.last) else [])


# -- the OTP gate ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "hi"])
def test_another_connection_needs_the_otp_sent_to_its_registered_mobile(bot: Bot, language: str) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("बिल" if language == "hi" else "bill")
    chat.tap("conn:other")
    chat.say(f" {DUES} ")
    assert ("OTP" in said(chat.last)) and "XXXXXX" + DUES_MOBILE[-4:] in said(chat.last)
    assert leaks(chat) == []
    code = bot.otp_sent_to(DUES_MOBILE)  # to the connection's mobile, never to the WhatsApp number
    wrong = "000000" if code != "000000" else "111111"
    chat.say(wrong)
    assert ("सही नहीं" if language == "hi" else "not right") in said(chat.last)
    assert leaks(chat) == []
    chat.say(code)
    assert documents(chat.last) == [("bill", DUES)]
    assert "4572.50" in chat.last[0].text
    # Open for the rest of the conversation: no second OTP.
    sms = bot.sms_count()
    chat.say("bill")
    assert [c.id for c in choices(chat.last)] == [f"conn:{CLEAN}", "conn:other"]
    chat.tap("conn:other")
    chat.say(DUES)
    assert documents(chat.last) == [("bill", DUES)]
    assert bot.sms_count() == sms


def test_forged_taps_and_typed_numbers_never_show_another_consumers_data(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("hi")
    # A crafted tap naming another consumer's connection, at the connection step and out of it.
    chat.tap("menu:bill")
    chat.forge(f"conn:{DUES}")
    assert leaks(chat) == [] and "OTP" in said(chat.last)
    chat.say("menu")
    chat.forge(f"conn:{DUES}")
    assert leaks(chat) == []
    for item in ("complaint_status", "receipt", "complaint"):
        chat.say("menu")
        chat.tap(f"menu:{item}")
        chat.forge(f"conn:{DUES}")
        assert leaks(chat) == [], item
        assert "type:supply_failure" not in [c.id for c in choices(chat.last)], item
    # The complaint steps reached by a forged type tap do not register anything for DUES.
    before = len(bot.complaints(DUES))
    chat.say("menu")
    chat.forge("type:supply_failure")
    chat.say("no supply")
    assert len(bot.complaints(DUES)) == before
    # An OTP for DUES asked by another WhatsApp number is bound to that number.
    other = bot.chat(wa("faulty_meter"))
    other.say("bill")
    other.tap("conn:other")
    other.say(DUES)
    code_for_other = bot.otp_sent_to(DUES_MOBILE)
    chat.say("bill")
    chat.tap("conn:other")
    chat.say(DUES)
    code_for_chat = bot.otp_sent_to(DUES_MOBILE)
    if code_for_other != code_for_chat:
        chat.say(code_for_other)
        assert leaks(chat) == [] and "not right" in said(chat.last)
    # DUES's own complaint is not among CLEAN's.
    owner = bot.chat(wa("dues"))
    owner.say("complaint")
    owner.tap(f"conn:{DUES}")
    owner.tap("type:meter")
    owner.tap("skip")
    dues_complaint = bot.complaints(DUES)[-1].complaint_no
    chat.say("menu")
    chat.tap("menu:complaint_status")
    chat.tap(f"conn:{CLEAN}")
    assert dues_complaint not in said(chat.last) and leaks(chat) == []


def test_number_outside_india_or_unregistered_must_type_and_prove(bot: Bot) -> None:
    foreign = bot.chat("447700900123")
    foreign.say("bill")
    assert "No connection is registered" in said(foreign.last)
    foreign.say(DUES)
    assert "OTP" in said(foreign.last) and leaks(foreign) == []
    unknown = bot.chat(wa("no_connection"))
    unknown.say("bill")
    unknown.say("1019999999")
    assert "could not find" in said(unknown.last)
    unknown.say("12ab")
    assert "10 to 12 digits" in said(unknown.last)


def test_otp_attempts_run_out(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("bill")
    chat.tap("conn:other")
    chat.say(DUES)
    code = bot.otp_sent_to(DUES_MOBILE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        chat.say(wrong)
    chat.say(code)  # the challenge is spent after three wrong attempts
    assert "three wrong attempts" in said(chat.last)
    assert leaks(chat) == []
    assert choices(chat.last)[0].id == "menu:complaint"


def test_otps_to_one_mobile_are_limited(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    sms = bot.sms_count()
    for _ in range(6):
        chat.say("menu")
        chat.tap("menu:bill")
        chat.tap("conn:other")
        chat.say(DUES)
    assert "too many OTPs sent to that mobile" in said(chat.last)
    assert bot.sms_count() == sms + 5
    assert leaks(chat) == []


# -- deliveries ---------------------------------------------------------------------------------


def test_same_message_twice_gets_one_answer(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    first = chat.say("hi")
    assert first
    assert chat.deliver(chat.sent[-1]) == []
    assert chat.deliver(chat.sent[-1]) == []


def test_an_older_message_arriving_late_does_not_rewind(bot: Bot) -> None:
    chat = bot.chat(wa("dues"))
    chat.say("hi")
    early = incoming(chat.wa_id, "3", sent_at=chat.clock + timedelta(seconds=1))  # "view bill", sent first
    chat.say("1")  # "complaint", sent later, delivered first
    assert bot.conversation(chat.wa_id).step == "pick_connection"
    assert bot.conversation(chat.wa_id).data["action"] == "complaint"
    assert chat.deliver(early) == []
    assert bot.conversation(chat.wa_id).data["action"] == "complaint"
    chat.forge(f"conn:{DUES}")  # the button shown before the late delivery
    assert "type:meter" in [c.id for c in choices(chat.last)]


@pytest.mark.parametrize(
    "kind",
    [
        IncomingKind.STICKER,
        IncomingKind.IMAGE,
        IncomingKind.AUDIO,
        IncomingKind.VIDEO,
        IncomingKind.OTHER,
        IncomingKind.LOCATION,
        IncomingKind.DOCUMENT,
        IncomingKind.CONTACTS,
    ],
)
def test_kinds_it_cannot_read_are_said_so_with_the_menu(bot: Bot, kind: IncomingKind) -> None:
    chat = bot.chat(wa("clean"))
    chat.send(kind)
    assert "can read only text" in said(chat.last)
    assert len(choices(chat.last)) == len(MENU)


@pytest.mark.parametrize("wa_id", ["+919999000011", "9" * 30, "", "91999900001١", "0919999000011"])
def test_a_sender_that_is_not_a_whatsapp_id_gets_nothing(bot: Bot, wa_id: str) -> None:
    assert converse(bot.registry, incoming(wa_id, "bill")) == []


def test_a_reaction_asks_nothing(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("hi")
    chat.tap("menu:bill")
    assert chat.send(IncomingKind.REACTION, "👍") == []
    assert bot.conversation(chat.wa_id).step == "pick_connection"


def test_hindi_remembered_across_exit_and_timeout(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("hindi")
    assert "भाषा हिंदी" in said(chat.last)
    chat.say("exit")
    assert "धन्यवाद" in said(chat.last)
    chat.say("hello")
    assert "स्वागत" in said(chat.last)


def test_idle_conversation_times_out_and_forgets_the_otp(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("bill")
    chat.tap("conn:other")
    chat.say(DUES)
    chat.say(bot.otp_sent_to(DUES_MOBILE))
    assert documents(chat.last) == [("bill", DUES)]
    chat.say("bill")
    assert bot.conversation(chat.wa_id).step == "pick_connection"
    later = chat.clock + timedelta(minutes=16)
    chat.clock = later
    replies = converse(bot.registry, incoming(chat.wa_id, "menu", sent_at=later), now=later)
    assert "timed out" in said(replies)
    assert bot.conversation(chat.wa_id).data.get("verified") in (None, [])
    chat.clock = later + timedelta(seconds=1)
    replies = converse(bot.registry, incoming(chat.wa_id, "3", sent_at=chat.clock), now=chat.clock)
    replies = converse(
        bot.registry,
        incoming(chat.wa_id, "x", choice=f"conn:{DUES}", sent_at=chat.clock + timedelta(seconds=1)),
        now=chat.clock + timedelta(seconds=1),
    )
    assert "OTP" in said(replies) and not documents(replies)


def test_a_flood_is_answered_up_to_the_limit(bot: Bot) -> None:
    chat = bot.chat(wa("clean"), step=timedelta(seconds=1))
    answers = [chat.say(f"hello {n}") for n in range(30)]
    assert all(answers[:20])
    assert "too fast" in said(answers[20])
    assert answers[21:] == [[]] * 9
    chat.clock += timedelta(minutes=1)
    assert chat.say("menu"), "a minute later the number is answered again"
    with Session(bot.engine) as session:
        # One conversation row whatever the flood.
        from hub.models import ChatConversation

        assert session.execute(select(func.count()).select_from(ChatConversation)).scalar_one() == 1


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100_000,
        "\u202ebill\u202c",  # right-to-left override
        "b\u200bill",  # zero-width space inside the keyword
        "ｂｉｌｌ",  # full-width letters
        "💡⚡🔌" * 500,
        "\x00\x01\x07menu",
        "बि\u094dल",
        "",
        "   ",
        "\U0010ffff",
    ],
)
def test_odd_and_oversized_text_never_breaks_it(bot: Bot, text: str) -> None:
    chat = bot.chat(wa("clean"))
    replies = chat.say(text)
    assert replies and all(len(r.text) <= 4096 for r in replies)
    assert leaks(chat) == []


def test_complaint_words_are_cleaned_and_bounded(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("complaint")
    chat.tap(f"conn:{CLEAN}")
    chat.tap("type:voltage")
    chat.say("\u202eवोल्टेज\u200b कम\x00 " + "है " * 2000)
    complaint = bot.complaints(CLEAN)[-1]
    assert complaint.complaint_type == "voltage"
    assert "\u202e" not in complaint.description and "\x00" not in complaint.description
    assert complaint.description.startswith("वोल्टेज कम") and len(complaint.description) <= 500


# -- billing down -------------------------------------------------------------------------------


def test_billing_down_tells_to_try_later_and_writes_nothing(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("complaint")
    chat.tap(f"conn:{CLEAN}")
    chat.tap("type:supply_failure")
    with Session(bot.engine) as session:
        complaints = session.execute(select(func.count()).select_from(Complaint)).scalar_one()
        otps = session.execute(select(func.count()).select_from(OtpChallenge)).scalar_one()
    bot.billing_down()
    chat.say("No power since 6 am")
    assert "try again later" in said(chat.last)
    assert bot.conversation(chat.wa_id).step == "complaint_text"  # where it was
    chat.say("bill")
    assert "try again later" in said(chat.last)
    # Another connection's OTP while billing is down: no challenge, no SMS.
    sms = bot.sms_count()
    bot.billing_down(False)
    chat.say("menu")
    chat.tap("menu:bill")
    chat.tap("conn:other")
    bot.billing_down()
    chat.say(DUES)
    assert "try again later" in said(chat.last) and bot.sms_count() == sms
    assert bot.conversation(chat.wa_id).step == "type_connection"
    with Session(bot.engine) as session:
        assert session.execute(select(func.count()).select_from(Complaint)).scalar_one() == complaints
        assert session.execute(select(func.count()).select_from(OtpChallenge)).scalar_one() == otps
    bot.billing_down(False)
    chat.say("menu")
    chat.tap("menu:complaint")
    chat.tap(f"conn:{CLEAN}")
    chat.tap("type:supply_failure")
    chat.say("No power since 6 am")
    assert "registered" in said(chat.last)
    with Session(bot.engine) as session:
        assert session.execute(select(func.count()).select_from(Complaint)).scalar_one() == complaints + 1


def test_message_ids_are_forgotten_after_the_configured_days_and_old_copies_still_ignored(bot: Bot) -> None:
    from hub.chatbot import ChatbotService
    from hub.lookup import process_service
    from hub.models import ChatMessageSeen

    chat = bot.chat(wa("clean"))
    chat.say("hi")
    first = chat.sent[-1]
    chat.say("bill")
    service = process_service(bot.registry, ChatbotService)
    assert service.forget_seen(now=chat.clock + timedelta(days=9)) >= 2
    with Session(bot.engine) as session:
        assert session.get(ChatMessageSeen, first.message_id) is None
    # A copy of the first message delivered after its id was forgotten: older than the newest, ignored.
    assert chat.deliver(first) == []
    assert bot.conversation(chat.wa_id).step == "pick_connection"
