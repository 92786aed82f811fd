"""A whole WhatsApp conversation for each menu item, in English and in Hindi, driven through
:func:`hub.chatbot.converse` as the channel's worker calls it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.demo import PERSONAS
from hub.bills.service import BillService
from hub.chatbot.texts import BUTTON_TITLE_MAX, MENU, ROW_TITLE_MAX
from hub.complaints.service import ComplaintService
from hub.lookup import process_service
from hub.models.document import IssuedDocument
from tests.hub.chatbot.chat import Chat, choices, documents, said
from tests.hub.chatbot.conftest import Bot, wa

DUES, DUES_CLEAR = PERSONAS["dues"].consumer_numbers  # the first owes 4572.50
CLEAN = PERSONAS["clean"].consumer_numbers[0]
DISCONNECTED = PERSONAS["disconnected_smart"].consumer_numbers[0]  # owes 1830.00
SEVERAL = PERSONAS["several_connections"].consumer_numbers
COMPLAINT_NO = re.compile(r"\b[0-9]{13}\b")


def within_limits(chat: Chat) -> None:
    for reply in chat.last:
        assert len(reply.buttons) <= 3 and len(reply.rows) <= 10
        assert all(len(c.title) <= BUTTON_TITLE_MAX for c in reply.buttons)
        assert all(len(c.title) <= ROW_TITLE_MAX and len(c.description) <= 72 for c in reply.rows)
        assert len(reply.text) <= 4096


def test_any_message_opens_the_menu_in_english_or_hindi(bot: Bot) -> None:
    english = bot.chat(wa("clean"))
    english.say("hello there")
    within_limits(english)
    assert [c.id for c in choices(english.last)] == [f"menu:{item}" for item in MENU]
    assert "Welcome" in said(english.last) and "not understand" not in said(english.last)
    hindi = bot.chat(wa("dues"))
    hindi.say("नमस्ते जी")
    within_limits(hindi)
    assert "स्वागत" in said(hindi.last) and "शिकायत दर्ज करें" in said(hindi.last)
    # Something the menu does not know, after it was shown: said so, and the menu again.
    english.say("what is the weather")
    assert "did not understand" in said(english.last)
    assert len(choices(english.last)) == len(MENU)


@pytest.mark.parametrize("language", ["en", "hi"])
def test_view_bill_of_a_registered_connection(bot: Bot, language: str) -> None:
    chat = bot.chat(wa("dues"))
    chat.say("बिल" if language == "hi" else "bill")
    # Two connections registered to the number, and "another": three buttons.
    assert [c.id for c in choices(chat.last)] == [f"conn:{DUES}", f"conn:{DUES_CLEAR}", "conn:other"]
    within_limits(chat)
    chat.tap(f"conn:{DUES}")
    within_limits(chat)
    assert documents(chat.last) == [("bill", DUES)]
    caption = chat.last[0].text
    assert "4572.50" in caption
    assert ("जमा करें" in caption) if language == "hi" else ("to pay by" in caption)
    assert chat.last[0].document is not None and chat.last[0].document.filename.endswith(".pdf")
    # The bill PDF the channel will send is the one the bills flow renders for that number.
    pdf = process_service(bot.registry, BillService).bill_pdf
    with Session(bot.engine) as session, session.begin():
        assert pdf(session, DUES, "whatsapp").startswith(b"%PDF")
    # Back to the menu in two buttons; "Exit" ends it.
    assert [c.id for c in choices(chat.last)] == ["menu:menu", "menu:exit"]
    chat.tap("menu:exit")
    assert ("धन्यवाद" if language == "hi" else "Thank you") in said(chat.last)
    assert choices(chat.last) == []


def test_view_bill_picks_from_a_list_when_many_connections(bot: Bot) -> None:
    chat = bot.chat(wa("several_connections"))
    chat.say("3")  # the menu's third item, typed
    rows = [c.id for c in choices(chat.last)]
    assert rows == [f"conn:{n}" for n in sorted(SEVERAL)] + ["conn:other"]
    assert chat.last[0].list_button
    chat.tap(f"conn:{SEVERAL[1]}")
    assert documents(chat.last) == [("bill", SEVERAL[1])]
    assert "nothing is due" in chat.last[0].text


@pytest.mark.parametrize("language", ["en", "hi"])
def test_payment_receipt(bot: Bot, language: str) -> None:
    chat = bot.chat(wa("disconnected_smart"))
    chat.say("रसीद" if language == "hi" else "receipt")
    chat.tap(f"conn:{DISCONNECTED}")
    assert ("भुगतान नहीं मिला" if language == "hi" else "no payment") in said(chat.last)
    payment = bot.pay_by_bbps(DISCONNECTED, "1830.00", f"BBPS-WA-{language}")
    document = payment.details["receipt_document"]
    chat.say("रसीद" if language == "hi" else "receipt")
    chat.tap(f"conn:{DISCONNECTED}")
    within_limits(chat)
    assert documents(chat.last) == [("receipt", document)]
    assert payment.receipt_number and payment.receipt_number in chat.last[0].text
    assert "1830.00" in chat.last[0].text
    with Session(bot.engine) as session:
        record = session.execute(select(IssuedDocument).where(IssuedDocument.number == document)).scalar_one()
        assert record.kind == "payment_receipt"


@pytest.mark.parametrize("language", ["en", "hi"])
def test_register_a_complaint_then_see_its_status(bot: Bot, language: str) -> None:
    chat = bot.chat(wa("clean"))
    if language == "hi":
        chat.say("नमस्ते")
        chat.tap("menu:language")
        chat.tap("lang:hi")
        assert "भाषा हिंदी" in said(chat.last)
    else:
        chat.say("hi")
    chat.tap("menu:complaint")
    chat.tap(f"conn:{CLEAN}")
    within_limits(chat)
    types = [c.id for c in choices(chat.last)]
    assert "type:supply_failure" in types and len(types) <= 10
    assert ("आपूर्ति बंद" in said(chat.last)) if language == "hi" else ("No supply" in said(chat.last))
    chat.tap("type:supply_failure")
    assert [c.id for c in choices(chat.last)] == ["skip"]
    before = len(bot.complaints(CLEAN))
    chat.say("बिजली सुबह से बंद है, गली नं. 4" if language == "hi" else "No power since morning, lane 4")
    registered = bot.complaints(CLEAN)
    assert len(registered) == before + 1
    complaint = registered[-1]
    assert complaint.channel == "whatsapp"
    assert complaint.mobile == PERSONAS["clean"].mobile
    assert complaint.complaint_type == "supply_failure"
    assert complaint.complaint_no in said(chat.last)
    assert ("दर्ज की गई" if language == "hi" else "registered") in said(chat.last)
    # The webhook delivers the last message again: no second answer, no second complaint.
    assert chat.deliver(chat.sent[-1]) == []
    assert len(bot.complaints(CLEAN)) == before + 1
    # Its status, by keyword.
    chat.say("स्थिति" if language == "hi" else "status")
    chat.tap(f"conn:{CLEAN}")
    status = said(chat.last)
    assert complaint.complaint_no in status
    with Session(bot.engine) as session:
        described = process_service(bot.registry, ComplaintService).describe(session, complaint)
    assert described["status_label"][language] in status


def test_complaint_skip_and_typed_choices(bot: Bot) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("1")  # register a complaint
    chat.say(CLEAN)  # the number typed instead of tapped
    chat.say("5")  # the fifth type (meter), typed
    chat.tap("skip")
    complaint = bot.complaints(CLEAN)[-1]
    assert complaint.complaint_type == "meter"  # the fifth type of the standards
    assert complaint.description.endswith("(WhatsApp)")


@pytest.mark.parametrize("language", ["en", "hi"])
def test_nodues_application_status(bot: Bot, language: str) -> None:
    mobile = PERSONAS["clean"].mobile
    bot.nodues_application(mobile, "ND-2026-000101", "awaiting_decision", [CLEAN])
    bot.nodues_application(PERSONAS["dues"].mobile, "ND-2026-000999", "rejected", [DUES])
    chat = bot.chat(wa("clean"))
    chat.say("अदेयता" if language == "hi" else "no dues")
    answer = said(chat.last)
    assert "ND-2026-000101" in answer
    assert "ND-2026-000999" not in answer  # another person's application
    assert ("अदेयता आवेदन" if language == "hi" else "No-dues application") in answer
    nobody = bot.chat(wa("faulty_meter"))
    nobody.say("5")
    assert "No no-dues application" in said(nobody.last)


@pytest.mark.parametrize("language", ["en", "hi"])
def test_new_connection_application_status(bot: Bot, language: str) -> None:
    bot.connection_application(PERSONAS["several_connections"].mobile, "NC/2026/000042", "under_scrutiny")
    bot.connection_application(PERSONAS["clean"].mobile, "NC/2026/000043", "under_scrutiny")
    chat = bot.chat(wa("several_connections"))
    chat.say("नमस्ते" if language == "hi" else "hello")
    chat.tap("menu:connection")
    answer = said(chat.last)
    assert "NC/2026/000042" in answer and "NC/2026/000043" not in answer
    assert ("नए कनेक्शन का आवेदन" if language == "hi" else "New connection application") in answer


@pytest.mark.parametrize("language", ["en", "hi"])
def test_another_application_by_its_number_needs_the_applicants_otp(bot: Bot, language: str) -> None:
    bot.nodues_application(PERSONAS["dues"].mobile, "ND-QW3E4R5T6Y", "awaiting_decision", [DUES])
    bot.connection_application(PERSONAS["dues"].mobile, "MPCZ/NC/2026-27/0000042", "under_scrutiny")
    chat = bot.chat(wa("clean"))
    chat.say("नमस्ते" if language == "hi" else "hello")
    chat.tap("menu:nodues")
    assert "ND-QW3E4R5T6Y" not in said(chat.last)
    assert [c.id for c in choices(chat.last)] == ["app:nodues", "menu:menu", "menu:exit"]
    within_limits(chat)
    chat.tap("app:nodues")
    chat.say("nd-qw3e4r5t6y ")  # typed in lower case, with a space
    assert "OTP" in said(chat.last) and "XXXXXX" + PERSONAS["dues"].mobile[-4:] in said(chat.last)
    assert "awaiting" not in said(chat.last).lower()
    chat.say(bot.otp_sent_to(PERSONAS["dues"].mobile))
    assert "ND-QW3E4R5T6Y" in said(chat.last)
    # The OTP opened that application only: the new-connection one of the same person needs its own.
    chat.tap("menu:menu")
    chat.tap("menu:connection")
    chat.tap("app:connection")
    chat.say("MPCZ/NC/2026-27/0000042")
    assert "OTP" in said(chat.last) and len(chat.last) == 1
    chat.say(bot.otp_sent_to(PERSONAS["dues"].mobile))
    assert ("नए कनेक्शन का आवेदन" if language == "hi" else "New connection application") in said(chat.last)
    # An unknown number, and garbage.
    chat.tap("app:connection")
    chat.say("MPCZ/NC/2026-27/9999999")
    assert ("नहीं मिला" if language == "hi" else "could not find") in said(chat.last)
    chat.say("<script>")
    assert ("आवेदन क्रमांक लिखें" if language == "hi" else "type the application number") in said(chat.last)
    assert "ND-QW3E4R5T6Y" not in said(chat.last)
