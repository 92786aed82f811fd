"""Election answers: every shape valid against election.xsd and saying what REST says, field for field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hub.certificates.verification import BatchItem, RegistryEntry, VerificationResult
from hub.election.answers import NS, NSMAP, E, batch_element, result_element

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parents[3] / "hub/election/election.xsd")))
ISSUED = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
FULL = {
    "kind": "no_dues_certificate",
    "holder_name": "किरण शर्मा (Kiran & <Sharma>)",
    "issuer_office": "Bhopal City Circle",
    "connections": [
        {"consumer_number": "4512300001", "dues": "0.00", "meter_status": "healthy"},
        {"consumer_number": "4512300002", "dues": "0.00", "meter_status": "faulty"},
    ],
    "no_connection": False,
    "purpose": {"election": "Panchayat 2026", "ward": "7"},
}


def entry(number: str, summary: dict[str, Any], **kw: Any) -> RegistryEntry:
    return RegistryEntry(
        7, number, kw.pop("status", "valid"), ISSUED, ISSUED + timedelta(days=90), "0" * 64, None, summary,
        "0" * 64, **kw,
    )  # fmt: skip


SHAPES = {
    "valid": VerificationResult("valid", "MPCZ/ND/2026-27/000001", entry("MPCZ/ND/2026-27/000001", FULL)),
    "no connection": VerificationResult(
        "valid",
        "MPCZ/ND/2026-27/000002",
        entry("MPCZ/ND/2026-27/000002", {**FULL, "connections": [], "no_connection": True, "purpose": None}),
    ),
    "revoked": VerificationResult(
        "revoked",
        "MPCZ/ND/2026-27/000003",
        entry(
            "MPCZ/ND/2026-27/000003",
            FULL,
            status="revoked",
            revoked_at=ISSUED + timedelta(days=2),
            revocation_reason="dues found after issue",
        ),
    ),
    "superseded": VerificationResult(
        "superseded",
        "MPCZ/ND/2026-27/000004",
        entry("MPCZ/ND/2026-27/000004", FULL, status="superseded", superseded_by_id=9),
    ),
    "unknown": VerificationResult("unknown", "MPCZ/ND/2026-27/999999"),
    "tampered": VerificationResult("tampered", "", None, "signature_invalid"),
}


def said(element: etree._Element) -> dict[str, Any]:
    """An answer element read back as the REST dict it should equal."""
    out: dict[str, Any] = {}
    for child in element:
        name = etree.QName(child).localname
        if name == "connections":
            out[name] = [{etree.QName(f).localname: f.text for f in c} for c in child]
        elif name == "purpose":
            out[name] = {etree.QName(f).localname: f.text for f in child}
        else:
            out[name] = child.text
    return out


def as_text(data: dict[str, Any]) -> dict[str, Any]:
    def text(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value

    return {k: text(v) for k, v in data.items() if v is not None}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_single_answer_is_valid_and_says_what_rest_says(shape: str) -> None:
    root = etree.Element(E + "VerifyCertificateResponse", nsmap=NSMAP)
    etree.SubElement(root, E + "answered_at").text = ISSUED.isoformat()
    # Twice: the second answer of a shape is written from the same empty form, with its own texts.
    for _ in range(2):
        del root[1:]
        result = SHAPES[shape]
        element = result_element(root, "result", result.as_dict())
        SCHEMA.assertValid(root)
        assert said(element) == as_text(result.as_dict())


def test_a_batch_mixes_shapes_each_with_its_own_texts() -> None:
    results = [SHAPES[name] for name in sorted(SHAPES)] * 3
    items = [BatchItem(i, f"row {i}", r) for i, r in enumerate(results)]
    root = batch_element("VerifyCertificatesResponse", items, ISSUED)
    SCHEMA.assertValid(root)
    answers = root.findall(f"{{{NS}}}item")
    assert [a.findtext(f"{{{NS}}}ref") for a in answers] == [f"row {i}" for i in range(len(results))]
    for answer, result in zip(answers, results, strict=True):
        found = answer.find(f"{{{NS}}}result")
        assert found is not None
        assert said(found) == as_text(result.as_dict())
