"""The printable document: A4, English and Hindi side by side, QR code, shaped Devanagari.

Devanagari needs shaping (conjuncts, the ि matra drawn before its consonant): ``drawString``
ignores ``shaping`` and prints "किरण" as "करिण", so every piece of text goes through a Platypus
``Paragraph`` whose style has ``shaping=1`` (reportlab shapes with uharfbuzz). Latin and
Devanagari runs get their own font (Noto Sans / Noto Sans Devanagari, shipped in
``certs/fonts`` under the OFL so a fresh install renders Hindi with no system fonts).

Shaped runs are written as glyph ids whose ToUnicode map cannot give back reordered or
conjunct characters (pdftotext read "शर्मा" as "शमा"). So every paragraph is wrapped in a
marked-content span whose /ActualText is the source string: text extraction, search and screen
readers get the words as written (a URL wrapped mid-word reads back whole too) while the glyphs
stay shaped.

The PDF is for people. Machines read the signed XML and the QR payload, not PDF text.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from importlib import resources
from xml.sax.saxutils import escape

import segno
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle  # type: ignore[import-untyped]

from certs.document import DEMAND_NOTE, NO_DUES_CERTIFICATE, Document
from forms.labels import VALUE_LABELS

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
LATIN = "HubLatin"
DEVA = "HubDeva"
_FONT_FILES = {
    LATIN: "NotoSans-Regular.ttf",
    LATIN + "-Bold": "NotoSans-Bold.ttf",
    DEVA: "NotoSansDevanagari-Regular.ttf",
    DEVA + "-Bold": "NotoSansDevanagari-Bold.ttf",
}
_fonts_lock = threading.Lock()
_fonts_registered: set[str] = set()

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 14 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
GRID = colors.HexColor("#9aa5b1")
SHADE = colors.HexColor("#eef2f6")
INK = colors.HexColor("#102a43")


def register_fonts() -> None:
    """Register the shipped fonts once per process (reportlab's registry is global)."""
    if _fonts_registered:
        return
    with _fonts_lock:
        if _fonts_registered:
            return
        folder = resources.files("certs").joinpath("fonts")
        for name, filename in _FONT_FILES.items():
            with resources.as_file(folder.joinpath(filename)) as path:
                pdfmetrics.registerFont(TTFont(name, str(path)))
        for family in (LATIN, DEVA):
            pdfmetrics.registerFontFamily(
                family, normal=family, bold=family + "-Bold", italic=family, boldItalic=family + "-Bold"
            )
        _fonts_registered.update(_FONT_FILES)


def _is_devanagari(ch: str) -> bool:
    cp = ord(ch)
    return 0x0900 <= cp <= 0x097F or 0xA8E0 <= cp <= 0xA8FF or 0x1CD0 <= cp <= 0x1CFF


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM"


def _script_tokens(text: str) -> list[tuple[bool | None, str]]:
    """Whitespace-separated tokens tagged Devanagari (True), Latin (False) or neutral (None).

    reportlab shapes a word (text between spaces) with ONE font; a word that switches fonts
    midway fails to render. So fonts switch only at whitespace, and the rare token mixing
    Devanagari and Latin letters ("किरण(Kiran)") is split with a space at the script change.
    """
    out: list[tuple[bool | None, str]] = []
    for token in re.split(r"(\s+)", text):
        if not token:
            continue
        if token.isspace():
            out.append((None, token))
            continue
        part = ""
        part_script: bool | None = None
        for ch in token:
            script = _is_devanagari(ch) if _is_letter(ch) else None
            if script is not None and part_script is not None and script != part_script:
                out += [(part_script, part), (None, " ")]
                part = ""
            if script is not None:
                part_script = script
            part += ch
        out.append((part_script, part))
    return out


def mixed(text: str, *, bold: bool = False) -> str:
    """Paragraph markup with every Devanagari word in the Devanagari font, the rest in Noto Sans.

    Neutral words (digits, punctuation, ₹, which both fonts carry) and spaces join the run before
    them, so a Hindi phrase is shaped as one run. Text is escaped: names come from citizens.
    """
    runs: list[tuple[bool, str]] = []
    for script, token in _script_tokens(text):
        deva = script if script is not None else (runs[-1][0] if runs else False)
        if runs and runs[-1][0] == deva:
            runs[-1] = (deva, runs[-1][1] + token)
        else:
            runs.append((deva, token))
    # Explicit faces: reportlab does not map <b> onto a <font face> nested inside it.
    deva_face, latin_face = (DEVA + "-Bold", LATIN + "-Bold") if bold else (DEVA, LATIN)
    return "".join(f'<font face="{deva_face if d else latin_face}">{escape(t)}</font>' for d, t in runs)


def _actual_text(text: str) -> str:
    """A PDF text string (UTF-16BE with byte order mark, hex) for /ActualText."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


class Text(Paragraph):  # type: ignore[misc]
    """A paragraph of plain text carrying its source string as /ActualText: shaped Devanagari and
    long tokens wrapped mid-word (a payment URL) read back as written.

    Every Text sits in a table cell, which reportlab never splits across pages, so the span
    always covers exactly the words drawn.
    """

    def __init__(self, text: str, style: ParagraphStyle, *, bold: bool = False) -> None:
        super().__init__(mixed(text, bold=bold), style)
        self.source = " ".join(text.split())

    def drawOn(self, canvas: Canvas, x: float, y: float, _sW: float = 0) -> None:  # noqa: N802, N803
        canvas.addLiteral(f"/Span <</ActualText {_actual_text(self.source)}>> BDC")
        super().drawOn(canvas, x, y, _sW)
        canvas.addLiteral("EMC")


# Check names as the hub records them ("dues:N3456789012"): the part before ":".
CHECK_LABELS: dict[str, tuple[str, str]] = {
    "no_connection": ("No connection in the holder's name", "धारक के नाम पर कोई कनेक्शन नहीं"),
    "connection": ("Connection is the holder's", "कनेक्शन धारक का है"),
    "dues": ("No dues outstanding", "कोई बकाया नहीं"),
    "dues_outstanding": ("No dues outstanding", "कोई बकाया नहीं"),
    "meter": ("Meter status", "मीटर स्थिति"),
    "ekyc": ("e-KYC of the holder", "धारक का ई-केवाईसी"),
    "ekyc_complete": ("e-KYC of the holder", "धारक का ई-केवाईसी"),
}

# Kind-specific details (demand-note fee lines, sanctioned load...): English and Hindi labels.
DETAIL_LABELS: dict[str, tuple[str, str]] = {
    "application_no": ("Application number", "आवेदन क्रमांक"),
    "sw_application_id": ("Single window application ID", "सिंगल विंडो आवेदन आईडी"),
    "category": ("Category", "श्रेणी"),
    "charged_on": ("Charged on", "प्रभार का आधार"),
    "total": ("Total amount due (₹)", "कुल देय राशि (₹)"),
    "pay_by": ("Pay by", "भुगतान की अंतिम तिथि"),
    "payment_url": ("Pay online at", "ऑनलाइन भुगतान हेतु"),
    "connected_load_kw": ("Connected load (kW)", "संयोजित भार (किलोवाट)"),
    "contract_demand_kva": ("Contract demand (kVA)", "अनुबंधित मांग (केवीए)"),
    "supply_voltage": ("Supply voltage", "आपूर्ति वोल्टेज"),
    "demand_note": ("Demand note number", "मांग पत्र क्रमांक"),
    "premises": ("Premises", "परिसर"),
    "district": ("District", "जिला"),
    "fee.registration_fee": ("Registration fee (₹)", "पंजीयन शुल्क (₹)"),
    "fee.meter_cost": ("Meter cost (₹)", "मीटर लागत (₹)"),
    "fee.metering_cubicle": ("Metering cubicle (₹)", "मीटरिंग क्यूबिकल (₹)"),
    "fee.supply_affording_charges": ("Supply affording charges (₹)", "प्रदाय व्यवस्था शुल्क (₹)"),
    "fee.security_deposit": ("Security deposit (₹)", "सुरक्षा निधि (₹)"),
    "complaint_note": ("Complaint", "शिकायत"),
    "load_kw": ("Load (kW)", "भार (किलोवाट)"),
    "bill_number": ("Bill number", "बिल क्रमांक"),
    "correction_no": ("Correction number", "संशोधन क्रमांक"),
    "bill_period": ("Bill period", "बिल माह"),
    "reading_billed": ("Reading billed (kWh)", "बिल की रीडिंग (यूनिट)"),
    "reading_correct": ("Correct reading (kWh)", "सही रीडिंग (यूनिट)"),
    "amount_billed": ("Amount billed (₹)", "बिल राशि (₹)"),
    "amount_correct": ("Correct amount (₹)", "सही राशि (₹)"),
    "credit": ("Credit (₹)", "जमा राशि (₹)"),
    "reason": ("Reason", "कारण"),
    "permitted_by": ("Permitted by", "स्वीकृतकर्ता"),
    "period": ("Billing month", "बिल माह"),
    "bill_date": ("Bill date", "बिल दिनांक"),
    "due_date": ("Due date", "देय तिथि"),
    "meter_number": ("Meter number", "मीटर क्रमांक"),
    "previous_reading": ("Previous reading (kWh)", "पिछली रीडिंग (यूनिट)"),
    "current_reading": ("Current reading (kWh)", "वर्तमान रीडिंग (यूनिट)"),
    "units": ("Units consumed (kWh)", "खपत यूनिट"),
    "tariff.energy": ("Energy charge (₹)", "ऊर्जा प्रभार (₹)"),
    "tariff.fixed": ("Fixed charge (₹)", "स्थायी प्रभार (₹)"),
    "tariff.duty": ("Electricity duty (₹)", "विद्युत शुल्क (₹)"),
    "current_amount": ("This month's bill (₹)", "इस माह का बिल (₹)"),
    "arrears": ("Arrears (₹)", "बकाया (₹)"),
    "charges.disconnection": ("Disconnection charge (₹)", "विच्छेदन शुल्क (₹)"),
    "charges.reconnection": ("Reconnection charge (₹)", "पुनः संयोजन शुल्क (₹)"),
    "amount_due": ("Amount due by the due date (₹)", "देय तिथि तक देय राशि (₹)"),
    "late_payment_amount": ("Amount due after the due date (₹)", "देय तिथि के बाद देय राशि (₹)"),
    "upi_intent": ("Pay by UPI", "यूपीआई से भुगतान"),
    "receipt_number": ("Receipt number", "रसीद क्रमांक"),
    "amount_paid": ("Amount paid (₹)", "भुगतान राशि (₹)"),
    "paid_at": ("Paid at", "भुगतान समय"),
    "channel": ("Paid through", "भुगतान माध्यम"),
    "transaction_id": ("Transaction ID", "लेन-देन आईडी"),
    "complaint_no": ("Complaint number", "शिकायत क्रमांक"),
    "complaint_type": ("Type of complaint", "शिकायत का प्रकार"),
    "consumer_number": ("Consumer number", "उपभोक्ता क्रमांक"),
    "description": ("Complaint as made", "शिकायत का विवरण"),
    "office": ("Distribution centre", "वितरण केंद्र"),
    "registered_at": ("Registered at", "पंजीयन समय"),
    "resolve_by": ("Standard of performance: resolve by", "सेवा मानक अनुसार निराकरण की समय-सीमा"),
    "resolved_at": ("Resolved at", "निराकरण समय"),
    "action_taken": ("Action taken", "की गई कार्यवाही"),
    "status": ("Status", "स्थिति"),
    "reopen_count": ("Times reopened", "पुनः खोलने की संख्या"),
    "rating": ("Consumer's rating (1-5)", "उपभोक्ता की रेटिंग (1-5)"),
    "compensation": ("Compensation for the missed standard (₹)", "सेवा मानक चूक की क्षतिपूर्ति (₹)"),
    "compensation_receipt": ("Compensation credited in billing as", "क्षतिपूर्ति बिलिंग में जमा"),
}

# Numbered entries ("timeline.007"): English and Hindi words before the number.
NUMBERED_DETAIL_LABELS: dict[str, tuple[str, str]] = {
    "timeline": ("Step", "चरण"),
}

HOLDER_LABELS: dict[str, tuple[str, str]] = {
    "no_dues_certificate": ("Name of holder", "धारक का नाम"),
    "complaint_case_file": ("Complainant", "शिकायतकर्ता"),
}

NUMBER_LABELS: dict[str, tuple[str, str]] = {
    "no_dues_certificate": ("Certificate number", "प्रमाण-पत्र क्रमांक"),
    "sanction_letter": ("Sanction letter number", "स्वीकृति पत्र क्रमांक"),
    "demand_note": ("Demand note number", "मांग पत्र क्रमांक"),
    "electricity_bill": ("Bill document number", "बिल दस्तावेज़ क्रमांक"),
    "payment_receipt": ("Receipt document number", "रसीद दस्तावेज़ क्रमांक"),
    "bill_correction_order": ("Correction order number", "संशोधन आदेश क्रमांक"),
    "complaint_case_file": ("Case file number", "पत्रावली क्रमांक"),
}

NO_CONNECTION_STATEMENT = (
    "This is to certify that no electricity connection is recorded in the name of {holder}, so no "
    "amount is outstanding, and that the checks listed below passed.",
    "प्रमाणित किया जाता है कि {holder} के नाम पर कोई बिजली कनेक्शन दर्ज नहीं है, अतः कोई बकाया "
    "राशि शेष नहीं है, तथा नीचे दी गई सभी जाँच सफल रहीं।",
)


def printed_value(value: str) -> str:
    """A machine value in words, English / Hindi; anything else (names, numbers) as given."""
    words = VALUE_LABELS.get(value)
    return f"{words[1]} / {words[0]}" if words else value


def check_label(name: str) -> str:
    code, _, subject = name.partition(":")
    words = CHECK_LABELS.get(code)
    if words is None:
        return name
    return f"{words[0]} / {words[1]}" + (f" ({subject})" if subject else "")


def detail_labels(key: str) -> tuple[str, str]:
    """Labels for a detail key; an unlisted key is printed as words, never as the raw key."""
    head, _, number = key.rpartition(".")
    if head in NUMBERED_DETAIL_LABELS and number.isdigit():
        en, hi = NUMBERED_DETAIL_LABELS[head]
        return f"{en} {int(number)}", f"{hi} {int(number)}"
    return DETAIL_LABELS.get(key) or (key.rpartition(".")[2].replace("_", " ").capitalize(), "")


def _style(name: str, size: float, *, align: int = TA_LEFT, leading: float | None = None) -> ParagraphStyle:
    return ParagraphStyle(
        name,
        fontName=LATIN,
        fontSize=size,
        leading=leading or size * 1.35,
        alignment=align,
        textColor=INK,
        shaping=1,
    )


class _Styles:
    def __init__(self) -> None:
        self.body = _style("body", 9.2)
        self.small = _style("small", 7.8)
        self.label = _style("label", 8.4)
        self.label_hi = _style("label_hi", 8.4, align=TA_RIGHT)
        self.head = _style("head", 12.5, leading=16)
        self.head_hi = _style("head_hi", 12.5, align=TA_RIGHT, leading=18)
        self.title = _style("title", 15, align=TA_CENTER, leading=20)
        self.cell = _style("cell", 8.6)
        self.cell_right = _style("cell_right", 8.6, align=TA_RIGHT)
        self.foot = _style("foot", 7.5, align=TA_CENTER)


def inr(amount: Decimal) -> str:
    """Indian digit grouping: 1234567.5 -> 12,34,567.50."""
    q = amount.quantize(Decimal("0.01"))
    sign = "-" if q < 0 else ""
    whole, frac = f"{abs(q):f}".split(".")
    head, tail = whole[:-3], whole[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return sign + ",".join([*groups, tail]) + "." + frac


def _when(value: dt.datetime) -> str:
    return value.astimezone(IST).strftime("%d-%m-%Y %H:%M IST")


def _day(value: dt.datetime) -> str:
    return value.astimezone(IST).strftime("%d-%m-%Y")


class QrCode(Flowable):
    """A QR code drawn as vector module runs in a single fill.

    reportlab's QrCodeWidget encoded the ~450-character payload twice and drew ~1,900 separate
    rectangles (~290 ms a page). segno encodes once; the mask pattern is fixed because choosing
    the "best" of eight costs ~80 % of encoding and any mask decodes (zbarimg-tested). The runs
    are written as integer PDF operators under one scaling matrix: one line per run, no float
    formatting.
    """

    MASK = 2

    def __init__(self, payload: str, size: float, *, quiet_zone: int = 2) -> None:
        super().__init__()
        self.matrix = segno.make(payload, error="m", micro=False, mask=self.MASK).matrix
        self.size = size
        self.quiet_zone = quiet_zone
        self.width = self.height = size

    def draw(self) -> None:
        n = len(self.matrix)
        unit = self.size / (n + 2 * self.quiet_zone)
        ops = [f"q 0 g {unit:.5f} 0 0 {unit:.5f} 0 0 cm"]
        for r, row in enumerate(self.matrix):
            y = n - 1 - r + self.quiet_zone
            c = 0
            while c < n:
                if row[c]:
                    start = c
                    while c < n and row[c]:
                        c += 1
                    ops.append(f"{start + self.quiet_zone} {y} {c - start} 1 re")
                else:
                    c += 1
        ops.append("f Q")
        self.canv.addLiteral("\n".join(ops))


def _grid(data: Sequence[Sequence[Flowable | str]], widths: list[float], *, header: bool = False) -> Table:
    # A table header repeats on continuation pages so each page's columns are named.
    table = Table(data, colWidths=widths, hAlign="LEFT", repeatRows=1 if header else 0)
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    table.setStyle(TableStyle(commands))
    return table


def _story(doc: Document, qr_payload: str, s: _Styles) -> list[Flowable]:
    kind = doc.kind_info
    story: list[Flowable] = []

    # Header: the discom's name in both languages, office below.
    header = Table(
        [
            [
                Text(doc.issuer.discom_name_en, s.head, bold=True),
                Text(doc.issuer.discom_name_hi, s.head_hi, bold=True),
            ],
            [
                Text(doc.issuer.office_name, s.small),
                Text(doc.issuer.office_code, s.label_hi),
            ],
        ],
        colWidths=[CONTENT_WIDTH / 2] * 2,
    )
    header.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 1), (-1, 1), 1.2, INK),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    story += [header, Spacer(1, 4 * mm)]
    title = Table(
        [
            [
                Text(kind.title_en, s.title, bold=True),
                Text(kind.title_hi, s.title, bold=True),
            ]
        ],
        colWidths=[CONTENT_WIDTH / 2] * 2,
    )
    story += [title, Spacer(1, 3 * mm)]

    # Facts: English label | value | Hindi label.
    number_en, number_hi = NUMBER_LABELS.get(doc.kind, ("Document number", "दस्तावेज़ क्रमांक"))
    holder_en, holder_hi = HOLDER_LABELS.get(doc.kind, ("Applicant", "आवेदक"))
    rows: list[tuple[str, str, str]] = [
        (number_en, doc.number, number_hi),
        ("Verification code", doc.verification_code, "सत्यापन कोड"),
        (holder_en, doc.holder.display_name, holder_hi),
    ]
    if doc.holder.samagra_id:
        rows.append(("Samagra ID", doc.holder.samagra_id, "समग्र आईडी"))
    if doc.holder.mobile_masked:
        rows.append(("Mobile number", doc.holder.mobile_masked, "मोबाइल नंबर"))
    if doc.purpose is not None:
        for en, value, hi in (
            ("Purpose", doc.purpose.description, "प्रयोजन"),
            ("Election", doc.purpose.election, "निर्वाचन"),
            ("Body", doc.purpose.body, "निकाय"),
            ("Ward", doc.purpose.ward, "वार्ड"),
        ):
            if value:
                rows.append((en, printed_value(value), hi))
    rows += [
        ("Issued on", _when(doc.issued_at), "जारी दिनांक"),
        (
            ("Pay by", _when(doc.valid_until), "भुगतान की अंतिम तिथि")
            if doc.kind == DEMAND_NOTE.code
            else ("Valid until", _when(doc.valid_until), "वैधता दिनांक")
        ),
    ]
    facts = [
        [
            Text(en, s.label),
            Text(value, s.cell, bold=True),
            Text(hi, s.label_hi),
        ]
        for en, value, hi in rows
    ]
    story += [
        _grid(facts, [0.27 * CONTENT_WIDTH, 0.46 * CONTENT_WIDTH, 0.27 * CONTENT_WIDTH]),
        Spacer(1, 3 * mm),
    ]

    # The statement, side by side.
    holder = doc.holder.display_name
    statement_en, statement_hi = (
        NO_CONNECTION_STATEMENT
        if doc.kind == NO_DUES_CERTIFICATE.code and not doc.connections
        else (kind.statement_en, kind.statement_hi)
    )
    statement = Table(
        [
            [
                Text(statement_en.format(holder=holder), s.body),
                Text(statement_hi.format(holder=holder), s.body),
            ]
        ],
        colWidths=[CONTENT_WIDTH / 2] * 2,
    )
    statement.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOX", (0, 0), (-1, -1), 0.5, GRID)])
    )
    story += [statement, Spacer(1, 3 * mm)]

    # Connections and their dues as of the check.
    if doc.connections:
        head: list[Flowable | str] = [
            Text("Consumer number / उपभोक्ता क्रमांक", s.cell, bold=True),
            Text("Outstanding dues (₹) / बकाया राशि", s.cell, bold=True),
            Text("Dues as of / दिनांक", s.cell, bold=True),
            Text("Meter status / मीटर स्थिति", s.cell, bold=True),
        ]
        body: list[list[Flowable | str]] = [head]
        for c in doc.connections:
            body.append(
                [
                    Text(c.consumer_number, s.cell),
                    Text(("₹ " if c.currency == "INR" else c.currency + " ") + inr(c.dues), s.cell_right),
                    Text(_when(c.dues_as_of), s.cell),
                    Text(printed_value(c.meter_status), s.cell),
                ]
            )
        story.append(
            _grid(
                body,
                [0.28 * CONTENT_WIDTH, 0.24 * CONTENT_WIDTH, 0.26 * CONTENT_WIDTH, 0.22 * CONTENT_WIDTH],
                header=True,
            )
        )
        story.append(Spacer(1, 3 * mm))

    if doc.checks:
        checks: list[list[Flowable | str]] = [
            [
                Text("Check / जाँच", s.cell, bold=True),
                Text("Result / परिणाम", s.cell, bold=True),
                Text("Checked at / जाँच का समय", s.cell, bold=True),
            ]
        ]
        checks += [
            [
                Text(check_label(c.name), s.cell),
                Text(printed_value(c.result), s.cell),
                Text(_when(c.checked_at), s.cell),
            ]
            for c in doc.checks
        ]
        story += [
            _grid(checks, [0.44 * CONTENT_WIDTH, 0.22 * CONTENT_WIDTH, 0.34 * CONTENT_WIDTH], header=True),
            Spacer(1, 3 * mm),
        ]

    if doc.details:
        details: list[list[Flowable | str]] = []
        for key, v in doc.details.items():
            en, hi = detail_labels(key)
            value = inr(v) if isinstance(v, Decimal) else printed_value(v)
            details.append([Text(en, s.label), Text(value, s.cell, bold=True), Text(hi, s.label_hi)])
        story += [
            _grid(details, [0.27 * CONTENT_WIDTH, 0.46 * CONTENT_WIDTH, 0.27 * CONTENT_WIDTH]),
            Spacer(1, 3 * mm),
        ]

    payment_url = doc.details.get("payment_url")
    if doc.kind != DEMAND_NOTE.code:
        # A bill is paid from any UPI app: its QR is the UPI intent (payee, amount, bill number).
        payment_url = doc.details.get("upi_intent")
    if isinstance(payment_url, str) and payment_url:
        pay_size = 30 * mm
        pay = Table(
            [
                [
                    [
                        Text("Scan to pay the total amount online, or open the link above.", s.body),
                        Text("कुल राशि का ऑनलाइन भुगतान करने हेतु स्कैन करें, या ऊपर दिया लिंक खोलें।", s.body),
                    ],
                    QrCode(payment_url, pay_size),
                ]
            ],
            colWidths=[CONTENT_WIDTH - pay_size - 4 * mm, pay_size + 4 * mm],
        )
        pay.setStyle(
            TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("BOX", (0, 0), (-1, -1), 0.5, GRID)])
        )
        story += [pay, Spacer(1, 3 * mm)]

    # Officer, verification and QR.
    officer = [
        Text(doc.issuer.officer_name, s.body, bold=True),
        Text(
            " / ".join(
                x for x in (doc.issuer.officer_designation_en, doc.issuer.officer_designation_hi) if x
            ),
            s.body,
        ),
        Text(doc.issuer.office_name, s.small),
        Spacer(1, 2 * mm),
        Text("Digitally signed. Verify this document, its code and its signature at:", s.small),
        Text("इस दस्तावेज़ का सत्यापन कोड एवं डिजिटल हस्ताक्षर सहित यहाँ करें:", s.small),
        Text(doc.verification_url, s.small),
        Spacer(1, 2 * mm),
        Text("For a complaint call 1912. / शिकायत हेतु 1912 पर कॉल करें।", s.small),
    ]
    qr_size = 46 * mm
    footer = Table(
        [[officer, QrCode(qr_payload, qr_size)]],
        colWidths=[CONTENT_WIDTH - qr_size - 4 * mm, qr_size + 4 * mm],
    )
    footer.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEABOVE", (0, 0), (-1, 0), 0.8, INK)])
    )
    story.append(footer)
    return story


def _numbered_canvas(number: str, style: ParagraphStyle) -> type[Canvas]:
    """A canvas that holds its pages until the count is known, then puts the document number and
    "page x of y" at the foot of every page (continuation pages must name the document too)."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self._held_pages: list[dict[str, object]] = []

        def showPage(self) -> None:  # noqa: N802
            self._held_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._held_pages)
            for page, state in enumerate(self._held_pages, start=1):
                self.__dict__.update(state)
                foot = Text(f"{number} · Page {page} of {total} · पृष्ठ {page} / {total}", style)
                _, height = foot.wrap(CONTENT_WIDTH, MARGIN)
                foot.drawOn(self, MARGIN, MARGIN / 2 - height / 2)
                super().showPage()
            super().save()

    return NumberedCanvas


def render_pdf(doc: Document, qr_payload: str) -> bytes:
    """Render the document to PDF bytes. Deterministic for the same input (reportlab invariant mode)."""
    register_fonts()
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{doc.kind_info.title_en} {doc.number}",
        author=doc.issuer.discom_name_en,
        subject=doc.kind,
        creator="discom hub certs",
        invariant=1,
    )
    styles = _Styles()
    template.build(_story(doc, qr_payload, styles), canvasmaker=_numbered_canvas(doc.number, styles.foot))
    return buffer.getvalue()
