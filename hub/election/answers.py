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

from hub.certificates.verification import BatchItem, item_error

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


def _leaves(element: etree._Element, shape: tuple[Any, ...]) -> None:
    """The (empty) elements of a CertificateVerification of ``shape`` under ``element``, in election.xsd's order."""
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


def _template(key: tuple[Any, ...]) -> etree._Element:
    """An empty answer element of ``key``: ``("result", tag, shape)`` for a CertificateVerification,
    ``("item", has_ref, "result", shape)`` or ``("item", has_ref, "error", fields)`` for a batch item."""
    if key[0] == "result":
        element = etree.Element(E + key[1], nsmap=NSMAP)
        _leaves(element, key[2])
        return element
    element = etree.Element(E + "item", nsmap=NSMAP)
    etree.SubElement(element, E + "index")
    if key[1]:
        etree.SubElement(element, E + "ref")
    inner = etree.SubElement(element, E + key[2])
    if key[2] == "result":
        _leaves(inner, key[3])
    else:
        for name in key[3]:
            etree.SubElement(inner, E + name)
    return element


# Every element that holds a text, in any shape (the others hold elements).
_LEAF_TAGS = frozenset(
    E + name
    for name in (
        "index",
        "ref",
        *_RESULT_SCALARS_HEAD,
        *(name for name, _tag in _CONNECTION_TAGS),
        "no_connection",
        *_PURPOSE_FIELDS,
        *_RESULT_SCALARS_TAIL,
        *_ERROR_FIELDS,
    )
)
# Empty answer elements by shape, each with the document-order positions of its leaves: a
# batch's answers share a few shapes, and copying an empty element (one C call) then setting
# its texts costs a third of building it element by element. Bounded: shapes come from the
# registry's data, not from callers.
_TEMPLATES: dict[tuple[Any, ...], tuple[etree._Element, tuple[int, ...]]] = {}
_TEMPLATES_MAX = 256


def _filled(parent: etree._Element, key: tuple[Any, ...], texts: list[str]) -> etree._Element:
    """A copy of ``key``'s empty element under ``parent``, its leaves given ``texts`` in document order."""
    found = _TEMPLATES.get(key)
    if found is None:
        template = _template(key)
        leaves = tuple(i for i, node in enumerate(template.iter()) if node.tag in _LEAF_TAGS)
        found = (template, leaves)
        if len(_TEMPLATES) < _TEMPLATES_MAX:
            _TEMPLATES[key] = found
    template, leaves = found
    if len(leaves) != len(texts):
        raise ValueError(f"{len(texts)} texts for the {len(leaves)} leaves of {key!r}")
    element = copy.deepcopy(template)
    parent.append(element)
    # Positions, not a search by name: a copy is a new document, and lxml resolves names anew for each.
    nodes = list(element.iter())
    for position, text in zip(leaves, texts, strict=True):
        nodes[position].text = text
    return element


def result_element(parent: etree._Element, tag: str, data: Mapping[str, Any]) -> etree._Element:
    """A CertificateVerification element from a verification answer (``VerificationResult.as_dict``)."""
    shape, texts = _shape(data)
    return _filled(parent, ("result", tag, shape), texts)


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
        texts = [str(batch_item.index)]
        has_ref = batch_item.ref is not None
        if batch_item.ref is not None:
            texts.append(batch_item.ref)
        if batch_item.result is not None:
            shape, result_texts = _shape(batch_item.result.as_dict())
            key: tuple[Any, ...] = ("item", has_ref, "result", shape)
            texts += result_texts
        else:
            assert batch_item.error is not None
            error = item_error(batch_item.error)
            present = tuple(name for name in _ERROR_FIELDS if error.get(name) is not None)
            key = ("item", has_ref, "error", present)
            texts += [error[name] for name in present]
        _filled(root, key, texts)
    return root
