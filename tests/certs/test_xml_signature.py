"""XML documents: schema, our verifier, and an independent implementation (libxmlsec1)."""

from __future__ import annotations

import base64
import copy
import hashlib
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
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
from certs.xmldsig import (
    DS_NS,
    XmlSignatureVerifier,
    sign_element,
    sign_with_identity,
)

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


# ----------------------------------------------------------------------------- evidence signer (ECDSA P-256)

DEVANAGARI_ANSWER = (
    '<e:VerifyCertificateResponse xmlns:e="urn:discom-hub:election:1">'
    "<e:answered_at>2026-11-23T10:30:00+05:30</e:answered_at>"
    "<e:result><e:number>MPCZ/ND/2026-27/000123</e:number><e:status>valid</e:status>"
    "<e:holder_name>किरण शर्मा (Kiran Sharma)</e:holder_name>"
    '<e:note kind="a &amp; &lt;b&gt; &quot;c&quot;&#10;&#9;">शिकायत क्रमांक: कोई नहीं &amp; 5 &gt; 4&#13;</e:note>'
    "</e:result></e:VerifyCertificateResponse>"
).encode()
# Namespaces declared on inner elements, an unused declaration on the root, a default namespace
# switched and undeclared below, a prefix reused for another URI, attributes in the xml namespace:
# exclusive C14N renders each namespace where it is visibly used and drops the unused one.
INNER_NAMESPACES = (
    b'<Answer xmlns="urn:a" xmlns:unused="urn:unused" xml:lang="hi">'
    b'<p:part xmlns:p="urn:p" xmlns:q="urn:q"><q:leaf q:attr="1" b="2" a="3">x</q:leaf>'
    b'<inner xmlns="urn:b"><deeper xmlns=""/></inner></p:part>'
    b'<p:other xmlns:p="urn:p2" xml:space="preserve"> y </p:other><!-- not signed: URI="" drops comments -->'
    b"</Answer>"
)
EVIDENCE_PAYLOADS = {
    "ascii": b'<r:Answer xmlns:r="urn:example:answer"><r:Status>ok</r:Status></r:Answer>',
    "devanagari": DEVANAGARI_ANSWER,
    "inner-namespaces": INNER_NAMESPACES,
    "foreign-ds-prefix": b'<a xmlns="urn:d" xmlns:ds="urn:not-xmldsig"><ds:b>1</ds:b></a>',
}
ECDSA_SHA256_URI = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


def evidence_sign(xml: bytes, keyring: KeyRing) -> bytes:
    return etree.tostring(sign_element(etree.fromstring(xml), keyring), encoding="utf-8")


def _ds(root: etree._Element, path: str) -> etree._Element:
    return _find(root, path.replace("ds:", f"{{{DS_NS}}}"))


def _change_signature_value(xml: bytes) -> bytes:
    root = etree.fromstring(xml)
    value = _ds(root, "ds:Signature/ds:SignatureValue")
    raw = bytearray(base64.b64decode(value.text or ""))
    raw[40] ^= 0x01  # one bit of s
    value.text = base64.b64encode(bytes(raw)).decode()
    return etree.tostring(root, encoding="utf-8")


def _change_one_payload_byte(xml: bytes) -> bytes:
    i = xml.index(b"</", 1) - 1  # the last character of the first text node
    changed = xml[:i] + (b"Z" if xml[i : i + 1] != b"Z" else b"Y") + xml[i + 1 :]
    assert len(changed) == len(xml) and changed != xml
    return changed


def test_evidence_signer_writes_the_profile_with_a_raw_ecdsa_value(keyring: KeyRing) -> None:
    evidence = keyring.current.evidence
    assert evidence is not None
    payload = etree.fromstring(DEVANAGARI_ANSWER)
    signed = sign_element(payload, keyring)
    assert signed is payload, "the evidence signer signs in place"
    signature = signed[-1]
    assert signature.tag == f"{{{DS_NS}}}Signature"
    algorithms = [el.get("Algorithm") for el in signature.iter() if el.get("Algorithm")]
    assert algorithms == [
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        ECDSA_SHA256_URI,
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    ]
    assert [r.get("URI") for r in signature.iter(f"{{{DS_NS}}}Reference")] == [""]
    certificates = [el.text for el in signature.iter(f"{{{DS_NS}}}X509Certificate")]
    assert certificates == [base64.b64encode(evidence.certificate.public_bytes(Encoding.DER)).decode()]

    # Independently of any XML-DSig library: the value is r || s (32 bytes each, RFC 4050 /
    # RFC 6931 2.3.6), over the exclusive canonical form of SignedInfo as it sits in the tree.
    value = base64.b64decode(_ds(signature, "ds:SignatureValue").text or "")
    assert len(value) == 64
    r, s = int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
    signed_info = etree.tostring(_ds(signature, "ds:SignedInfo"), method="c14n", exclusive=True)
    evidence.private_key.public_key().verify(
        encode_dss_signature(r, s), signed_info, ec.ECDSA(hashes.SHA256())
    )
    # ...and the digest is that of the payload without the Signature, exclusive-canonicalised.
    unsigned = copy.deepcopy(signed)
    unsigned.remove(unsigned[-1])
    digest = hashlib.sha256(etree.tostring(unsigned, method="c14n", exclusive=True)).digest()
    assert (
        _ds(signature, "ds:SignedInfo/ds:Reference/ds:DigestValue").text == base64.b64encode(digest).decode()
    )


@pytest.mark.parametrize("name", sorted(EVIDENCE_PAYLOADS))
def test_evidence_signature_verifies_everywhere(
    name: str, keyring: KeyRing, ca_pem: Path, tmp_path: Path
) -> None:
    signed = evidence_sign(EVIDENCE_PAYLOADS[name], keyring)
    result = XmlSignatureVerifier(keyring).verify(signed)
    assert result.signer_role == "evidence"
    assert result.signer_kid == keyring.current.kid
    evidence = keyring.current.evidence
    assert evidence is not None and result.signer_certificate == evidence.certificate
    # What the verifier returns is the payload as signed (the text survives the round trip).
    expected = etree.fromstring(EVIDENCE_PAYLOADS[name])
    assert [el.text for el in result.signed_root.iter() if isinstance(el.tag, str)] == [
        el.text for el in expected.iter() if isinstance(el.tag, str)
    ]
    checked = xmlsec1_verify(signed, ca_pem, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert _python_xmlsec_verify(signed, ca_pem)


@pytest.mark.parametrize("name", sorted(EVIDENCE_PAYLOADS))
def test_evidence_signature_refuses_one_changed_byte(
    name: str, keyring: KeyRing, ca_pem: Path, tmp_path: Path
) -> None:
    signed = evidence_sign(EVIDENCE_PAYLOADS[name], keyring)
    for changed in (_change_one_payload_byte(signed), _change_signature_value(signed)):
        with pytest.raises(TamperedDocumentError):
            XmlSignatureVerifier(keyring).verify(changed)
        result = xmlsec1_verify(changed, ca_pem, tmp_path)
        assert result.returncode != 0
        assert "FAIL" in result.stdout + result.stderr
        assert not _python_xmlsec_verify(changed, ca_pem)


def test_evidence_survives_the_soap_envelope(keyring: KeyRing, ca_pem: Path, tmp_path: Path) -> None:
    """Signed standalone, carried in an envelope with its own namespaces, archived on its own."""
    payload = sign_element(etree.fromstring(INNER_NAMESPACES), keyring)
    envelope = etree.fromstring(
        b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:p="urn:elsewhere">'
        b"<soap:Body/></soap:Envelope>"
    )
    envelope[0].append(payload)
    wire = etree.tostring(envelope, encoding="utf-8")
    archived = etree.tostring(etree.fromstring(wire)[0][0], encoding="utf-8")
    assert XmlSignatureVerifier(keyring).verify(archived).signer_role == "evidence"
    assert xmlsec1_verify(archived, ca_pem, tmp_path).returncode == 0


def test_evidence_from_a_foreign_ca_is_untrusted(
    keyring: KeyRing, foreign_keyring: KeyRing, ca_pem: Path, tmp_path: Path
) -> None:
    forged = evidence_sign(EVIDENCE_PAYLOADS["ascii"], foreign_keyring)
    with pytest.raises(UntrustedSignerError):
        XmlSignatureVerifier(keyring).verify(forged)
    assert xmlsec1_verify(forged, ca_pem, tmp_path).returncode != 0
    assert not _python_xmlsec_verify(forged, ca_pem)


def test_an_evidence_key_cannot_sign_documents(issuer: DocumentIssuer, keyring: KeyRing) -> None:
    # A well-formed signature from our CA, but made with the key reserved for SOAP answers.
    document = etree.tostring(sign_element(build_xml(make_document()), keyring))
    with pytest.raises(UntrustedSignerError):
        issuer.verify_xml(document)


def test_evidence_signer_refuses_an_id(keyring: KeyRing) -> None:
    with pytest.raises(ValueError):
        sign_element(etree.fromstring(b'<a Id="x"><b/></a>'), keyring)


def test_evidence_signer_is_thread_safe(keyring: KeyRing) -> None:
    def sign(i: int) -> bytes:
        return evidence_sign(f'<r:A xmlns:r="urn:r"><r:n>{i}</r:n></r:A>'.encode(), keyring)

    with ThreadPoolExecutor(max_workers=4) as pool:
        signed = list(pool.map(sign, range(64)))
    verifier = XmlSignatureVerifier(keyring)
    assert [verifier.verify(s).signed_root.findtext("{urn:r}n") for s in signed] == [
        str(i) for i in range(64)
    ]


def test_without_an_evidence_key_evidence_is_signed_with_the_document_key(keyring: KeyRing) -> None:
    no_evidence = replace(keyring.current, evidence=None)
    ring = KeyRing(current=no_evidence, identities=(no_evidence,), trust_anchors=keyring.trust_anchors)
    payload = etree.fromstring(EVIDENCE_PAYLOADS["ascii"])
    signed = sign_element(payload, ring)
    assert signed is not payload and len(payload) == 1, "signxml signs a copy"
    assert (
        _ds(signed, "ds:Signature/ds:SignedInfo/ds:SignatureMethod")
        .get("Algorithm", "")
        .endswith("rsa-sha256")
    )
    result = XmlSignatureVerifier(ring).verify(etree.tostring(signed))
    assert (result.signer_kid, result.signer_role) == (keyring.current.kid, "document")
