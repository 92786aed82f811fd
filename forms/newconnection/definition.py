"""A form as data: fields, types, units, limits and bilingual labels, and what follows from them.

One :class:`FormDefinition` per form version. From it come, with no second
copy anywhere:

* validation of untrusted input (:meth:`FormDefinition.read`), every field
  problem collected at once (:class:`forms.reader.Reader`);
* the JSON Schema of the REST body (:meth:`FormDefinition.json_schema`);
* the XSD types of the SOAP payload (:meth:`FormDefinition.xsd_types`), and
  the reading of such a payload back into the same plain data
  (:meth:`FormDefinition.data_from_xml`), so SOAP and REST are validated by
  the same code.

Element names in XML are the field names, so a value has one name on every
channel. Patterns are written in the common subset of Python ``re`` and XSD
regular expressions (character classes and counts), anchored by both.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import quoteattr

from lxml import etree

from forms.errors import FieldProblem
from forms.reader import DECIMAL_TEXT_MAX, Reader

TEXT = "text"
CHOICE = "choice"
DECIMAL = "decimal"
BASE64 = "base64"
GROUP = "group"
LIST = "list"


@dataclass(frozen=True)
class Choice:
    value: str
    label_en: str
    label_hi: str


@dataclass(frozen=True)
class Field:
    """One field. ``kind``: text, choice, decimal, base64 (binary carried inline), group, list (of groups)."""

    name: str
    kind: str
    label_en: str
    label_hi: str
    required: bool = True
    max_length: int = 200
    pattern: str | None = None
    choices: tuple[Choice, ...] = ()
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    unit: str | None = None  # the unit a decimal is expressed in, when fixed
    max_bytes: int = 0  # base64: decoded size cap
    fields: tuple[Field, ...] = ()  # group, and each item of a list
    item_name: str = "item"  # list: the XML element of one item
    max_items: int = 20
    type_name: str = ""  # group/list item: the XSD complexType name

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    def child(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


@dataclass(frozen=True)
class FormDefinition:
    """A versioned form. ``rules`` hold the cross-field limits the version's checker applies."""

    name: str
    version: int
    title_en: str
    title_hi: str
    root: Field
    rules: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[Field, ...]:
        return self.root.fields

    # -- validation ------------------------------------------------------------------

    def read(self, data: Any, prefix: str = "form/") -> tuple[dict[str, Any], list[FieldProblem]]:
        """Clean ``data`` field by field: the canonical plain data (decimals as strings) and the problems."""
        problems: list[FieldProblem] = []
        if not isinstance(data, Mapping):
            return {}, [FieldProblem(prefix.rstrip("/"), "type", "must be an object")]
        cleaned = _read_group(self.root, data, prefix, problems)
        return cleaned, problems

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self) -> dict[str, Any]:
        schema = _schema(self.root)
        schema["title"] = f"{self.title_en} / {self.title_hi} (version {self.version})"
        return schema

    # -- XSD ---------------------------------------------------------------------------

    def xsd_types(self) -> str:
        """``xs:complexType`` declarations for this version (root type ``self.root.type_name``)."""
        out: list[str] = []
        _xsd_group(self.root, out)
        return "\n".join(out)

    def data_from_xml(self, element: etree._Element, namespace: str) -> dict[str, Any]:
        """The plain data of a payload element typed by :meth:`xsd_types` (validate it first)."""
        return _xml_group(self.root, element, "{" + namespace + "}")

    def list_from_xml(self, name: str, element: etree._Element, namespace: str) -> list[dict[str, Any]]:
        """The items of list field ``name`` carried on their own (an element of its ``...List`` type)."""
        spec = self.root.child(name)
        ns = "{" + namespace + "}"
        return [_xml_group(spec, item, ns) for item in element.findall(ns + spec.item_name)]

    def read_list(
        self, name: str, items: Any, prefix: str = ""
    ) -> tuple[list[dict[str, Any]], list[FieldProblem]]:
        """Clean list field ``name`` on its own (documents sent with a query answer)."""
        problems: list[FieldProblem] = []
        wrapper = Field("body", GROUP, "", "", fields=(self.root.child(name),))
        cleaned = _read_group(wrapper, {name: items}, prefix, problems)
        return list(cleaned.get(name) or []), problems


# -- reading -----------------------------------------------------------------------------


def _read_group(
    spec: Field, data: Mapping[str, Any], prefix: str, problems: list[FieldProblem]
) -> dict[str, Any]:
    reader = Reader(data, prefix)
    known = {f.name for f in spec.fields}
    for name in data:
        if name not in known:
            reader.problem(str(name)[:64], "unknown_field", "is not a field of this form version")
    out: dict[str, Any] = {}
    for f in spec.fields:
        value = _read_field(f, reader, prefix, problems)
        if value is not None:
            out[f.name] = value
    problems.extend(reader.problems)
    return out


def _read_field(f: Field, reader: Reader, prefix: str, problems: list[FieldProblem]) -> Any:
    if f.kind == TEXT:
        pattern = re.compile(f.pattern) if f.pattern else None
        return reader.text(f.name, required=f.required, max_length=f.max_length, pattern=pattern)
    if f.kind == CHOICE:
        return reader.choice(f.name, f.choice_values, required=f.required)
    if f.kind == DECIMAL:
        number = reader.decimal(f.name, required=f.required, minimum=f.minimum, maximum=f.maximum)
        if number is not None and number.as_tuple().exponent < -3:  # type: ignore[operator]
            reader.problem(f.name, "format", "at most three decimal places")
            return None
        return None if number is None else _plain(number)
    if f.kind == BASE64:
        text = reader.text(f.name, required=f.required, max_length=(f.max_bytes + 2) // 3 * 4 + 4)
        if text is None:
            return None
        try:
            raw = base64.b64decode(text.replace(" ", ""), validate=True)
        except (binascii.Error, ValueError):
            reader.problem(f.name, "format", "must be base64")
            return None
        if len(raw) > f.max_bytes:
            reader.problem(f.name, "too_large", f"at most {f.max_bytes} bytes")
            return None
        return base64.b64encode(raw).decode("ascii")
    value = reader.data.get(f.name)
    if f.kind == GROUP:
        if value is None:
            if f.required:
                reader.problem(f.name, "required", "this field is required")
            return None
        if not isinstance(value, Mapping):
            reader.problem(f.name, "type", "must be an object")
            return None
        return _read_group(f, value, f"{prefix}{f.name}/", problems)
    if f.kind == LIST:
        if value is None:
            if f.required:
                reader.problem(f.name, "required", "this field is required")
            return None
        if not isinstance(value, list):
            reader.problem(f.name, "type", "must be a list")
            return None
        if len(value) > f.max_items:
            reader.problem(f.name, "too_many", f"at most {f.max_items} items")
            return None
        items = []
        for index, item in enumerate(value):
            path = f"{prefix}{f.name}/{index}"
            if not isinstance(item, Mapping):
                problems.append(FieldProblem(path, "type", "must be an object"))
                continue
            items.append(_read_group(f, item, path + "/", problems))
        return items
    raise ValueError(f"unknown field kind {f.kind!r}")


def _plain(number: Decimal) -> str:
    """A decimal as canonical text: ``"150"``, ``"11.5"`` (same value, same bytes, same hash)."""
    text = format(number.normalize(), "f")
    return text if text != "-0" else "0"


# -- JSON Schema ---------------------------------------------------------------------------


def _schema(f: Field) -> dict[str, Any]:
    described = {"title": f.label_en, "description": f.label_hi + (f" ({f.unit})" if f.unit else "")}
    if f.kind == TEXT:
        out: dict[str, Any] = {"type": "string", "maxLength": f.max_length}
        if f.pattern:
            out["pattern"] = f"^{f.pattern}$"
    elif f.kind == CHOICE:
        out = {"type": "string", "enum": list(f.choice_values)}
        out["x-labels"] = {c.value: {"en": c.label_en, "hi": c.label_hi} for c in f.choices}
    elif f.kind == DECIMAL:
        out = {
            "type": ["number", "string"],
            "pattern": r"^-?[0-9]+(\.[0-9]{1,3})?$",
            "maxLength": DECIMAL_TEXT_MAX,
        }
        if f.minimum is not None:
            out["minimum"] = float(f.minimum)
        if f.maximum is not None:
            out["maximum"] = float(f.maximum)
    elif f.kind == BASE64:
        out = {"type": "string", "contentEncoding": "base64", "maxLength": (f.max_bytes + 2) // 3 * 4}
    elif f.kind == GROUP:
        out = {
            "type": "object",
            "additionalProperties": False,
            "required": [c.name for c in f.fields if c.required],
            "properties": {c.name: _schema(c) for c in f.fields},
        }
    elif f.kind == LIST:
        item = {
            "type": "object",
            "additionalProperties": False,
            "required": [c.name for c in f.fields if c.required],
            "properties": {c.name: _schema(c) for c in f.fields},
        }
        out = {"type": "array", "maxItems": f.max_items, "items": item}
    else:
        raise ValueError(f"unknown field kind {f.kind!r}")
    return {**described, **out}


# -- XSD -------------------------------------------------------------------------------------


def _xsd_simple(f: Field) -> str:
    if f.kind == TEXT:
        facets = f'<xs:maxLength value="{f.max_length}"/>'
        if f.pattern:
            facets += f"<xs:pattern value={quoteattr(f.pattern)}/>"
        return f'<xs:simpleType><xs:restriction base="xs:string">{facets}</xs:restriction></xs:simpleType>'
    if f.kind == CHOICE:
        facets = "".join(f"<xs:enumeration value={quoteattr(c.value)}/>" for c in f.choices)
        return f'<xs:simpleType><xs:restriction base="xs:string">{facets}</xs:restriction></xs:simpleType>'
    if f.kind == DECIMAL:
        facets = '<xs:fractionDigits value="3"/>'
        if f.minimum is not None:
            facets += f'<xs:minInclusive value="{_plain(f.minimum)}"/>'
        if f.maximum is not None:
            facets += f'<xs:maxInclusive value="{_plain(f.maximum)}"/>'
        return f'<xs:simpleType><xs:restriction base="xs:decimal">{facets}</xs:restriction></xs:simpleType>'
    if f.kind == BASE64:
        return (
            '<xs:simpleType><xs:restriction base="xs:base64Binary">'
            f'<xs:maxLength value="{f.max_bytes}"/></xs:restriction></xs:simpleType>'
        )
    raise ValueError(f"{f.kind} is not a simple type")


def _xsd_group(spec: Field, out: list[str]) -> None:
    members: list[str] = []
    for f in spec.fields:
        occurs = "" if f.required else ' minOccurs="0"'
        doc = (
            f'<xs:annotation><xs:documentation xml:lang="en">{_esc(f.label_en)}</xs:documentation>'
            f'<xs:documentation xml:lang="hi">{_esc(f.label_hi)}</xs:documentation></xs:annotation>'
        )
        if f.kind == GROUP:
            _xsd_group(f, out)
            members.append(f'<xs:element name="{f.name}" type="f:{f.type_name}"{occurs}>{doc}</xs:element>')
        elif f.kind == LIST:
            _xsd_group(f, out)
            # A named list type, so services can carry the same list on its own (query answers).
            out.append(
                f'<xs:complexType name="{f.type_name}List"><xs:sequence>'
                f'<xs:element name="{f.item_name}" type="f:{f.type_name}" minOccurs="0" '
                f'maxOccurs="{f.max_items}"/></xs:sequence></xs:complexType>'
            )
            members.append(
                f'<xs:element name="{f.name}" type="f:{f.type_name}List"{occurs}>{doc}</xs:element>'
            )
        else:
            members.append(f'<xs:element name="{f.name}"{occurs}>{doc}{_xsd_simple(f)}</xs:element>')
    out.append(
        f'<xs:complexType name="{spec.type_name}"><xs:sequence>{"".join(members)}</xs:sequence></xs:complexType>'
    )


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_group(spec: Field, element: etree._Element, ns: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in spec.fields:
        child = element.find(ns + f.name)
        if child is None:
            continue
        if f.kind == GROUP:
            out[f.name] = _xml_group(f, child, ns)
        elif f.kind == LIST:
            out[f.name] = [_xml_group(f, item, ns) for item in child.findall(ns + f.item_name)]
        else:
            out[f.name] = child.text or ""
    return out
