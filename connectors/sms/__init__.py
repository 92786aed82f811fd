"""SMS to consumers: OTPs, certificate links, reconnection notices.

Indian transactional SMS run under TRAI's DLT rules (TCCCPR 2018): the
discom registers as a principal entity (an *entity id*), registers each
sender header (six letters, e.g. ``MPCZED``) and each message template
(a *template id* with the exact text, variables written ``{#var#}``).
Operators drop a message whose header, entity or template is not
registered, or whose text does not match the template. The hub therefore
never sends free text: it names a template (``otp``, ``nodues_issued``...)
and the deployment's ini maps the name to the DLT ids and, optionally, the
registered text, which this package checks *before* sending so a mismatch
is an error here instead of a silent drop at the operator.

Settings (under ``hub.sms.``)::

    backend = connectors.sms.reference:ReferenceSms   (or connectors.sms.client:HttpSms)
    sender_id = MPCZED                      six letters, DLT sender header
    entity_id = 1101234567890123456         DLT principal entity id
    template.otp.id = 1107161234567890123   DLT template id of the hub's "otp" template
    template.otp.text = {#var#} आपका ओटीपी है ...   optional: the registered text, checked

Devanagari text is sent as Unicode (UCS-2) SMS: 70 characters in one
message, 67 per part when concatenated, against 160/153 for GSM-7.
"""

# ruff: noqa: N805  (zope.interface methods are declared without self)
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from zope.interface import Attribute, Interface

from connectors.errors import ConnectorError, ConnectorRejected

SYSTEM = "sms"

# GSM 03.38 default alphabet (basic table); characters from the extension
# table count double. Anything else forces UCS-2.
_GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = "^{}\\[~]|€\f"
_MOBILE = re.compile(r"^(?:\+?91|0)?([6-9][0-9]{9})$")
_SENDER = re.compile(r"^[A-Z]{6}$")
_DLT_ID = re.compile(r"^[0-9]{6,30}$")
_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_PARTS = 6
# Messages in one call to the gateway: an outage's thousands of notices go a hundred at a time.
MAX_MESSAGES_PER_CALL = 100


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UNICODE = "unicode"


@dataclass(frozen=True)
class DltTemplate:
    """A message template registered on the DLT platform."""

    name: str
    template_id: str
    text: str | None = None

    def matches(self, text: str) -> bool:
        """Does ``text`` fill the registered text (each ``{#var#}`` up to 30 characters)?"""
        if self.text is None:
            return True
        pattern = ".{1,30}".join(re.escape(part) for part in self.text.split("{#var#}"))
        return re.fullmatch(pattern, text, flags=re.DOTALL) is not None


@dataclass(frozen=True)
class DltRegistration:
    """The discom's DLT registration: entity, sender header, templates by the hub's names."""

    entity_id: str
    sender_id: str
    templates: Mapping[str, DltTemplate]

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> DltRegistration:
        sender = options.get("sender_id", "")
        if not _SENDER.match(sender):
            raise ValueError("connector sms: setting 'sender_id' must be six capital letters (DLT header)")
        entity = options.get("entity_id", "")
        if not _DLT_ID.match(entity):
            raise ValueError("connector sms: setting 'entity_id' must be the numeric DLT entity id")
        templates: dict[str, DltTemplate] = {}
        for key, value in options.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "template" and parts[2] == "id":
                name = parts[1]
                if not _TEMPLATE_NAME.match(name) or not _DLT_ID.match(value):
                    raise ValueError(f"connector sms: setting {key!r} must be a numeric DLT template id")
                templates[name] = DltTemplate(name, value, options.get(f"template.{name}.text"))
        return cls(entity_id=entity, sender_id=sender, templates=templates)

    def template(self, name: str) -> DltTemplate:
        try:
            return self.templates[name]
        except KeyError:
            raise ConnectorRejected(
                f"sms template {name!r} is not registered", system=SYSTEM, code="sms_template_unregistered"
            ) from None


@dataclass(frozen=True)
class SmsRequest:
    """One message ready for the gateway, checked against the DLT registration."""

    mobile: str
    text: str
    template: DltTemplate
    sender_id: str
    entity_id: str
    encoding: SmsEncoding
    parts: int
    idempotency_key: str


@dataclass(frozen=True)
class SentSms:
    """A message the (reference) gateway accepted."""

    message_id: str
    mobile: str
    text: str
    template_name: str
    template_id: str
    sender_id: str
    encoding: SmsEncoding
    parts: int
    idempotency_key: str
    sent_at: datetime


def normalise_mobile(mobile: str) -> str:
    """The ten-digit Indian mobile number (``+91``/``91``/``0`` prefixes and spaces dropped)."""
    match = _MOBILE.match(re.sub(r"[\s-]", "", mobile))
    if not match:
        raise ConnectorRejected("not an Indian mobile number", system=SYSTEM, code="sms_bad_mobile")
    return match.group(1)


def encoding_of(text: str) -> SmsEncoding:
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        return SmsEncoding.GSM7
    return SmsEncoding.UNICODE


def parts_of(text: str, encoding: SmsEncoding) -> int:
    if encoding is SmsEncoding.GSM7:
        septets = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    # UCS-2 counts UTF-16 code units: characters outside the BMP take two.
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def prepare(
    registration: DltRegistration, mobile: str, text: str, template: str, idempotency_key: str
) -> SmsRequest:
    """Check a message against DLT rules before anything leaves the hub."""
    if not idempotency_key or len(idempotency_key) > 100:
        raise ValueError("idempotency_key must be 1-100 characters")
    if not text.strip():
        raise ConnectorRejected("empty SMS text", system=SYSTEM, code="sms_empty")
    registered = registration.template(template)
    if not registered.matches(text):
        raise ConnectorRejected(
            f"text does not match DLT template {template!r}", system=SYSTEM, code="sms_template_mismatch"
        )
    encoding = encoding_of(text)
    parts = parts_of(text, encoding)
    if parts > MAX_PARTS:
        raise ConnectorRejected("SMS text too long", system=SYSTEM, code="sms_too_long")
    return SmsRequest(
        mobile=normalise_mobile(mobile),
        text=text,
        template=registered,
        sender_id=registration.sender_id,
        entity_id=registration.entity_id,
        encoding=encoding,
        parts=parts,
        idempotency_key=idempotency_key,
    )


@dataclass(frozen=True)
class Sms:
    """One SMS asked for: the DLT template's name and its filled text, and the key that makes
    asking again harmless (the outbox message's delivery id)."""

    mobile: str
    text: str
    template: str
    idempotency_key: str


def prepare_many(
    registration: DltRegistration, messages: Sequence[Sms]
) -> tuple[list[SmsRequest], dict[str, str | ConnectorError]]:
    """One call's messages checked (:func:`prepare`): those ready for the gateway, and those
    refused before anything leaves, by key. ValueError for more than
    :data:`MAX_MESSAGES_PER_CALL` or a key asked twice (the caller's bug)."""
    if len(messages) > MAX_MESSAGES_PER_CALL:
        raise ValueError(f"at most {MAX_MESSAGES_PER_CALL} messages in one call")
    if len({m.idempotency_key for m in messages}) != len(messages):
        raise ValueError("an idempotency key appears twice in one call")
    ready: list[SmsRequest] = []
    refused: dict[str, str | ConnectorError] = {}
    for message in messages:
        try:
            ready.append(
                prepare(registration, message.mobile, message.text, message.template, message.idempotency_key)
            )
        except ConnectorRejected as exc:
            refused[message.idempotency_key] = exc
    return ready, refused


class OneMessage:
    """``send`` for one message, through the implementation's ``send_many``."""

    def send_many(self, messages: Sequence[Sms]) -> dict[str, str | ConnectorError]:
        raise NotImplementedError

    def send(self, mobile: str, text: str, template: str, idempotency_key: str) -> str:
        result = self.send_many([Sms(mobile, text, template, idempotency_key)])[idempotency_key]
        if isinstance(result, ConnectorError):
            raise result
        return result


class ISmsGateway(Interface):
    """The SMS gateway the discom contracts (fetched with ``request.find_service(ISmsGateway)``)."""

    registration = Attribute("DltRegistration: sender header, entity and templates of this deployment")

    def send(mobile: str, text: str, template: str, idempotency_key: str) -> str:  # type: ignore[empty-body]
        """Send ``text`` (filling the DLT template named ``template``) to ``mobile``.

        Returns the provider's message id. Idempotent on ``idempotency_key``:
        the worker may call again after a crash and the person gets one SMS.
        Raises ConnectorRejected (``sms_bad_mobile``, ``sms_template_unregistered``,
        ``sms_template_mismatch``, ``sms_too_long``, ``idempotency_conflict``) or
        ConnectorUnavailable.
        """

    def send_many(messages: Sequence[Sms]) -> dict[str, str | ConnectorError]:  # type: ignore[empty-body]
        """:meth:`send` for up to :data:`MAX_MESSAGES_PER_CALL` messages in one call to the gateway.

        For each message, by its idempotency key: the provider's message id, or the
        ConnectorRejected :meth:`send` would raise. ConnectorUnavailable if the gateway does
        not answer: then none is known to be sent, and asking again sends each at most once.
        """

    def heartbeat() -> None:  # type: ignore[misc]
        """Return if the gateway answers; raise ConnectorUnavailable if not."""
