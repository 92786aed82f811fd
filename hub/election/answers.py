"""Election answers as election.xsd writes them: lxml trees built from verification results.

One writer for every answer shape: the SOAP ``ElectionService`` answers
(hub.election.soap) and the bulk job's signed report (hub.election.jobs). The
fields and their order are election.xsd's; the values are those REST gives
(``VerificationResult.as_dict``), field for field.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lxml import etree

from hub.certificates.verification import BatchItem

NS = "urn:discom-hub:election:1"
E = "{" + NS + "}"
NSMAP = {"e": NS}
# Order of CertificateVerification in election.xsd; keys of VerificationResult.as_dict().
_RESULT_SCALARS_HEAD = ("number", "status", "reason", "kind", "holder_name", "issuer_office")
_RESULT_SCALARS_TAIL = ("issued_at", "valid_until", "revoked_at", "revocation_reason", "superseded")
_CONNECTION = E + "connection"
_CONNECTION_TAGS = tuple((name, E + name) for name in ("consumer_number", "dues", "meter_status"))
_PURPOSE_FIELDS = ("description", "election", "body", "ward")
_ERROR_FIELDS = ("code", "field", "message")


def sub(parent: etree._Element, name: str, value: Any) -> None:
    """``<e:name>value</e:name>`` under ``parent``, booleans as xs:boolean; nothing for None."""
    if value is None:
        return
    if type(value) is not str:
        value = ("true" if value else "false") if isinstance(value, bool) else str(value)
    etree.SubElement(parent, E + name).text = value


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _shape(data: Mapping[str, Any]) -> tuple[tuple[Any, ...], list[str]]:
    """The answer's elements (which fields, how many connections, which purpose fields) and the
    texts of its leaves, in document order."""
    shape: list[Any] = []
    texts: list[str] = []
    for name in _RESULT_SCALARS_HEAD:
        value = data.get(name)
        if value is not None:
            shape.append(name)
            texts.append(_text(value))
    connections = data.get("connections")
    if connections is not None:
        shape.append(("connections", len(connections)))
        for connection in connections:
            texts += [str(connection.get(name, "")) for name, _tag in _CONNECTION_TAGS]
    value = data.get("no_connection")
    if value is not None:
        shape.append("no_connection")
        texts.append(_text(value))
    purpose = data.get("purpose")
    if purpose is not None:
        present = tuple(name for name in _PURPOSE_FIELDS if purpose.get(name) is not None)
        shape.append(("purpose", present))
        texts += [_text(purpose[name]) for name in present]
    for name in _RESULT_SCALARS_TAIL:
        value = data.get(name)
        if value is not None:
            shape.append(name)
            texts.append(_text(value))
    return tuple(shape), texts


def _template(tag: str, shape: tuple[Any, ...]) -> etree._Element:
    """An empty CertificateVerification element of ``shape``, in election.xsd's order."""
    element = etree.Element(E + tag, nsmap=NSMAP)
    for part in shape:
        if isinstance(part, str):
            etree.SubElement(element, E + part)
        elif part[0] == "connections":
            holder = etree.SubElement(element, E + "connections")
            for _ in range(part[1]):
                item = etree.SubElement(holder, _CONNECTION)
                for _name, tag_name in _CONNECTION_TAGS:
                    etree.SubElement(item, tag_name)
        else:
            holder = etree.SubElement(element, E + "purpose")
            for name in part[1]:
                etree.SubElement(holder, E + name)
    return element


# Empty answer elements by (tag, shape): a batch's answers share a few shapes, and copying an
# empty element (one C call) then setting its texts costs a third of building it element by
# element. Bounded: shapes come from the registry's data, not from callers.
_TEMPLATES: dict[tuple[str, tuple[Any, ...]], etree._Element] = {}
_TEMPLATES_MAX = 256
_CONTAINERS = frozenset((E + "connections", _CONNECTION, E + "purpose"))


def result_element(parent: etree._Element, tag: str, data: Mapping[str, Any]) -> etree._Element:
    """A CertificateVerification element from a verification answer (``VerificationResult.as_dict``)."""
    shape, texts = _shape(data)
    template = _TEMPLATES.get((tag, shape))
    if template is None:
        template = _template(tag, shape)
        if len(_TEMPLATES) < _TEMPLATES_MAX:
            _TEMPLATES[(tag, shape)] = template
    element = copy.deepcopy(template)
    leaves = (child for child in element.iterdescendants() if child.tag not in _CONTAINERS)
    for leaf, text in zip(leaves, texts, strict=True):
        leaf.text = text
    parent.append(element)
    return element


def batch_element(
    tag: str,
    items: Sequence[BatchItem],
    answered_at: datetime,
    head: Sequence[tuple[str, Any]] = (),
) -> etree._Element:
    """VerifyCertificatesResponse, or (with ``head``) a bulk job's VerificationReport."""
    root = etree.Element(E + tag, nsmap=NSMAP)
    for name, value in head:
        sub(root, name, value)
    sub(root, "answered_at", answered_at.isoformat())
    sub(root, "count", len(items))
    for batch_item in items:
        data = batch_item.as_dict()
        item = etree.SubElement(root, E + "item")
        sub(item, "index", data["index"])
        sub(item, "ref", data.get("ref"))
        if "result" in data:
            result_element(item, "result", data["result"])
        else:
            error = etree.SubElement(item, E + "error")
            for name in _ERROR_FIELDS:
                sub(error, name, data["error"].get(name))
    return root
