"""The election answers written as canonical text equal, byte for byte after exclusive C14N, the
trees built element by element from the REST answer (``VerificationResult.as_dict``).

The reference below is the lxml builder the service used before answers were written as text:
an element per field of the REST dict in election.xsd's order. Every answer shape is compared
(valid, revoked with and without its details, superseded, expired, unknown, tampered, item
errors, a report head), with text that needs escaping, Devanagari with a ZWJ, empty strings and
non-string values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from forms.errors import FieldProblem, FormError
from hub.certificate_xml import FORMAT
from hub.documents import VerificationResult
from hub.election.soap import NS, batch_payload, result_xml
from hub.election.verification import BatchItem
from hub.registry import REPLICA_VERSION, RegistryEntry
from hub.soap.payload import leaf, rendered_payload

E = "{" + NS + "}"
NOW = datetime(2026, 11, 23, 4, 5, 6, 789012, tzinfo=UTC)
HEAD = ("number", "status", "reason", "kind", "holder_name", "issuer_office")
TAIL = ("issued_at", "valid_until", "revoked_at", "revocation_reason", "superseded")


# ----------------------------------------------------------------- the reference (lxml, from the dict)


def _sub(parent: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    etree.SubElement(parent, E + name).text = text


def reference_result(parent: etree._Element, tag: str, data: Mapping[str, Any]) -> None:
    element = etree.SubElement(parent, E + tag)
    for name in HEAD:
        _sub(element, name, data.get(name))
    connections = data.get("connections")
    if connections is not None:
        holder = etree.SubElement(element, E + "connections")
        for connection in connections:
            item = etree.SubElement(holder, E + "connection")
            for name in ("consumer_number", "dues", "meter_status"):
                etree.SubElement(item, E + name).text = str(connection.get(name, ""))
    _sub(element, "no_connection", data.get("no_connection"))
    purpose = data.get("purpose")
    if purpose is not None:
        holder = etree.SubElement(element, E + "purpose")
        for name in ("description", "election", "body", "ward"):
            _sub(holder, name, purpose.get(name))
    for name in TAIL:
        _sub(element, name, data.get(name))


def reference_batch(tag: str, items: Sequence[BatchItem], head: Sequence[tuple[str, Any]] = ()) -> bytes:
    root = etree.Element(E + tag, nsmap={"e": NS})
    for name, value in head:
        _sub(root, name, value)
    _sub(root, "answered_at", NOW.isoformat())
    _sub(root, "count", len(items))
    for batch_item in items:
        data = batch_item.as_dict()
        item = etree.SubElement(root, E + "item")
        _sub(item, "index", data["index"])
        _sub(item, "ref", data.get("ref"))
        if "result" in data:
            reference_result(item, "result", data["result"])
        else:
            error = etree.SubElement(item, E + "error")
            for name in ("code", "field", "message"):
                _sub(error, name, data["error"].get(name))
    return etree.tostring(root, method="c14n", exclusive=True, with_comments=False)


# ----------------------------------------------------------------- answer shapes

SUMMARY = {
    "kind": "no_dues_certificate",
    "holder_name": "किरण शर्मा (Kiran Sharma)",
    "issuer_office": "Bhopal City Circle",
    "connections": [{"consumer_number": "4512300001", "dues": "0.00", "meter_status": "healthy"}],
    "no_connection": False,
    "purpose": {"election": "Panchayat 2026", "body": "Gram Panchayat Berasia", "ward": "7"},
}
HOSTILE_SUMMARY = {
    "kind": "a&b <c> d>e",
    "holder_name": "क्\u200dष \"Q\" 's' & <Sons>\r\nline",
    "issuer_office": "",
    "connections": [
        {"consumer_number": "1&2", "dues": "1.50", "meter_status": "<bypassed>"},
        {"consumer_number": "4512300002", "dues": None},
    ],
    "no_connection": True,
    "purpose": {"description": "x\r\ny", "election": "", "body": None, "ward": 7},
}
SPARSE_SUMMARY: dict[str, Any] = {"connections": [], "purpose": None}


def entry(
    status: str = "valid",
    summary: Mapping[str, Any] = SUMMARY,
    **changes: Any,
) -> RegistryEntry:
    values: dict[str, Any] = {
        "id": 11,
        "number": "MPCZ/ND/2026-27/0000011",
        "status": status,
        "issued_at": (NOW - timedelta(days=3)).isoformat(),
        "valid_until": (NOW + timedelta(days=90)).isoformat(),
        "verification_code_sha256": "0" * 64,
        "holder_samagra_id": None,
        "public_summary": dict(summary),
        "subject_type": "nodues_application",
        "subject_id": "A-1",
        "xml_sha256": "1" * 64,
    }
    values.update(changes)
    return RegistryEntry(**values)


RESULTS = {
    "valid": VerificationResult("valid", "MPCZ/ND/2026-27/0000011", entry()),
    "valid_hostile": VerificationResult("valid", "MPCZ/ND/2026-27/0000011", entry(summary=HOSTILE_SUMMARY)),
    "valid_sparse": VerificationResult("valid", "MPCZ/ND/2026-27/0000011", entry(summary=SPARSE_SUMMARY)),
    "valid_empty_summary": VerificationResult("valid", "MPCZ/ND/2026-27/0000011", entry(summary={})),
    "revoked": VerificationResult(
        "revoked",
        "MPCZ/ND/2026-27/0000011",
        entry(
            "revoked",
            revoked_at=(NOW - timedelta(hours=1)).isoformat(),
            revocation_reason="dues <found> & billed",
        ),
    ),
    "revoked_bare": VerificationResult("revoked", "MPCZ/ND/2026-27/0000011", entry("revoked")),
    "superseded": VerificationResult(
        "superseded", "MPCZ/ND/2026-27/0000011", entry("superseded", superseded_by_id=12)
    ),
    "expired": VerificationResult(
        "expired", "MPCZ/ND/2026-27/0000011", entry(valid_until=(NOW - timedelta(days=1)).isoformat())
    ),
    "unknown": VerificationResult("unknown", "MPCZ/ND/0000099"),
    "unknown_with_record": VerificationResult("unknown", "MPCZ/ND/2026-27/0000011", entry()),
    "tampered": VerificationResult("tampered", "A&B<C>", entry(), reason="digest\r\nmismatch & <more>"),
    "reason_and_record": VerificationResult("valid", "MPCZ/ND/2026-27/0000011", entry(), reason="note"),
}


@pytest.mark.parametrize("shape", sorted(RESULTS))
def test_single_answer_equals_the_tree_from_the_rest_dict(shape: str) -> None:
    result = RESULTS[shape]
    rendered = rendered_payload(
        "e",
        NS,
        "VerifyCertificateResponse",
        [leaf("e:answered_at", NOW.isoformat()), result_xml("result", result)],
    )
    root = etree.Element(E + "VerifyCertificateResponse", nsmap={"e": NS})
    _sub(root, "answered_at", NOW.isoformat())
    reference_result(root, "result", result.as_dict(NOW))
    expected = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    assert rendered.data == expected
    # The bytes are their own canonical form: what the signature's digest covers is what is sent.
    parsed = etree.fromstring(rendered.data)
    assert etree.tostring(parsed, method="c14n", exclusive=True, with_comments=False) == rendered.data


def _with_answer_xml(result: VerificationResult) -> VerificationResult:
    """``result`` with its record carrying the answer part, as registry entries do."""
    record = result.record
    if record is None:
        return result
    return result._replace(record=record._replace(answer_xml=record.answer_part()))


@pytest.mark.parametrize("shape", sorted(RESULTS))
def test_the_answer_part_an_entry_carries_renders_as_the_rest_dict(shape: str) -> None:
    result = _with_answer_xml(RESULTS[shape])
    root = etree.Element(E + "VerifyCertificateResponse", nsmap={"e": NS})
    reference_result(root, "result", result.as_dict(NOW))
    expected = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    rendered = rendered_payload("e", NS, "VerifyCertificateResponse", result_xml("result", result))
    assert rendered.data == expected
    # Spliced, not written again: a stale part would be what is answered (registry versions guard it).
    if result.record is not None and result.status not in ("unknown", "tampered"):
        marked = result._replace(record=result.record._replace(answer_xml=b"<e:kind>MARK</e:kind>"))
        assert b"<e:kind>MARK</e:kind>" in result_xml("result", marked)


# What each hub.certificate_xml.FORMAT writes for SUMMARY, HOSTILE_SUMMARY and a revoked,
# superseded entry. Registry replicas store that text: if this test fails, the text changed, so
# bump FORMAT (replicas of the old format are then rebuilt) and add its fingerprint here.
FORMAT_FINGERPRINTS = {1: "dba024bff64cdf9d2ebb3ae6eb8143393fd2d9516f00b264c695077baa7ef01e"}


def test_a_change_in_the_answer_part_changes_its_format() -> None:
    samples = [
        entry(),
        entry(summary=HOSTILE_SUMMARY),
        entry("revoked", revoked_at=NOW.isoformat(), revocation_reason="<r> & s", superseded_by_id=3),
    ]
    text = b"".join(
        _with_answer_xml(VerificationResult("valid", "N", e)).record.answer_xml or b"" for e in samples
    )
    assert hashlib.sha256(text).hexdigest() == FORMAT_FINGERPRINTS[FORMAT]
    assert f".answer{FORMAT}" in REPLICA_VERSION


def test_batch_answer_and_report_equal_the_tree_from_the_rest_dicts() -> None:
    errors = [
        FormError(
            "validation_failed", "some fields", [FieldProblem("items/3/number", "format", "a <bad> & x")]
        ),
        FormError("validation_failed", "no problems listed"),
    ]
    items = [BatchItem(i, None if i % 3 else f"ref&<{i}>", result=r) for i, r in enumerate(RESULTS.values())]
    items += [BatchItem(len(items) + i, "row\r7", error=e) for i, e in enumerate(errors)]
    rendered = batch_payload("VerifyCertificatesResponse", items, NOW)
    assert rendered.data == reference_batch("VerifyCertificatesResponse", items)
    assert rendered.end == b"</e:VerifyCertificatesResponse>"

    head = (("job_id", "J-1&2"), ("client_id", "client<x>"), ("created_at", NOW.isoformat()))
    report = batch_payload("VerificationReport", items, NOW, head=head)
    assert report.data == reference_batch("VerificationReport", items, head)


def test_empty_batch_equals_the_tree() -> None:
    assert batch_payload("VerifyCertificatesResponse", [], NOW).data == reference_batch(
        "VerifyCertificatesResponse", []
    )


@pytest.mark.parametrize("bad", ["\x00", "a\x1bb", "\x0b", "\ufffe", "\uffff", "\ud800"])
def test_a_character_xml_forbids_is_refused_as_lxml_refuses_it(bad: str) -> None:
    result = VerificationResult("valid", "N-1", entry(summary={**SUMMARY, "holder_name": f"Kiran {bad}"}))
    with pytest.raises(ValueError):
        batch_payload("VerifyCertificatesResponse", [BatchItem(0, None, result=result)], NOW)
    with pytest.raises(ValueError):
        etree.SubElement(etree.Element("x"), "y").text = f"Kiran {bad}"
