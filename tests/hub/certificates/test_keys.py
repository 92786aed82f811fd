"""DocumentKeys: which key signs SOAP evidence in development and production, and the fallback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from lxml import etree

from certs.errors import KeyRingError
from certs.keys import KeyRing
from certs.xmldsig import DS_NS, XmlSignatureVerifier
from hub.certificates.keys import DocumentKeys, load_keyring, rotate_document_keys
from hub.settings import validate

PASSPHRASE = "s3cret"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.fixture(scope="module")
def ca_ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """Stands in for the certifying authority: issues the PKCS#12 files production is given."""
    ring, _ = KeyRing.ensure_development(tmp_path_factory.mktemp("ca"))
    return ring


def _write_p12s(ring: KeyRing, directory: Path) -> tuple[Path, Path]:
    identity, evidence = ring.current, ring.current.evidence
    assert evidence is not None
    encryption = BestAvailableEncryption(PASSPHRASE.encode())
    signing = directory / "signing.p12"
    signing.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"hub",
            identity.private_key,  # type: ignore[arg-type]
            identity.certificate,
            list(ring.trust_anchors),
            encryption,
        )
    )
    evidence_path = directory / "evidence.p12"
    evidence_path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"evidence", evidence.private_key, evidence.certificate, None, encryption
        )
    )
    return signing, evidence_path


def _settings(keys_dir: Path, **extra: str) -> dict[str, Any]:
    """Settings as the app reads them: declared ones parsed, the rest their defaults."""
    settings: dict[str, Any] = {
        "hub.database_url": "sqlite://",
        "hub.secret_key": "test-secret-key-of-thirty-two-chars!",
        "hub.keys_dir": str(keys_dir),
        "hub.discom.name_en": "Test Discom",
        "hub.keys_pkcs12_passphrase": PASSPHRASE,
        **extra,
    }
    validate(settings)
    return settings


def _sign(keys: DocumentKeys) -> tuple[str, Any]:
    """Sign a payload through the hub's signer; the signature method and what our verifier says."""
    signed = keys.sign_element(etree.fromstring(b'<e:A xmlns:e="urn:e"><e:s>valid</e:s></e:A>'))
    method = signed.find(f"{{{DS_NS}}}Signature/{{{DS_NS}}}SignedInfo/{{{DS_NS}}}SignatureMethod")
    assert method is not None
    return str(method.get("Algorithm")), XmlSignatureVerifier(keys.keyring).verify(etree.tostring(signed))


def _fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "no evidence key" in r.getMessage()]


def test_development_signs_evidence_with_ecdsa(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.certificates.keys"):
        keys = DocumentKeys(_settings(tmp_path / "keys"))
    method, verified = _sign(keys)
    assert method == ECDSA_SHA256
    assert (verified.signer_kid, verified.signer_role) == (keys.keyring.current.kid, "evidence")
    assert _fallback_warnings(caplog) == []


def test_production_with_evidence_pkcs12_signs_with_ecdsa(ca_ring: KeyRing, tmp_path: Path) -> None:
    signing, evidence = _write_p12s(ca_ring, tmp_path)
    keys = DocumentKeys(
        _settings(
            tmp_path / "keys", **{"hub.keys_pkcs12": str(signing), "hub.keys_evidence_pkcs12": str(evidence)}
        )
    )
    method, verified = _sign(keys)
    assert method == ECDSA_SHA256
    assert ca_ring.current.evidence is not None
    assert verified.signer_certificate == ca_ring.current.evidence.certificate
    assert verified.signer_role == "evidence"


def test_production_without_evidence_falls_back_to_rsa_and_warns_once(
    ca_ring: KeyRing, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    signing, _evidence = _write_p12s(ca_ring, tmp_path)
    settings = _settings(tmp_path / "keys", **{"hub.keys_pkcs12": str(signing)})
    with caplog.at_level(logging.WARNING, logger="hub.certificates.keys"):
        keys = DocumentKeys(settings, check_seconds=0)
        for _ in range(2):
            method, verified = _sign(keys)
            assert method == RSA_SHA256
            assert verified.signer_role == "document"
        # A reload (an operator's rotation touches CURRENT) does not repeat the warning.
        current = tmp_path / "keys" / "CURRENT"
        current.write_text(current.read_text() + "\n")
        assert _sign(keys)[0] == RSA_SHA256
    assert len(_fallback_warnings(caplog)) == 1
    assert not any("DEVELOPMENT" in r.getMessage() for r in caplog.records)


def test_evidence_pkcs12_configured_later_is_added_to_the_installed_directory(
    ca_ring: KeyRing, tmp_path: Path
) -> None:
    signing, evidence = _write_p12s(ca_ring, tmp_path)
    keys_dir = tmp_path / "keys"
    ring, created = load_keyring(_settings(keys_dir, **{"hub.keys_pkcs12": str(signing)}))
    assert created and ring.current.evidence is None
    settings = _settings(
        keys_dir, **{"hub.keys_pkcs12": str(signing), "hub.keys_evidence_pkcs12": str(evidence)}
    )
    ring, created = load_keyring(settings)
    assert not created and ring.current.evidence is not None
    assert _sign(DocumentKeys(settings))[0] == ECDSA_SHA256


def test_missing_evidence_file_is_named(ca_ring: KeyRing, tmp_path: Path) -> None:
    signing, _evidence = _write_p12s(ca_ring, tmp_path)
    settings = _settings(
        tmp_path / "keys",
        **{"hub.keys_pkcs12": str(signing), "hub.keys_evidence_pkcs12": str(tmp_path / "nope.p12")},
    )
    with pytest.raises(KeyRingError, match="hub.keys_evidence_pkcs12"):
        load_keyring(settings)


def test_rotation_installs_both_and_old_evidence_keeps_verifying(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "keys")
    keys = DocumentKeys(settings, check_seconds=0)
    before = etree.tostring(keys.sign_element(etree.fromstring(b'<e:A xmlns:e="urn:e"><e:s>1</e:s></e:A>')))
    old_kid = keys.keyring.current.kid
    new_kid = rotate_document_keys(settings)
    assert new_kid != old_kid
    assert keys.keyring.current.kid == new_kid
    method, verified = _sign(keys)
    assert method == ECDSA_SHA256 and verified.signer_kid == new_kid
    old = XmlSignatureVerifier(keys.keyring).verify(before)
    assert (old.signer_kid, old.signer_role) == (old_kid, "evidence")


def _load_kid(settings: dict[str, Any], start: Any, results: Any) -> None:
    start.wait()
    try:
        results.put(load_keyring(settings)[0].current.kid)
    except Exception as exc:  # reported to the test, which fails on it
        results.put(f"error: {exc!r}")


def _start_together(settings: dict[str, Any], processes: int = 6) -> list[str]:
    """Several processes load the key directory at the same instant, as `make run`'s processes start."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_load_kid, args=(settings, start, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    kids = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    return kids


def test_processes_starting_together_share_one_development_identity(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    kids = _start_together(_settings(keys_dir))
    assert len(set(kids)) == 1, kids
    assert not kids[0].startswith("error")
    assert [p.name for p in (keys_dir / "identities").iterdir()] == kids[:1]
    reloaded, created = load_keyring(_settings(keys_dir))
    assert (reloaded.current.kid, created) == (kids[0], False)


def test_processes_starting_together_install_the_pkcs12_once(ca_ring: KeyRing, tmp_path: Path) -> None:
    signing, evidence = _write_p12s(ca_ring, tmp_path)
    keys_dir = tmp_path / "keys"
    settings = _settings(
        keys_dir, **{"hub.keys_pkcs12": str(signing), "hub.keys_evidence_pkcs12": str(evidence)}
    )
    kids = _start_together(settings)
    assert kids == [ca_ring.current.kid] * len(kids)
    assert len(list((keys_dir / "identities").iterdir())) == 1
