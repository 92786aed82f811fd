"""The document model: what a certificate, sanction letter or demand note says.

Frozen dataclasses, no I/O. The hub fills a :class:`Document` (number and verification code
come from its registry) and hands it to :class:`certs.issuer.DocumentIssuer`. The same classes
come back out of verification, built only from the signed XML.

Kinds are open: :func:`register_kind` adds one (code, Hindi and English titles, statement
text) without touching the schema, whose ``Kind`` is a constrained token.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from certs.errors import InvalidDocumentError

_KIND_CODE = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
_MASKED_MOBILE = re.compile(r"^[X]{6}[0-9]{4}$")
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")

DetailValue = str | Decimal


@dataclass(frozen=True)
class DocumentKind:
    """A kind of document the hub issues. ``statement_*`` are printed on the PDF (may use {holder})."""

    code: str
    title_en: str
    title_hi: str
    statement_en: str
    statement_hi: str


_KINDS: dict[str, DocumentKind] = {}


def register_kind(kind: DocumentKind) -> DocumentKind:
    if not _KIND_CODE.match(kind.code):
        raise ValueError(f"kind code {kind.code!r} must match {_KIND_CODE.pattern}")
    _KINDS[kind.code] = kind
    return kind


def document_kind(code: str) -> DocumentKind:
    """The registered kind, or a neutral one (so a verifier can still show an unknown kind's data)."""
    return _KINDS.get(code) or DocumentKind(code, code.replace("_", " ").title(), code, "", "")


def registered_kinds() -> tuple[str, ...]:
    return tuple(_KINDS)


NO_DUES_CERTIFICATE = register_kind(
    DocumentKind(
        code="no_dues_certificate",
        title_en="No-Dues Certificate",
        title_hi="अदेय (नो ड्यूज) प्रमाण-पत्र",
        statement_en=(
            "This is to certify that no amount is outstanding on the electricity connections of "
            "{holder} listed below, as of the dates shown, and that the checks listed below passed."
        ),
        statement_hi=(
            "प्रमाणित किया जाता है कि {holder} के नीचे दर्शाए गए बिजली कनेक्शनों पर दर्शाई गई "
            "दिनांक तक कोई बकाया राशि शेष नहीं है तथा नीचे दी गई सभी जाँच सफल रहीं।"
        ),
    )
)
SANCTION_LETTER = register_kind(
    DocumentKind(
        code="sanction_letter",
        title_en="Sanction Letter for New Connection",
        title_hi="नया कनेक्शन स्वीकृति पत्र",
        statement_en="The new electricity connection applied for by {holder} is sanctioned as detailed below.",
        statement_hi="{holder} द्वारा आवेदित नया बिजली कनेक्शन नीचे दिए विवरण अनुसार स्वीकृत किया जाता है।",
    )
)
DEMAND_NOTE = register_kind(
    DocumentKind(
        code="demand_note",
        title_en="Demand Note",
        title_hi="मांग पत्र (डिमांड नोट)",
        statement_en="{holder} is requested to pay the charges below before the new connection is released.",
        statement_hi="{holder} से अनुरोध है कि नया कनेक्शन जारी होने से पहले नीचे दी गई राशि का भुगतान करें।",
    )
)
ELECTRICITY_BILL = register_kind(
    DocumentKind(
        code="electricity_bill",
        title_en="Electricity Bill",
        title_hi="विद्युत बिल",
        statement_en="The electricity bill of {holder} for the connection below; pay by the due date to avoid the surcharge.",
        statement_hi="{holder} का नीचे दर्शाए कनेक्शन का विद्युत बिल; अधिभार से बचने हेतु देय तिथि तक भुगतान करें।",
    )
)
PAYMENT_RECEIPT = register_kind(
    DocumentKind(
        code="payment_receipt",
        title_en="Payment Receipt",
        title_hi="भुगतान रसीद",
        statement_en="Received from {holder} the payment below, posted to the connection's account.",
        statement_hi="{holder} से नीचे दर्शाया भुगतान प्राप्त हुआ तथा कनेक्शन के खाते में जमा किया गया।",
    )
)
BILL_CORRECTION_ORDER = register_kind(
    DocumentKind(
        code="bill_correction_order",
        title_en="Bill Correction Order",
        title_hi="बिल संशोधन आदेश",
        statement_en=(
            "The bill of {holder} for the connection below is corrected as detailed below, "
            "and the difference is credited to the connection's account."
        ),
        statement_hi=(
            "{holder} के नीचे दर्शाए कनेक्शन का बिल नीचे दिए विवरण अनुसार संशोधित किया जाता है "
            "तथा अंतर की राशि कनेक्शन के खाते में जमा की जाती है।"
        ),
    )
)
COMPLAINT_CASE_FILE = register_kind(
    DocumentKind(
        code="complaint_case_file",
        title_en="Complaint Case File",
        title_hi="शिकायत प्रकरण पत्रावली",
        statement_en=(
            "The record of the complaint of {holder} below, as the discom holds it: every step, who took "
            "it and when, and every message sent, for the Consumer Grievance Redressal Forum."
        ),
        statement_hi=(
            "{holder} की नीचे दर्शाई शिकायत का अभिलेख, जैसा वितरण कंपनी के पास है: प्रत्येक चरण, किसने "
            "और कब, तथा भेजा गया प्रत्येक संदेश, उपभोक्ता शिकायत निवारण फोरम हेतु।"
        ),
    )
)


def mask_mobile(mobile: str) -> str:
    """``9876543210`` -> ``XXXXXX3210``: the only form of a mobile number a document carries."""
    digits = re.sub(r"\D", "", mobile)[-10:]
    if len(digits) != 10:
        raise InvalidDocumentError("a mobile number has 10 digits")
    return "XXXXXX" + digits[-4:]


def _require_aware(value: dt.datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidDocumentError(f"{what} must be timezone-aware")


@dataclass(frozen=True)
class Issuer:
    discom_name_en: str
    discom_name_hi: str
    office_name: str
    officer_name: str
    officer_designation_en: str
    officer_designation_hi: str = ""
    office_code: str = ""


@dataclass(frozen=True)
class Holder:
    """Names exactly as given: Devanagari and/or Latin, never transliterated by us."""

    name_deva: str = ""
    name_latin: str = ""
    samagra_id: str = ""
    mobile_masked: str = ""

    def __post_init__(self) -> None:
        if not (self.name_deva or self.name_latin):
            raise InvalidDocumentError("a holder needs a name in Devanagari or Latin script")
        if self.mobile_masked and not _MASKED_MOBILE.match(self.mobile_masked):
            raise InvalidDocumentError("mobile_masked must look like XXXXXX1234 (use mask_mobile)")

    @property
    def display_name(self) -> str:
        if self.name_deva and self.name_latin:
            return f"{self.name_deva} ({self.name_latin})"
        return self.name_deva or self.name_latin


@dataclass(frozen=True)
class Connection:
    """One electricity connection covered by the document, with its dues at check time."""

    consumer_number: str
    dues: Decimal
    dues_as_of: dt.datetime
    meter_status: str
    currency: str = "INR"

    def __post_init__(self) -> None:
        if not isinstance(self.dues, Decimal):
            raise InvalidDocumentError("dues must be a Decimal")
        _require_aware(self.dues_as_of, "dues_as_of")


@dataclass(frozen=True)
class Check:
    name: str
    result: str
    evidence_ref: str
    checked_at: dt.datetime

    def __post_init__(self) -> None:
        _require_aware(self.checked_at, "checked_at")


@dataclass(frozen=True)
class Purpose:
    """Why the document was asked for, e.g. a nomination in a ward election."""

    description: str = ""
    election: str = ""
    body: str = ""
    ward: str = ""


@dataclass(frozen=True)
class Document:
    number: str
    kind: str
    verification_code: str
    issuer: Issuer
    holder: Holder
    issued_at: dt.datetime
    valid_until: dt.datetime
    verification_url: str
    # Empty for a "no connection" certificate.
    connections: tuple[Connection, ...] = ()
    checks: tuple[Check, ...] = ()
    purpose: Purpose | None = None
    # Kind-specific fields (demand-note fee lines, sanctioned load...): printed and signed as given.
    details: Mapping[str, DetailValue] = field(default_factory=dict)
    language: str = "hi"

    def __post_init__(self) -> None:
        if not _KIND_CODE.match(self.kind):
            raise InvalidDocumentError(f"kind must match {_KIND_CODE.pattern}")
        _require_aware(self.issued_at, "issued_at")
        _require_aware(self.valid_until, "valid_until")
        if self.valid_until <= self.issued_at:
            raise InvalidDocumentError("valid_until must be after issued_at")
        object.__setattr__(self, "connections", tuple(self.connections))
        object.__setattr__(self, "checks", tuple(self.checks))
        for key, value in self.details.items():
            if not _DETAIL_KEY.match(key):
                raise InvalidDocumentError(f"detail key {key!r} must match {_DETAIL_KEY.pattern}")
            if not isinstance(value, str | Decimal):
                raise InvalidDocumentError(f"detail {key!r} must be a str or Decimal")
        object.__setattr__(self, "details", types.MappingProxyType(dict(sorted(self.details.items()))))

    @property
    def kind_info(self) -> DocumentKind:
        return document_kind(self.kind)

    @property
    def total_dues(self) -> Decimal:
        return sum((c.dues for c in self.connections), Decimal(0))
