"""Document <-> XML in our versioned schema (``certs/schema/documents-1.0.xsd``).

:func:`build_xml` makes the unsigned tree and validates it (a document that does not match the
schema is never signed). :func:`document_from_xml` reads a tree back; the verifier only ever
hands it the part the signature covers.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal, InvalidOperation
from importlib import resources

from lxml import etree

from certs.document import Check, Connection, Document, Holder, Issuer, Purpose
from certs.errors import InvalidDocumentError, MalformedDocumentError, UnsupportedSchemaVersionError

SCHEMA_VERSION = "1.0"
NAMESPACE_PREFIX = "urn:discom-hub:documents:"
NAMESPACE = NAMESPACE_PREFIX + SCHEMA_VERSION
_N = "{" + NAMESPACE + "}"
SUPPORTED_NAMESPACES = {NAMESPACE: SCHEMA_VERSION}

_local = threading.local()


def _schema() -> etree.XMLSchema:
    # One XMLSchema per thread: lxml validators keep per-call error state on the object.
    schema: etree.XMLSchema | None = getattr(_local, "schema", None)
    if schema is None:
        data = resources.files("certs").joinpath("schema", f"documents-{SCHEMA_VERSION}.xsd").read_bytes()
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        schema = etree.XMLSchema(etree.fromstring(data, parser=parser))
        _local.schema = schema
    return schema


def schema_errors(root: etree._Element) -> list[str]:
    """Validation messages (empty when valid). Messages name paths and rules, not values."""
    schema = _schema()
    try:
        if schema.validate(root):
            return []
    except etree.XMLSchemaValidateError:
        return ["schema validator failed on this input"]
    return [f"line {e.line}: {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]


def validate(root: etree._Element) -> None:
    errors = schema_errors(root)
    if errors:
        raise InvalidDocumentError(
            "document does not match schema " + NAMESPACE + ": " + "; ".join(errors[:5])
        )


# --------------------------------------------------------------------------- building


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, _N + tag, attrib)
    if text is not None:
        el.text = text
    return el


def _opt(parent: etree._Element, tag: str, text: str) -> None:
    if text:
        _sub(parent, tag, text)


def build_xml(doc: Document, *, validate_schema: bool = True) -> etree._Element:
    """The unsigned ``Document`` element, validated against the XSD (raises InvalidDocumentError)."""
    root = etree.Element(_N + "Document", nsmap={None: NAMESPACE})  # type: ignore[dict-item]
    _sub(root, "Number", doc.number)
    _sub(root, "Kind", doc.kind)
    _sub(root, "VerificationCode", doc.verification_code)
    _sub(root, "IssuedAt", _utc(doc.issued_at))
    _sub(root, "ValidUntil", _utc(doc.valid_until))
    _sub(root, "Language", doc.language)

    issuer = _sub(root, "Issuer")
    _sub(issuer, "DiscomNameEn", doc.issuer.discom_name_en)
    _sub(issuer, "DiscomNameHi", doc.issuer.discom_name_hi)
    office = _sub(issuer, "Office", doc.issuer.office_name)
    if doc.issuer.office_code:
        office.set("code", doc.issuer.office_code)
    officer = _sub(issuer, "Officer")
    _sub(officer, "Name", doc.issuer.officer_name)
    _sub(officer, "DesignationEn", doc.issuer.officer_designation_en)
    _opt(officer, "DesignationHi", doc.issuer.officer_designation_hi)

    holder = _sub(root, "Holder")
    _opt(holder, "NameDeva", doc.holder.name_deva)
    _opt(holder, "NameLatin", doc.holder.name_latin)
    _opt(holder, "SamagraId", doc.holder.samagra_id)
    _opt(holder, "MobileMasked", doc.holder.mobile_masked)

    connections = _sub(root, "Connections")
    for c in doc.connections:
        el = _sub(connections, "Connection")
        _sub(el, "ConsumerNumber", c.consumer_number)
        _sub(el, "Dues", _money(c.dues), currency=c.currency, asOf=_utc(c.dues_as_of))
        _sub(el, "MeterStatus", c.meter_status)

    checks = _sub(root, "Checks")
    for ch in doc.checks:
        el = _sub(checks, "Check")
        _sub(el, "Name", ch.name)
        _sub(el, "Result", ch.result)
        _sub(el, "EvidenceRef", ch.evidence_ref)
        _sub(el, "CheckedAt", _utc(ch.checked_at))

    if doc.purpose is not None:
        purpose = _sub(root, "Purpose")
        _opt(purpose, "Description", doc.purpose.description)
        _opt(purpose, "Election", doc.purpose.election)
        _opt(purpose, "Body", doc.purpose.body)
        _opt(purpose, "Ward", doc.purpose.ward)

    _sub(root, "VerificationUrl", doc.verification_url)
    details = _sub(root, "Details")
    for key, value in doc.details.items():
        if isinstance(value, Decimal):
            _sub(details, "Item", f"{value:f}", key=key, type="decimal")
        else:
            _sub(details, "Item", value, key=key, type="text")

    if validate_schema:
        validate(root)
    return root


# --------------------------------------------------------------------------- reading


def check_namespace(root: etree._Element) -> None:
    """Distinguish "not our document" from "ours, but a schema version we cannot read"."""
    qname = etree.QName(root)
    if qname.localname != "Document" or not (qname.namespace or "").startswith(NAMESPACE_PREFIX):
        raise MalformedDocumentError("not a discom hub document")
    if qname.namespace not in SUPPORTED_NAMESPACES:
        raise UnsupportedSchemaVersionError(
            f"schema version {qname.namespace[len(NAMESPACE_PREFIX) :]!r} is not supported "
            f"(supported: {', '.join(SUPPORTED_NAMESPACES.values())})"
        )


def _text(parent: etree._Element, tag: str) -> str:
    el = parent.find(_N + tag)
    return (el.text or "") if el is not None else ""


def _child(parent: etree._Element, tag: str) -> etree._Element:
    el = parent.find(_N + tag)
    if el is None:
        raise MalformedDocumentError(f"missing {tag}")
    return el


def _parse_dt(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MalformedDocumentError("bad timestamp") from None
    if parsed.tzinfo is None:
        raise MalformedDocumentError("timestamp without time zone")
    return parsed


def _parse_decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise MalformedDocumentError("bad decimal") from None


def document_from_xml(root: etree._Element) -> Document:
    """Read a (signed-part) ``Document`` tree. Validates against the XSD first."""
    check_namespace(root)
    errors = schema_errors(root)
    if errors:
        raise MalformedDocumentError("document does not match its schema")
    try:
        return _read(root)
    except InvalidDocumentError as exc:
        raise MalformedDocumentError(f"document content is inconsistent: {exc}") from None


def _read(root: etree._Element) -> Document:
    issuer_el = _child(root, "Issuer")
    officer = _child(issuer_el, "Officer")
    office = _child(issuer_el, "Office")
    issuer = Issuer(
        discom_name_en=_text(issuer_el, "DiscomNameEn"),
        discom_name_hi=_text(issuer_el, "DiscomNameHi"),
        office_name=office.text or "",
        office_code=office.get("code", ""),
        officer_name=_text(officer, "Name"),
        officer_designation_en=_text(officer, "DesignationEn"),
        officer_designation_hi=_text(officer, "DesignationHi"),
    )
    holder_el = _child(root, "Holder")
    holder = Holder(
        name_deva=_text(holder_el, "NameDeva"),
        name_latin=_text(holder_el, "NameLatin"),
        samagra_id=_text(holder_el, "SamagraId"),
        mobile_masked=_text(holder_el, "MobileMasked"),
    )
    connections = []
    for el in _child(root, "Connections").iterfind(_N + "Connection"):
        dues = _child(el, "Dues")
        connections.append(
            Connection(
                consumer_number=_text(el, "ConsumerNumber"),
                dues=_parse_decimal(dues.text or ""),
                currency=dues.get("currency", ""),
                dues_as_of=_parse_dt(dues.get("asOf", "")),
                meter_status=_text(el, "MeterStatus"),
            )
        )
    checks = [
        Check(
            name=_text(el, "Name"),
            result=_text(el, "Result"),
            evidence_ref=_text(el, "EvidenceRef"),
            checked_at=_parse_dt(_text(el, "CheckedAt")),
        )
        for el in _child(root, "Checks").iterfind(_N + "Check")
    ]
    purpose_el = root.find(_N + "Purpose")
    purpose = (
        Purpose(
            description=_text(purpose_el, "Description"),
            election=_text(purpose_el, "Election"),
            body=_text(purpose_el, "Body"),
            ward=_text(purpose_el, "Ward"),
        )
        if purpose_el is not None
        else None
    )
    details: dict[str, str | Decimal] = {}
    for item in _child(root, "Details").iterfind(_N + "Item"):
        text = item.text or ""
        details[item.get("key", "")] = _parse_decimal(text) if item.get("type") == "decimal" else text
    return Document(
        number=_text(root, "Number"),
        kind=_text(root, "Kind"),
        verification_code=_text(root, "VerificationCode"),
        issuer=issuer,
        holder=holder,
        issued_at=_parse_dt(_text(root, "IssuedAt")),
        valid_until=_parse_dt(_text(root, "ValidUntil")),
        verification_url=_text(root, "VerificationUrl"),
        connections=tuple(connections),
        checks=tuple(checks),
        purpose=purpose,
        details=details,
        language=_text(root, "Language"),
    )
