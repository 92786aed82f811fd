"""The PDF text layer gives back exactly the words printed, and every page names the document.

Shaped Devanagari is drawn as glyph ids; without /ActualText, poppler's pdftotext read
"रमेश कुमार शर्मा" as "रमेश कुमार शमा" (the reph is lost), so copy, search and screen readers
got other words. These tests read the signed PDF back with the real pdftotext.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from certs.document import Document
from certs.issuer import DocumentIssuer, IssuedDocument

from .conftest import make_document
from .test_pdf_signature import _nss_db, pdfsig

NAME = "रमेश कुमार शर्मा"


def pdftotext(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page, whitespace collapsed (line breaks depend on layout, not words)."""
    f = tmp_path / "doc.pdf"
    f.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(f), "-"], capture_output=True, text=True, check=True, timeout=60)
    return [" ".join(page.split()) for page in out.stdout.split("\f") if page.strip()]


@pytest.fixture(scope="module")
def long_document() -> Document:
    """A no-dues certificate over 25 connections: more than one page."""
    doc = make_document(name_deva=NAME)
    first = doc.connections[0]
    connections = tuple(dataclasses.replace(first, consumer_number=f"N34567{n:05d}") for n in range(25))
    return dataclasses.replace(doc, connections=connections)


@pytest.fixture(scope="module")
def long_certificate(issuer: DocumentIssuer, long_document: Document) -> IssuedDocument:
    return issuer.issue(long_document)


def test_devanagari_text_layer_equals_source_strings(
    long_certificate: IssuedDocument, long_document: Document, tmp_path: Path
) -> None:
    text = " ".join(pdftotext(long_certificate.pdf, tmp_path))
    doc = long_document
    for source in (
        NAME,
        f"{NAME} (Kiran Sharma)",
        doc.issuer.discom_name_hi,
        doc.issuer.officer_designation_hi,
        doc.kind_info.title_hi,
        doc.kind_info.statement_hi.format(holder=doc.holder.display_name),
        "शिकायत क्रमांक: कोई नहीं",
    ):
        assert source in text, source
    assert "शमा " not in text


def test_every_page_names_the_document_and_counts_pages(
    long_certificate: IssuedDocument, long_document: Document, tmp_path: Path
) -> None:
    pages = pdftotext(long_certificate.pdf, tmp_path)
    assert len(pages) >= 2
    number = long_document.number
    for n, page in enumerate(pages, start=1):
        assert f"{number} · Page {n} of {len(pages)} · पृष्ठ {n} / {len(pages)}" in page, page
    # The connections table keeps its column names on the continuation page.
    assert len(re.findall(r"Consumer number / उपभोक्ता क्रमांक", " ".join(pages))) == 2


def test_long_certificate_signature_still_verifies(
    long_certificate: IssuedDocument, ca_pem: Path, tmp_path: Path
) -> None:
    out = pdfsig(long_certificate.pdf, _nss_db(tmp_path, ca_pem, "hub-ca"), tmp_path)
    assert "Signature is Valid" in out, out
    assert "Total document signed" in out, out
