"""SOAP 1.1 and 1.2 envelopes and Faults, built with lxml and a few constant byte strings.

A Fault says only what the stable code (hub.errors.CODES) says: its reason is
the code's generic title, never text from the request, never a stack trace.
The code itself travels in the detail as ``<hub:error><hub:code>...``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lxml import etree
from pyramid.response import Response

from certs.wssecurity import WSU_NS
from hub.errors import CODES, FieldError

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
# Namespace of the error element in every Fault detail: part of the public contract.
HUB_FAULT_NS = "urn:discom-hub:soap:fault:1"
XML_NS = "http://www.w3.org/XML/1998/namespace"


@dataclass(frozen=True)
class SoapVersion:
    name: str  # "1.1" / "1.2"
    envelope_ns: str
    media_type: str
    prefix: str
    sender: str  # fault code values
    receiver: str

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"

    def tag(self, local: str) -> str:
        return "{" + self.envelope_ns + "}" + local


SOAP11 = SoapVersion("1.1", SOAP11_ENV, "text/xml", "soap", "soap:Client", "soap:Server")
SOAP12 = SoapVersion("1.2", SOAP12_ENV, "application/soap+xml", "env", "env:Sender", "env:Receiver")
VERSIONS_BY_MEDIA_TYPE = {SOAP11.media_type: SOAP11, SOAP12.media_type: SOAP12}
VERSIONS_BY_NS = {SOAP11_ENV: SOAP11, SOAP12_ENV: SOAP12}

# Codes whose HTTP status says more than SOAP's 500/400: the client can act on
# them without parsing the body (re-authenticate, shrink the request, back off).
_HTTP_STATUS_OVERRIDES = {
    "invalid_token": 401,
    "wsse_password_digest_required": 401,
    "wsse_created_out_of_window": 401,
    "wsse_nonce_replayed": 401,
    "body_too_large": 413,
    "xml_too_large": 413,
    "soap_header_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
}

_HEADS = {
    v.name: (
        b"<?xml version='1.0' encoding='utf-8'?>\n"
        + f'<{v.prefix}:Envelope xmlns:{v.prefix}="{v.envelope_ns}"><{v.prefix}:Body>'.encode()
    )
    for v in (SOAP11, SOAP12)
}
_TAILS = {v.name: f"</{v.prefix}:Body></{v.prefix}:Envelope>".encode() for v in (SOAP11, SOAP12)}


def envelope_bytes(version: SoapVersion, payload: etree._Element) -> bytes:
    """The response envelope around ``payload``: two constants and the serialised payload, joined once."""
    body = etree.tostring(payload, encoding="utf-8", xml_declaration=False, with_tail=False)
    return b"".join((_HEADS[version.name], body, _TAILS[version.name]))


def envelope_response(version: SoapVersion, payload: etree._Element) -> Response:
    return Response(body=envelope_bytes(version, payload), status=200, content_type=version.content_type)


def signed_envelope_response(
    version: SoapVersion, payload: etree._Element, sign: Callable[[etree._Element], etree._Element]
) -> Response:
    """The answer as an envelope tree around ``payload``, signed by ``sign`` (WS-Security), serialised.

    The envelope binds ``wsu`` so that the Body's and the Timestamp's ``wsu:Id`` share one prefix.
    """
    ns = version.envelope_ns
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={version.prefix: ns, "wsu": WSU_NS})
    etree.SubElement(envelope, f"{{{ns}}}Body").append(payload)
    signed = sign(envelope)
    body = etree.tostring(signed, encoding="utf-8", xml_declaration=True)
    return Response(body=body, status=200, content_type=version.content_type)


def child_texts(element: etree._Element, namespace: str, names: Iterable[str]) -> dict[str, str]:
    """The text of ``element``'s children named ``names`` in ``namespace``, by local name, as sent.

    What a handler reads from its (XSD-valid) payload into the plain data the REST readers take.
    """
    prefix = "{" + namespace + "}"
    wanted = frozenset(names)
    out: dict[str, str] = {}
    for child in element:
        # A comment's or PI's tag is a function, not a name.
        if isinstance(child.tag, str) and child.tag.startswith(prefix):
            local = child.tag[len(prefix) :]
            if local in wanted:
                out[local] = child.text or ""
    return out


class SoapFault(Exception):
    """Raise from a handler to answer with a Fault.

    ``code`` must be a key of hub.errors.CODES; whether it is the caller's
    fault (Client/Sender) follows the code's HTTP status (< 500) unless
    ``sender`` says otherwise. ``message`` replaces the generic reason: write
    it yourself, never copy request content into it.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        sender: bool | None = None,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown fault code {code!r}: add it to hub.errors.CODES")
        super().__init__(code)
        self.code = code
        self.message = message
        self.sender = CODES[code][0] < 500 if sender is None else sender
        self.errors = tuple(errors)
        self.headers = dict(headers or {})


def fault_http_status(version: SoapVersion, fault: SoapFault) -> int:
    override = _HTTP_STATUS_OVERRIDES.get(fault.code)
    if override is not None:
        return override
    if fault.code in {"soap_version_mismatch", "soap_must_understand"}:
        return 500  # SOAP 1.2 part 2, table 23; SOAP 1.1 answers every Fault with 500
    if version is SOAP12 and fault.sender:
        return 400
    return 500


def _fault_code_value(version: SoapVersion, fault: SoapFault) -> str:
    if fault.code == "soap_version_mismatch":
        return f"{version.prefix}:VersionMismatch"
    if fault.code == "soap_must_understand":
        return f"{version.prefix}:MustUnderstand"
    return version.sender if fault.sender else version.receiver


def _detail_error(parent: etree._Element, fault: SoapFault, request_id: str | None) -> None:
    error = etree.SubElement(parent, f"{{{HUB_FAULT_NS}}}error", nsmap={"hub": HUB_FAULT_NS})
    etree.SubElement(error, f"{{{HUB_FAULT_NS}}}code").text = fault.code
    if request_id:
        etree.SubElement(error, f"{{{HUB_FAULT_NS}}}requestId").text = request_id
    for field_error in fault.errors:
        item = etree.SubElement(error, f"{{{HUB_FAULT_NS}}}fieldError")
        etree.SubElement(item, f"{{{HUB_FAULT_NS}}}field").text = field_error.field
        etree.SubElement(item, f"{{{HUB_FAULT_NS}}}code").text = field_error.code


def fault_bytes(version: SoapVersion, fault: SoapFault, request_id: str | None = None) -> bytes:
    reason = fault.message or CODES[fault.code][1]
    ns = version.envelope_ns
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={version.prefix: ns})
    body = etree.SubElement(envelope, f"{{{ns}}}Body")
    element = etree.SubElement(body, f"{{{ns}}}Fault")
    if version is SOAP11:
        # SOAP 1.1: faultcode, faultstring and detail are unqualified.
        etree.SubElement(element, "faultcode").text = _fault_code_value(version, fault)
        faultstring = etree.SubElement(element, "faultstring")
        faultstring.text = reason
        faultstring.set(f"{{{XML_NS}}}lang", "en")
        detail = etree.SubElement(element, "detail")
    else:
        code = etree.SubElement(element, f"{{{ns}}}Code")
        etree.SubElement(code, f"{{{ns}}}Value").text = _fault_code_value(version, fault)
        text = etree.SubElement(etree.SubElement(element, f"{{{ns}}}Reason"), f"{{{ns}}}Text")
        text.text = reason
        text.set(f"{{{XML_NS}}}lang", "en")
        detail = etree.SubElement(element, f"{{{ns}}}Detail")
    _detail_error(detail, fault, request_id)
    return etree.tostring(envelope, encoding="utf-8", xml_declaration=True)


def fault_response(version: SoapVersion, fault: SoapFault, request_id: str | None = None) -> Response:
    response = Response(
        body=fault_bytes(version, fault, request_id),
        status=fault_http_status(version, fault),
        content_type=version.content_type,
    )
    for name, value in fault.headers.items():
        response.headers[name] = value
    if response.status_int == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = 'Bearer realm="discom-hub", error="invalid_token"'
    return response
