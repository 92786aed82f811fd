"""What the chatbot says, in English and Hindi, and the words it understands.

Every title shown on a button or list row is checked against the Cloud API's limits when this
module is imported (20 characters on a button, 24 on a row), so a too-long label fails the
tests, not a delivery.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from connectors.whatsapp.messages import Choice

LANGUAGES = ("en", "hi")
BUTTON_TITLE_MAX = 20
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
TEXT_MAX = 4096  # a WhatsApp text body
DESCRIPTION_MAX = 500  # what the complaint keeps of the consumer's words

# The main menu, in the order shown; the number typed is the position (1..8).
MENU = (
    "complaint",
    "complaint_status",
    "bill",
    "receipt",
    "nodues",
    "connection",
    "language",
    "exit",
)

MENU_TITLES: Mapping[str, tuple[str, str]] = {
    "complaint": ("Register a complaint", "शिकायत दर्ज करें"),
    "complaint_status": ("Complaint status", "शिकायत की स्थिति"),
    "bill": ("View latest bill", "बिल देखें"),
    "receipt": ("Payment receipt", "भुगतान रसीद"),
    "nodues": ("No-dues application", "अदेयता आवेदन स्थिति"),
    "connection": ("New connection status", "नया कनेक्शन स्थिति"),
    "language": ("हिंदी / English", "English / हिंदी"),
    "exit": ("Exit", "बाहर निकलें"),
}

MENU_DESCRIPTIONS: Mapping[str, tuple[str, str]] = {
    "complaint": ("No supply, voltage, meter, bill...", "बिजली बंद, वोल्टेज, मीटर, बिल..."),
    "complaint_status": ("Your recent complaints", "आपकी हाल की शिकायतें"),
    "bill": ("Amount, due date and the bill PDF", "राशि, अंतिम तिथि और बिल PDF"),
    "receipt": ("Receipt of your latest payment", "अंतिम भुगतान की रसीद"),
    "nodues": ("No-dues certificate application", "अदेयता प्रमाण पत्र आवेदन"),
    "connection": ("Your new connection application", "नए कनेक्शन का आवेदन"),
    "language": ("Change the language", "भाषा बदलें"),
    "exit": ("End this conversation", "बातचीत समाप्त करें"),
}

# Whole messages that work at any step (lower-cased, NFKC, spaces collapsed).
GO_TO_MENU = frozenset({"menu", "main menu", "hi", "hello", "start", "मेनू", "मेन्यू", "नमस्ते", "हेलो", "0"})
END = frozenset({"exit", "stop", "bye", "end", "quit", "बाहर", "बंद", "समाप्त", "अलविदा"})
HINDI = frozenset({"hindi", "हिंदी", "हिन्दी"})
ENGLISH = frozenset({"english", "अंग्रेजी", "अंग्रेज़ी", "इंग्लिश"})
SKIP = frozenset({"skip", "no", "छोड़ें", "नहीं"})

# Words that pick a menu item when the consumer types instead of tapping (at the menu only).
KEYWORDS: tuple[tuple[str, str], ...] = (
    ("status", "complaint_status"),
    ("स्थिति", "complaint_status"),
    ("complaint", "complaint"),
    ("शिकायत", "complaint"),
    ("receipt", "receipt"),
    ("रसीद", "receipt"),
    ("no dues", "nodues"),
    ("no-dues", "nodues"),
    ("nodues", "nodues"),
    ("अदेयता", "nodues"),
    ("connection", "connection"),
    ("कनेक्शन", "connection"),
    ("bill", "bill"),
    ("बिल", "bill"),
    ("language", "language"),
    ("भाषा", "language"),
)

TEXTS: Mapping[str, tuple[str, str]] = {
    "welcome": (
        "Welcome to the electricity company's WhatsApp service. Choose what you need, or type its number.",
        "बिजली कंपनी की व्हाट्सऐप सेवा में आपका स्वागत है। अपनी ज़रूरत चुनें, या उसका क्रमांक लिखें।",
    ),
    "menu_button": ("Menu", "मेनू"),
    "choose_button": ("Choose", "चुनें"),
    "not_understood": (
        "Sorry, I did not understand that. Please choose from the menu.",
        "क्षमा करें, मैं समझ नहीं पाया। कृपया मेनू से चुनें।",
    ),
    "unsupported": (
        "Sorry, I can read only text and menu choices, not photos, stickers, voice notes or files.",
        "क्षमा करें, मैं केवल लिखा हुआ संदेश और मेनू के विकल्प पढ़ सकता हूँ, फ़ोटो, स्टिकर, वॉइस नोट या फ़ाइल नहीं।",
    ),
    "expired": (
        "Your previous conversation timed out. Let us start again.",
        "आपकी पिछली बातचीत का समय समाप्त हो गया। चलिए फिर से शुरू करते हैं।",
    ),
    "goodbye": (
        "Thank you. The conversation has ended; send any message to start again.",
        "धन्यवाद। बातचीत समाप्त हुई; फिर से शुरू करने के लिए कोई भी संदेश भेजें।",
    ),
    "try_later": (
        "Sorry, our billing system is not answering right now. Nothing was recorded; please try again later.",
        "क्षमा करें, अभी बिलिंग प्रणाली उत्तर नहीं दे रही है। कुछ भी दर्ज नहीं हुआ; कृपया बाद में प्रयास करें।",
    ),
    "cannot_answer": (
        "Sorry, that could not be answered now. Please choose again from the menu.",
        "क्षमा करें, अभी इसका उत्तर नहीं दिया जा सका। कृपया मेनू से फिर चुनें।",
    ),
    "slow_down": (
        "You are sending messages too fast. Please wait a minute and send 'menu'.",
        "आप बहुत जल्दी-जल्दी संदेश भेज रहे हैं। कृपया एक मिनट रुककर 'मेनू' भेजें।",
    ),
    "anything_else": ("Anything else?", "और कुछ?"),
    "language_set": ("Language set to English.", "भाषा हिंदी कर दी गई है।"),
    "pick_connection": (
        "Which connection? Choose one registered to this WhatsApp number, or another one.",
        "कौन सा कनेक्शन? इस व्हाट्सऐप नंबर पर पंजीकृत कनेक्शन चुनें, या कोई अन्य।",
    ),
    "other_connection": ("Other connection", "अन्य कनेक्शन"),
    "other_connection_description": ("Type its consumer number", "उपभोक्ता क्रमांक लिखें"),
    "type_connection": (
        "Please type the consumer number (IVRS number, 10 to 12 digits) printed on the bill.",
        "कृपया बिल पर छपा उपभोक्ता क्रमांक (IVRS नंबर, 10 से 12 अंक) लिखें।",
    ),
    "no_registered": (
        "No connection is registered to this WhatsApp number.",
        "इस व्हाट्सऐप नंबर पर कोई कनेक्शन पंजीकृत नहीं है।",
    ),
    "bad_consumer_number": (
        "That is not a consumer number: it has 10 to 12 digits. Please type it again, or 'menu'.",
        "यह उपभोक्ता क्रमांक नहीं है: इसमें 10 से 12 अंक होते हैं। कृपया फिर से लिखें, या 'मेनू'।",
    ),
    "unknown_consumer": (
        "We could not find consumer number {number}. Please check it and type it again, or 'menu'.",
        "उपभोक्ता क्रमांक {number} नहीं मिला। कृपया जाँच कर फिर से लिखें, या 'मेनू'।",
    ),
    "otp_sent": (
        "Connection {number} is registered to another mobile. We have sent an OTP by SMS to {mobile}: "
        "please type it here (valid 10 minutes), or 'menu' to cancel.",
        "कनेक्शन {number} किसी अन्य मोबाइल पर पंजीकृत है। {mobile} पर SMS से OTP भेजा गया है: "
        "कृपया उसे यहाँ लिखें (10 मिनट तक मान्य), या रद्द करने के लिए 'मेनू'।",
    ),
    "otp_wrong": (
        "That OTP is not right. Please type the 6 digits again, or 'menu' to cancel.",
        "यह OTP सही नहीं है। कृपया 6 अंक फिर से लिखें, या रद्द करने के लिए 'मेनू'।",
    ),
    "otp_over": (
        "The OTP can no longer be used ({reason}). Please start again from the menu.",
        "यह OTP अब उपयोग नहीं हो सकता ({reason})। कृपया मेनू से फिर शुरू करें।",
    ),
    "otp_refused": (
        "We cannot send another OTP to that mobile now ({reason}). Please try again later.",
        "अभी उस मोबाइल पर दूसरा OTP नहीं भेजा जा सकता ({reason})। कृपया बाद में प्रयास करें।",
    ),
    "otp_sms": (
        "{code} is your OTP to see connection {number} on the electricity WhatsApp service. "
        "Valid 10 minutes. Do not share it. MPCZ",
        "{code} is your OTP to see connection {number} on the electricity WhatsApp service. "
        "Valid 10 minutes. Do not share it. MPCZ",
    ),
    "complaint_type": (
        "Connection {number}: what is the complaint about?",
        "कनेक्शन {number}: शिकायत किस बारे में है?",
    ),
    "complaint_text": (
        "Please describe the problem in a few words (where, since when), or tap 'Skip'.",
        "कृपया समस्या कुछ शब्दों में लिखें (कहाँ, कब से), या 'छोड़ें' दबाएँ।",
    ),
    "skip": ("Skip", "छोड़ें"),
    "complaint_registered": (
        "Complaint {complaint_no} registered for connection {number}: {type}. "
        "It is to be resolved by {due}. You will get updates by SMS.",
        "कनेक्शन {number} के लिए शिकायत {complaint_no} दर्ज की गई: {type}। "
        "इसका निराकरण {due} तक होना है। आपको SMS से सूचना मिलेगी।",
    ),
    "no_complaints": (
        "There are no complaints for connection {number}.",
        "कनेक्शन {number} की कोई शिकायत नहीं है।",
    ),
    "complaint_line": (
        "Complaint {complaint_no} ({type}), registered {registered}: {status}.",
        "शिकायत {complaint_no} ({type}), दर्ज {registered}: {status}।",
    ),
    "complaint_due": (" To be resolved by {due}.", " निराकरण की समय-सीमा {due}।"),
    "no_bill": ("Connection {number} has no bill yet.", "कनेक्शन {number} का अभी कोई बिल नहीं है।"),
    "bill_due": (
        "Bill {bill_number} of connection {number} for {period}: Rs {amount} to pay by {due}"
        " (Rs {late} after that).",
        "कनेक्शन {number} का {period} का बिल {bill_number}: ₹{amount}, {due} तक जमा करें (उसके बाद ₹{late})।",
    ),
    "bill_clear": (
        "Bill {bill_number} of connection {number} for {period}: nothing is due now.",
        "कनेक्शन {number} का {period} का बिल {bill_number}: अभी कोई राशि बकाया नहीं है।",
    ),
    "receipt": (
        "Receipt {receipt_number} for connection {number}: Rs {amount} paid on {paid}.",
        "कनेक्शन {number} की रसीद {receipt_number}: ₹{amount} का भुगतान {paid} को।",
    ),
    "receipt_pending": (
        "Your payment of Rs {amount} on {paid} for connection {number} is being posted; "
        "ask again later for its receipt.",
        "कनेक्शन {number} के लिए {paid} को ₹{amount} का भुगतान दर्ज हो रहा है; रसीद के लिए बाद में पूछें।",
    ),
    "no_payment": (
        "We find no payment for connection {number} through the hub.",
        "कनेक्शन {number} का कोई भुगतान नहीं मिला।",
    ),
    "no_nodues": (
        "No no-dues application was made with this mobile number.",
        "इस मोबाइल नंबर से कोई अदेयता आवेदन नहीं किया गया है।",
    ),
    "nodues_line": (
        "No-dues application {number}, made {made}: {status}.",
        "अदेयता आवेदन {number}, दिनांक {made}: {status}।",
    ),
    "nodues_certificate": (" Certificate {certificate}.", " प्रमाण पत्र {certificate}।"),
    "no_connection_application": (
        "No new-connection application was made with this mobile number.",
        "इस मोबाइल नंबर से नए कनेक्शन का कोई आवेदन नहीं किया गया है।",
    ),
    "connection_line": (
        "New connection application {number}, made {made}: {status}.",
        "नए कनेक्शन का आवेदन {number}, दिनांक {made}: {status}।",
    ),
    "other_application": ("Other application", "अन्य आवेदन"),
    "type_application": (
        "Please type the application number (like ND-7K3M9P2QXA, or MPCZ/NC/2026-27/0000042), or 'menu'.",
        "कृपया आवेदन क्रमांक लिखें (जैसे ND-7K3M9P2QXA, या MPCZ/NC/2026-27/0000042), या 'मेनू'।",
    ),
    "unknown_application": (
        "We could not find application {number}. Please check it and type it again, or 'menu'.",
        "आवेदन {number} नहीं मिला। कृपया जाँच कर फिर से लिखें, या 'मेनू'।",
    ),
    "otp_sent_application": (
        "Application {number} was made with another mobile. We have sent an OTP by SMS to {mobile}: "
        "please type it here (valid 10 minutes), or 'menu' to cancel.",
        "आवेदन {number} किसी अन्य मोबाइल से किया गया है। {mobile} पर SMS से OTP भेजा गया है: "
        "कृपया उसे यहाँ लिखें (10 मिनट तक मान्य), या रद्द करने के लिए 'मेनू'।",
    ),
    "otp_sms_application": (
        "{code} is your OTP to see application {number} on the electricity WhatsApp service. "
        "Valid 10 minutes. Do not share it. MPCZ",
        "{code} is your OTP to see application {number} on the electricity WhatsApp service. "
        "Valid 10 minutes. Do not share it. MPCZ",
    ),
    "connection_consumer": (" Consumer number {consumer}.", " उपभोक्ता क्रमांक {consumer}।"),
}

# hub.otp's refusal codes, as the consumer reads them.
OTP_REASONS: Mapping[str, tuple[str, str]] = {
    "otp_expired": ("it has expired", "इसकी समय-सीमा समाप्त हो गई"),
    "otp_used": ("it was already used", "इसका उपयोग हो चुका है"),
    "otp_attempts_exhausted": ("three wrong attempts", "तीन बार गलत OTP"),
    "otp_locked": ("too many wrong OTPs for that mobile in the last hour", "पिछले एक घंटे में बहुत बार गलत OTP"),
    "otp_send_limit": (
        "too many OTPs sent to that mobile in the last hour",
        "पिछले एक घंटे में बहुत अधिक OTP भेजे गए",
    ),
}

_SPACES = re.compile(r"\s+")
# Format and control characters (zero-width joiners aside, which Devanagari needs) are dropped.
_KEEP_FORMAT = {"\u200c", "\u200d"}


def text(language: str, key: str, **values: object) -> str:
    english, hindi = TEXTS[key]
    template = hindi if language == "hi" else english
    return template.format(**values) if values else template


def pick(language: str, pair: tuple[str, str]) -> str:
    return pair[1] if language == "hi" else pair[0]


def otp_reason(language: str, code: str) -> str:
    return pick(language, OTP_REASONS.get(code, (code, code)))


def clean(raw: str, limit: int = TEXT_MAX) -> str:
    """What a consumer typed, safe to keep and show: NFC, no control or format characters
    (bidi overrides, zero-width spaces), spaces collapsed, at most ``limit`` characters."""
    kept = [
        ch
        for ch in unicodedata.normalize("NFC", raw[: limit * 4])
        if ch in _KEEP_FORMAT or unicodedata.category(ch)[0] != "C" or ch in "\n\t"
    ]
    return _SPACES.sub(" ", "".join(kept)).strip()[:limit]


def command_form(raw: str) -> str:
    """The form a whole-message command is compared in: NFKC, lower case, no punctuation at the ends."""
    return clean(unicodedata.normalize("NFKC", raw), 200).lower().strip(" .!?।,")


def has_devanagari(raw: str) -> bool:
    return any("\u0900" <= ch <= "\u097f" for ch in raw)


def fit(title: str, limit: int) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"


def row(choice_id: str, title: str, description: str = "") -> Choice:
    return Choice(choice_id, fit(title, ROW_TITLE_MAX), fit(description, ROW_DESCRIPTION_MAX))


def button(choice_id: str, title: str) -> Choice:
    return Choice(choice_id, fit(title, BUTTON_TITLE_MAX))


def _check_limits() -> None:
    for pair in MENU_TITLES.values():
        for title in pair:
            if len(title) > ROW_TITLE_MAX:
                raise ValueError(f"menu title too long for a list row: {title!r}")
    for key in ("menu_button", "choose_button", "skip", "other_connection", "other_application"):
        for title in TEXTS[key]:
            if len(title) > BUTTON_TITLE_MAX:
                raise ValueError(f"title too long for a button: {title!r}")


_check_limits()
