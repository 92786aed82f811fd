"""XML documents: schema, our verifier, and an independent implementation (libxmlsec1)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from certs.document import Document
from certs.errors import (
    InvalidDocumentError,
    MalformedDocumentError,
    TamperedDocumentError,
    UnsupportedSchemaVersionError,
    UntrustedSignerError,
    VerificationError,
)
from certs.issuer import DocumentIssuer, IssuedDocument
from certs.keys import KeyRing
from certs.xmldoc import NAMESPACE, build_xml, schema_errors
from certs.xmldsig import DS_NS, XmlSignatureVerifier, sign_element, sign_with_identity

from .conftest import make_document

N = "{" + NAMESPACE + "}"


def xmlsec1_verify(xml: bytes, ca: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    f = tmp_path / "doc.xml"
    f.write_bytes(xml)
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(ca), "--enabled-reference-uris", "empty", str(f)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def one_byte_change(xml: bytes) -> bytes:
    i = xml.index(b"Kiran Sharma")
    changed = xml[:i] + b"L" + xml[i + 1 :]
    assert len(changed) == len(xml) and changed != xml
    return changed


# ----------------------------------------------------------------------------- schema


def test_schema_rejects_a_document_missing_a_required_field() -> None:
    root = build_xml(make_document())
    assert schema_errors(root) == []
    number = root.find(N + "Number")
    assert number is not None
    root.remove(number)
    errors = schema_errors(root)
    assert errors and "Number" in " ".join(errors)


def test_build_refuses_to_produce_an_invalid_document() -> None:
    doc = make_document(number="not a number!")
    with pytest.raises(InvalidDocumentError):
        build_xml(doc)


def test_signed_root_has_no_id_and_reference_is_empty_uri(issued: IssuedDocument) -> None:
    root = etree.fromstring(issued.xml)
    assert root.get("Id") is None and root.get("ID") is None
    refs = root.findall(f".//{{{DS_NS}}}Reference")
    assert [r.get("URI") for r in refs] == [""]
    algs = {el.get("Algorithm") for el in root.iter() if el.get("Algorithm")}
    assert "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" in algs
    assert "http://www.w3.org/2001/04/xmlenc#sha256" in algs
    assert "http://www.w3.org/2001/10/xml-exc-c14n#" in algs
    assert root.find(f".//{{{DS_NS}}}X509Certificate") is not None


# ----------------------------------------------------------------------------- our verifier


def test_round_trip_returns_the_document(
    issuer: DocumentIssuer, issued: IssuedDocument, issued_doc: Document
) -> None:
    verified = issuer.verify_xml(issued.xml)
    assert verified.document == issued_doc
    assert verified.document.holder.name_deva == "किरण शर्मा"
    assert verified.document.number == "MPCZ/ND/2026-27/000123"
    assert verified.signer_kid == issuer.keyring.current.kid
    assert verified.xml_sha256 == issued.xml_sha256


def test_no_connection_certificate_round_trips(issuer: DocumentIssuer) -> None:
    doc = make_document(connections=False)
    verified = issuer.verify_xml(issuer.issue(doc).xml)
    assert verified.document.connections == ()
    assert verified.document == doc


def test_one_byte_change_is_tampered(issuer: DocumentIssuer, issued: IssuedDocument) -> None:
    with pytest.raises(TamperedDocumentError) as err:
        issuer.verify_xml(one_byte_change(issued.xml))
    assert err.value.code == "document_tampered"


def test_foreign_signer_is_untrusted(issuer: DocumentIssuer, foreign_keyring: KeyRing) -> None:
    forged = DocumentIssuer(foreign_keyring).issue(make_document())
    with pytest.raises(UntrustedSignerError) as err:
        issuer.verify_xml(forged.xml)
    assert err.value.code == "signer_untrusted"


def test_unsupported_schema_version(issuer: DocumentIssuer, keyring: KeyRing) -> None:
    # A genuinely signed document of a later schema version (as a newer hub would issue it).
    unsigned = etree.tostring(build_xml(make_document()))
    future_root = etree.fromstring(
        unsigned.replace(b"urn:discom-hub:documents:1.0", b"urn:discom-hub:documents:2.0")
    )
    future = etree.tostring(sign_with_identity(future_root, keyring.current))
    with pytest.raises(UnsupportedSchemaVersionError) as err:
        issuer.verify_xml(future)
    assert err.value.code == "schema_version_unsupported"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<Document", "xml_malformed"),
        (b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "xml_doctype_forbidden"),
        (b"<a>" + b"x" * (600 * 1024) + b"</a>", "xml_too_large"),
    ],
)
def test_hostile_or_malformed_input(issuer: DocumentIssuer, data: bytes, reason: str) -> None:
    with pytest.raises(MalformedDocumentError) as err:
        issuer.verify_xml(data)
    assert err.value.code == "document_malformed"
    assert err.value.reason == reason


def test_unsigned_document_is_malformed(issuer: DocumentIssuer) -> None:
    with pytest.raises(MalformedDocumentError):
        issuer.verify_xml(etree.tostring(build_xml(make_document())))


def _find(root: etree._Element, path: str) -> etree._Element:
    el = root.find(path)
    assert el is not None, path
    return el


def _wrapping_rewrites(xml: bytes) -> list[bytes]:
    """Two classic XML signature wrapping shapes, each carrying forged holder data."""
    signed = etree.fromstring(xml)
    sig_path = f"{{{DS_NS}}}Signature"
    name_path = f"{N}Holder/{N}NameLatin"

    # 1. Forged root; the genuine signed document hidden (with its signature) inside it.
    forged1 = copy.deepcopy(signed)
    forged1.remove(_find(forged1, sig_path))
    _find(forged1, name_path).text = "Forged Person"
    hidden = etree.SubElement(_find(forged1, N + "Details"), N + "Item", key="x", type="text")
    hidden.append(copy.deepcopy(signed))

    # 2. Forged root enveloping the genuine signature, the genuine content moved into ds:Object.
    forged2 = copy.deepcopy(signed)
    _find(forged2, name_path).text = "Forged Person"
    obj = etree.SubElement(_find(forged2, sig_path), f"{{{DS_NS}}}Object")
    original = copy.deepcopy(signed)
    original.remove(_find(original, sig_path))
    obj.append(original)
    return [etree.tostring(forged1), etree.tostring(forged2)]


def test_signature_wrapping_never_returns_forged_data(issuer: DocumentIssuer, issued: IssuedDocument) -> None:
    for forged in _wrapping_rewrites(issued.xml):
        assert b"Forged Person" in forged
        with pytest.raises(VerificationError):
            issuer.verify_xml(forged)


def test_sign_element_for_soap_payload(keyring: KeyRing) -> None:
    payload = etree.fromstring(b'<r:Answer xmlns:r="urn:example:answer"><r:Status>ok</r:Status></r:Answer>')
    signed = sign_element(payload, keyring)
    data = etree.tostring(signed)
    result = XmlSignatureVerifier(keyring).verify(data)
    assert result.signer_kid == keyring.current.kid
    assert result.signed_root.findtext("{urn:example:answer}Status") == "ok"
    with pytest.raises(TamperedDocumentError):
        XmlSignatureVerifier(keyring).verify(data.replace(b">ok<", b">no<"))


# ----------------------------------------------------------------------------- xmlsec1 (libxmlsec1)


def test_xmlsec1_accepts_our_signature(issued: IssuedDocument, ca_pem: Path, tmp_path: Path) -> None:
    result = xmlsec1_verify(issued.xml, ca_pem, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout + result.stderr


def test_xmlsec1_rejects_one_byte_change(issued: IssuedDocument, ca_pem: Path, tmp_path: Path) -> None:
    result = xmlsec1_verify(one_byte_change(issued.xml), ca_pem, tmp_path)
    assert result.returncode != 0
    assert "FAIL" in result.stdout + result.stderr


def test_xmlsec1_rejects_wrapping(issued: IssuedDocument, ca_pem: Path, tmp_path: Path) -> None:
    for forged in _wrapping_rewrites(issued.xml):
        assert xmlsec1_verify(forged, ca_pem, tmp_path).returncode != 0


def test_xmlsec1_rejects_foreign_ca(issued: IssuedDocument, foreign_ca_pem: Path, tmp_path: Path) -> None:
    assert xmlsec1_verify(issued.xml, foreign_ca_pem, tmp_path).returncode != 0


# ----------------------------------------------------------------------------- python-xmlsec


def _python_xmlsec_verify(xml: bytes, ca: Path) -> bool:
    xmlsec = pytest.importorskip("xmlsec")
    root = etree.fromstring(xml)
    node = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    manager = xmlsec.KeysManager()
    manager.load_cert(str(ca), xmlsec.constants.KeyDataFormatPem, xmlsec.constants.KeyDataTypeTrusted)
    ctx = xmlsec.SignatureContext(manager)
    try:
        ctx.verify(node)
    except xmlsec.Error:
        return False
    return True


def test_python_xmlsec_agrees(issued: IssuedDocument, ca_pem: Path, foreign_ca_pem: Path) -> None:
    assert _python_xmlsec_verify(issued.xml, ca_pem)
    assert not _python_xmlsec_verify(one_byte_change(issued.xml), ca_pem)
    assert not _python_xmlsec_verify(issued.xml, foreign_ca_pem)
