"""Election answers as election.xsd writes them: lxml trees built from verification results.

One writer for every answer shape: the SOAP ``ElectionService`` answers
(hub.election.soap) and the bulk job's signed report (hub.election.jobs). The
fields and their order are election.xsd's; the values are those REST gives
(``VerificationResult.as_dict``), field for field.
"""

from __future__ import annotations

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


def result_element(parent: etree._Element, tag: str, data: Mapping[str, Any]) -> etree._Element:
    """A CertificateVerification element from a verification answer (``VerificationResult.as_dict``)."""
    element = etree.SubElement(parent, E + tag)
    for name in _RESULT_SCALARS_HEAD:
        sub(element, name, data.get(name))
    connections = data.get("connections")
    if connections is not None:
        holder = etree.SubElement(element, E + "connections")
        for connection in connections:
            item = etree.SubElement(holder, _CONNECTION)
            for name, tag_name in _CONNECTION_TAGS:
                etree.SubElement(item, tag_name).text = str(connection.get(name, ""))
    sub(element, "no_connection", data.get("no_connection"))
    purpose = data.get("purpose")
    if purpose is not None:
        holder = etree.SubElement(element, E + "purpose")
        for name in _PURPOSE_FIELDS:
            sub(holder, name, purpose.get(name))
    for name in _RESULT_SCALARS_TAIL:
        sub(element, name, data.get(name))
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
