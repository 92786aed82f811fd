"""Key ring: development keys, rotation, PKCS#12, publication; QR payload verification."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from lxml import etree

from certs.errors import (
    KeyRingError,
    QrBadSignatureError,
    QrExpiredError,
    QrMalformedError,
    QrUnknownKeyError,
)
from certs.issuer import DocumentIssuer
from certs.keys import KeyRing
from certs.qr import verify_qr_payload
from certs.xmldsig import XmlSignatureVerifier, sign_element

from .conftest import make_document


def test_development_keys_are_created_once_and_private(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ring, created = KeyRing.ensure_development(directory)
    assert created
    again, created_again = KeyRing.ensure_development(directory)
    assert not created_again
    assert again.current.kid == ring.current.kid
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    secrets = [
        directory / "dev-ca.key.pem",
        *directory.glob("identities/*/*key.pem"),
        *directory.glob("identities/*/evidence.p12"),
    ]
    assert len(secrets) == 4
    for path in secrets:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (directory / "CURRENT").read_text().strip() == ring.current.kid
    # The signer chains to the dev CA, which is the only trust anchor.
    assert ring.current.certificate.issuer == ring.trust_anchors[0].subject
    assert len(ring.trust_anchors) == 1
    # So does the evidence signer: a P-256 key with its own certificate from the same CA.
    evidence = ring.current.evidence
    assert evidence is not None
    assert isinstance(evidence.private_key.curve, ec.SECP256R1)
    evidence.certificate.verify_directly_issued_by(ring.trust_anchors[0])
    assert evidence.certificate != ring.current.certificate
    assert again.current.evidence is not None and again.current.evidence.kid == evidence.kid


def test_rotation_keeps_old_documents_verifying(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ring, _ = KeyRing.ensure_development(directory)
    before = DocumentIssuer(ring).issue(make_document())
    evidence_before = _evidence(ring)

    rotated = KeyRing.rotate(directory)
    assert rotated.current.kid != ring.current.kid
    assert {i.kid for i in rotated.identities} == {ring.current.kid, rotated.current.kid}
    # A restart reads the same state from disk.
    assert KeyRing.load(directory).current.kid == rotated.current.kid

    issuer = DocumentIssuer(rotated)
    old = issuer.verify_xml(before.xml)
    assert old.signer_kid == ring.current.kid
    after = issuer.issue(make_document(number="MPCZ/ND/2026-27/000124"))
    assert issuer.verify_xml(after.xml).signer_kid == rotated.current.kid

    jwks = rotated.public_jwks()
    assert [k["kid"] for k in jwks["keys"]] == [rotated.current.kid, ring.current.kid]
    assert verify_qr_payload(before.qr_payload, jwks).kid == ring.current.kid
    assert verify_qr_payload(after.qr_payload, jwks).kid == rotated.current.kid

    bundle = x509.load_pem_x509_certificates(rotated.published_pem())
    subjects = {c.subject for c in bundle}
    assert ring.current.certificate.subject in subjects
    assert rotated.current.certificate.subject in subjects
    assert rotated.trust_anchors[0].subject in subjects
    # Both evidence certificates are published, and evidence signed before the rotation
    # still verifies, attributed to the identity that signed it.
    old_evidence, new_evidence = ring.current.evidence, rotated.current.evidence
    assert old_evidence is not None and new_evidence is not None
    assert old_evidence.kid != new_evidence.kid
    assert {old_evidence.certificate.subject, new_evidence.certificate.subject} <= subjects
    assert len(bundle) == len({c.fingerprint(hashes.SHA256()) for c in bundle}) == 5
    verified = XmlSignatureVerifier(rotated).verify(evidence_before)
    assert (verified.signer_kid, verified.signer_role) == (ring.current.kid, "evidence")
    verified = XmlSignatureVerifier(rotated).verify(_evidence(rotated))
    assert (verified.signer_kid, verified.signer_role) == (rotated.current.kid, "evidence")


def _evidence(ring: KeyRing) -> bytes:
    return etree.tostring(sign_element(etree.fromstring(b'<a xmlns="urn:a"><b>1</b></a>'), ring))


def test_development_directory_without_evidence_key_gets_one(tmp_path: Path) -> None:
    """A development key directory made before evidence keys existed: the dev CA issues one."""
    directory = tmp_path / "keys"
    ring, _ = KeyRing.ensure_development(directory)
    (directory / "identities" / ring.current.kid / "evidence.p12").unlink()
    assert KeyRing.load(directory).current.evidence is None
    upgraded, created = KeyRing.ensure_development(directory)
    assert created
    assert upgraded.current.kid == ring.current.kid
    assert upgraded.current.evidence is not None
    assert XmlSignatureVerifier(upgraded).verify(_evidence(upgraded)).signer_role == "evidence"


def test_rotate_without_dev_ca_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError):
        KeyRing.rotate(tmp_path)


def _p12_from(ring: KeyRing, passphrase: bytes) -> bytes:
    identity = ring.current
    return pkcs12.serialize_key_and_certificates(
        b"hub",
        identity.private_key,  # type: ignore[arg-type]
        identity.certificate,
        list(ring.trust_anchors),
        BestAvailableEncryption(passphrase),
    )


def test_pkcs12_install_and_load(keyring: KeyRing, tmp_path: Path) -> None:
    # Stand-in for a certifying authority's PKCS#12: key + signer cert + CA chain.
    p12 = _p12_from(keyring, b"s3cret")
    directory = tmp_path / "prod-keys"
    ring = KeyRing.install_pkcs12(directory, p12, b"s3cret")
    assert ring.current.kid == keyring.current.kid
    assert [c.subject for c in ring.trust_anchors] == [keyring.trust_anchors[0].subject]
    p12_path = directory / "identities" / ring.current.kid / "identity.p12"
    assert stat.S_IMODE(p12_path.stat().st_mode) == 0o600
    # The QR key on disk is encrypted with the passphrase.
    assert b"ENCRYPTED" in (p12_path.parent / "qr-key.pem").read_bytes()

    reloaded = KeyRing.from_pkcs12([p12_path], b"s3cret")
    issued = DocumentIssuer(reloaded).issue(make_document())
    assert DocumentIssuer(keyring).verify_xml(issued.xml).document.number == "MPCZ/ND/2026-27/000123"
    with pytest.raises(KeyRingError):
        KeyRing.load(directory, b"wrong")
    # Installed without an evidence PKCS#12: evidence falls back to the document key.
    assert ring.current.evidence is None


def _evidence_p12_from(ring: KeyRing, passphrase: bytes) -> bytes:
    evidence = ring.current.evidence
    assert evidence is not None
    return pkcs12.serialize_key_and_certificates(
        b"evidence", evidence.private_key, evidence.certificate, None, BestAvailableEncryption(passphrase)
    )


def test_pkcs12_install_with_evidence_key(keyring: KeyRing, tmp_path: Path) -> None:
    directory = tmp_path / "prod-keys"
    ring = KeyRing.install_pkcs12(
        directory,
        _p12_from(keyring, b"s3cret"),
        b"s3cret",
        evidence_p12=_evidence_p12_from(keyring, b"s3cret"),
    )
    assert keyring.current.evidence is not None
    assert ring.current.evidence is not None and ring.current.evidence.kid == keyring.current.evidence.kid
    evidence_path = directory / "identities" / ring.current.kid / "evidence.p12"
    assert stat.S_IMODE(evidence_path.stat().st_mode) == 0o600
    assert KeyRing.load(directory, b"s3cret").current.evidence is not None
    # from_pkcs12 takes the evidence key next to the identity's PKCS#12 too.
    reloaded = KeyRing.from_pkcs12([evidence_path.parent / "identity.p12"], b"s3cret")
    assert reloaded.current.evidence is not None
    # Verified by the CA's key ring (the verifier knows the CA, not this directory).
    signed = XmlSignatureVerifier(keyring).verify(_evidence(reloaded))
    assert (signed.signer_kid, signed.signer_role) == (keyring.current.kid, "evidence")


def test_evidence_pkcs12_added_to_an_installed_directory_once(keyring: KeyRing, tmp_path: Path) -> None:
    directory = tmp_path / "prod-keys"
    KeyRing.install_pkcs12(directory, _p12_from(keyring, b"s3cret"), b"s3cret")
    evidence_p12 = _evidence_p12_from(keyring, b"s3cret")
    ring = KeyRing.add_evidence_pkcs12(directory, evidence_p12, b"s3cret")
    assert ring.current.evidence is not None
    path = directory / "identities" / ring.current.kid / "evidence.p12"
    before = path.read_bytes()
    # Never replaced: a second (different) evidence PKCS#12 leaves the installed one.
    other, _ = KeyRing.ensure_development(tmp_path / "other-dev")
    again = KeyRing.add_evidence_pkcs12(directory, _evidence_p12_from(other, b"s3cret"), b"s3cret")
    assert again.current.evidence is not None and again.current.evidence.kid == ring.current.evidence.kid
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_evidence_pkcs12_from_another_ca_is_refused_before_anything_is_written(
    keyring: KeyRing, foreign_keyring: KeyRing, tmp_path: Path
) -> None:
    foreign_evidence = _evidence_p12_from(foreign_keyring, b"s3cret")
    directory = tmp_path / "prod-keys"
    with pytest.raises(KeyRingError, match="not issued under a trust anchor"):
        KeyRing.install_pkcs12(
            directory, _p12_from(keyring, b"s3cret"), b"s3cret", evidence_p12=foreign_evidence
        )
    assert not (directory / "identities").exists() and not (directory / "CURRENT").exists()
    KeyRing.install_pkcs12(directory, _p12_from(keyring, b"s3cret"), b"s3cret")
    with pytest.raises(KeyRingError, match="not issued under a trust anchor"):
        KeyRing.add_evidence_pkcs12(directory, foreign_evidence, b"s3cret")
    assert KeyRing.load(directory, b"s3cret").current.evidence is None


def test_evidence_key_must_be_p256(keyring: KeyRing, tmp_path: Path) -> None:
    # The document identity's RSA PKCS#12 offered as the evidence key.
    directory = tmp_path / "prod-keys"
    with pytest.raises(KeyRingError, match="P-256"):
        KeyRing.install_pkcs12(
            directory, _p12_from(keyring, b"s3cret"), b"s3cret", evidence_p12=_p12_from(keyring, b"s3cret")
        )
    assert not (directory / "CURRENT").exists()


def test_qr_round_trip(issuer: DocumentIssuer, issued, issued_doc) -> None:  # type: ignore[no-untyped-def]
    claims = issuer.verify_qr(issued.qr_payload)
    assert claims.number == issued_doc.number
    assert claims.kind == "no_dues_certificate"
    assert claims.holder_name == "किरण शर्मा (Kiran Sharma)"
    assert claims.xml_sha256 == issued.xml_sha256
    assert claims.valid_until == issued_doc.valid_until
    assert claims.verification_url == issued_doc.verification_url


def test_qr_tampered_payload(issuer: DocumentIssuer, issued) -> None:  # type: ignore[no-untyped-def]
    header, payload, signature = issued.qr_payload.split(".")
    # Change one character of the payload: still base64url, no longer what was signed.
    swapped = ("B" if payload[10] != "B" else "C").join([payload[:10], payload[11:]])
    with pytest.raises(QrBadSignatureError):
        issuer.verify_qr(f"{header}.{swapped}.{signature}")
    with pytest.raises(QrBadSignatureError):
        issuer.verify_qr(f"{header}.{payload}.{signature[:-4]}AAAA")


def test_qr_unknown_kid(issued, foreign_keyring: KeyRing) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QrUnknownKeyError):
        verify_qr_payload(issued.qr_payload, foreign_keyring.public_jwks())


def test_qr_signed_by_foreign_key_under_our_kid(keyring: KeyRing, foreign_keyring: KeyRing) -> None:
    forged = DocumentIssuer(foreign_keyring).issue(make_document())
    jwks = {"keys": [dict(k, kid=foreign_keyring.current.kid) for k in keyring.public_jwks()["keys"]]}
    with pytest.raises(QrBadSignatureError):
        verify_qr_payload(forged.qr_payload, jwks)


def test_qr_expired(issuer: DocumentIssuer, issued, issued_doc) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QrExpiredError):
        issuer.verify_qr(issued.qr_payload, now=issued_doc.valid_until + dt.timedelta(seconds=1))


@pytest.mark.parametrize("token", ["", "a.b", "not-a-jws.at.all", "x" * 5000])
def test_qr_malformed(issuer: DocumentIssuer, token: str) -> None:
    with pytest.raises(QrMalformedError):
        issuer.verify_qr(token)
