"""Application payloads as the single window sends them (REST JSON; the SOAP tests convert)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

PDF = b"%PDF-1.4\n% a small test document\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def document(
    doc_type: str, content: bytes = PDF, *, url: str | None = None, sha256: str | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "doc_type": doc_type,
        "file_name": f"{doc_type}.pdf",
        "media_type": "application/pdf",
        "sha256": sha256 or hashlib.sha256(content).hexdigest(),
    }
    if url is None:
        doc["content_base64"] = base64.b64encode(content + doc_type.encode()).decode()
        doc["sha256"] = sha256 or hashlib.sha256(content + doc_type.encode()).hexdigest()
    else:
        doc["url"] = url
    return doc


INDUSTRIAL_DOCUMENTS = (
    "identity_proof",
    "ownership_proof",
    "incorporation_certificate",
    "site_plan",
    "electrical_inspector_approval",
    "pollution_consent",
)


def industrial_form(area_class: str = "other_urban", **supply: Any) -> dict[str, Any]:
    """An HT industrial application: 1,200 kVA at 11 kV in Mandideep-like surroundings."""
    return {
        "enterprise": {
            "name": "Narmada Textiles Private Limited",
            "name_hi": "नर्मदा टेक्सटाइल्स प्राइवेट लिमिटेड",
            "constitution": "company",
            "pan": "AAACN1234F",
            "gstin": "23AAACN1234F1Z5",
        },
        "contact": {"name": "Kiran Sharma", "mobile": "9876543210", "email": "kiran@narmadatex.example"},
        "premises": {
            "address_line": "Plot 14, Industrial Area Phase II",
            "locality": "Mandideep",
            "district": "Raisen",
            "pin_code": "462046",
            "area_class": area_class,
        },
        "supply": {
            "category": "ht_industrial",
            "connected_load": {"value": "1500", "unit": "kW"},
            "contract_demand": {"value": "1200", "unit": "kVA"},
            "supply_voltage": "11kV",
            "purpose": "Spinning mill",
            **supply,
        },
        "documents": [document(t) for t in INDUSTRIAL_DOCUMENTS],
    }


def lt_industrial_form(area_class: str = "metro") -> dict[str, Any]:
    return {
        "enterprise": {"name": "Shree Fabricators", "constitution": "proprietorship", "pan": "ABCPS1234K"},
        "contact": {"name": "Ramesh Patel", "mobile": "9425012345"},
        "premises": {
            "address_line": "Shed 7, Govindpura Industrial Area",
            "district": "Bhopal",
            "pin_code": "462023",
            "area_class": area_class,
        },
        "supply": {
            "category": "lt_industrial",
            "connected_load": {"value": "40", "unit": "HP"},
            "supply_voltage": "415V",
        },
        "documents": [
            document(t)
            for t in ("identity_proof", "ownership_proof", "incorporation_certificate", "site_plan")
        ],
    }


def submission(sw_id: str, form: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {"sw_application_id": sw_id, "form_version": version, "form": form}
