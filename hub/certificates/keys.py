"""The hub's document signing keys: the key ring of this process, reloaded when an operator rotates.

Documents (XML-DSig, PAdES) are signed with the current identity's document key; answers kept
as evidence (signed SOAP answers, bulk reports) with its ECDSA evidence key when it has one.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from lxml import etree

from certs.errors import KeyRingError
from certs.issuer import DocumentIssuer
from certs.keys import KeyRing, key_directory_lock
from certs.wssecurity import message_signer
from certs.xmldsig import evidence_signer, sign_element

log = logging.getLogger(__name__)


class DocumentKeys:
    """The key ring and issuer of this process, reloaded when an operator rotates.

    ``hub-admin keys rotate`` changes the key directory's CURRENT file; every
    process notices within ``check_seconds`` and signs with the new identity,
    while documents signed by older identities keep verifying.
    """

    def __init__(self, settings: dict[str, Any], check_seconds: float = 10.0) -> None:
        self._settings = settings
        self._check = check_seconds
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._stamp: tuple[int, int] | None = None
        self._warned_rsa_evidence = False
        keyring, created = load_keyring(settings)
        if created and not settings["hub.keys_pkcs12"]:
            log.warning(
                "generated DEVELOPMENT signing keys from a development CA; never use them in production",
                extra={"keys_dir": settings["hub.keys_dir"]},
            )
        self._install(keyring)

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            st = (Path(self._settings["hub.keys_dir"]) / "CURRENT").stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _install(self, keyring: KeyRing) -> None:
        self._issuer = DocumentIssuer(
            keyring,
            timestamp_url=self._settings["hub.documents.timestamp_url"] or None,
            pades_location=self._settings["hub.discom.name_en"],
        )
        message_signer(keyring)  # built now, not on the first signed SOAP answer
        evidence = keyring.current.evidence
        if evidence is not None:
            evidence_signer(evidence)
        elif not self._warned_rsa_evidence:
            self._warned_rsa_evidence = True
            log.warning(
                "no evidence key: SOAP answers and bulk reports are signed with the RSA document key "
                "(slower than the ECDSA evidence key); configure hub.keys_evidence_pkcs12",
                extra={"kid": keyring.current.kid},
            )
        self._stamp = self._current_stamp()
        self._checked_at = time.monotonic()

    @property
    def issuer(self) -> DocumentIssuer:
        now = time.monotonic()
        if now - self._checked_at >= self._check:
            with self._lock:
                self._checked_at = now
                if self._current_stamp() != self._stamp:
                    self._install(load_keyring(self._settings)[0])
                    log.info(
                        "document signing keys reloaded", extra={"kid": self._issuer.keyring.current.kid}
                    )
        return self._issuer

    @property
    def keyring(self) -> KeyRing:
        return self.issuer.keyring

    def public_jwks(self) -> dict[str, Any]:
        """The current key ring's QR verification keys as a JWK set."""
        return self.keyring.public_jwks()

    def sign_message(self, envelope: etree._Element) -> etree._Element:
        """WS-Security signature over a SOAP answer's Body and Timestamp (certs.wssecurity), in place.

        With the current identity's evidence key, or, without one, its document key.
        """
        return message_signer(self.keyring).sign(envelope)

    def sign_element(self, element: etree._Element) -> etree._Element:
        """XML-DSig over a payload kept as a standalone document (the bulk report).

        Signed with the current identity's ECDSA evidence key (certs.xmldsig.EvidenceSigner, in
        place), or, without one, its RSA document key (signxml, a signed copy). Use the returned element.
        """
        return sign_element(element, self.keyring)


def _evidence_p12(settings: dict[str, Any]) -> bytes | None:
    path = str(settings["hub.keys_evidence_pkcs12"]).strip()
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyRingError(f"hub.keys_evidence_pkcs12: no such file {path}") from None


def load_keyring(settings: dict[str, Any]) -> tuple[KeyRing, bool]:
    """Production: install the configured PKCS#12 (and evidence PKCS#12) once, then load the key directory.

    An evidence PKCS#12 configured after the directory was installed is added to the current
    identity. Development (no PKCS#12 configured): a development CA is generated on first start,
    and it issues the evidence key too.
    """
    directory = Path(settings["hub.keys_dir"])
    with key_directory_lock(directory):
        return _load_keyring_locked(settings, directory)


def _load_keyring_locked(settings: dict[str, Any], directory: Path) -> tuple[KeyRing, bool]:
    p12 = settings["hub.keys_pkcs12"]
    if not p12:
        return KeyRing.ensure_development(directory)
    passphrase = str(settings["hub.keys_pkcs12_passphrase"]).encode()
    evidence = _evidence_p12(settings)
    if not (directory / "CURRENT").exists():
        data = Path(p12).read_bytes()
        installed = KeyRing.install_pkcs12(directory, data, passphrase, evidence_p12=evidence)
        return installed, True
    keyring = KeyRing.load(directory, passphrase)
    if evidence is not None and keyring.current.evidence is None:
        keyring = KeyRing.add_evidence_pkcs12(directory, evidence, passphrase)
    return keyring, False


def rotate_document_keys(settings: dict[str, Any]) -> str:
    """``hub-admin keys rotate``: development makes a new identity (document + evidence keys) from the
    dev CA; production installs the PKCS#12 now named by ``hub.keys_pkcs12`` (a new one from the CA)
    with the evidence PKCS#12 named by ``hub.keys_evidence_pkcs12``."""
    directory = Path(settings["hub.keys_dir"])
    p12 = settings["hub.keys_pkcs12"]
    with key_directory_lock(directory):
        if p12:
            passphrase = str(settings["hub.keys_pkcs12_passphrase"]).encode()
            evidence = _evidence_p12(settings)
            return KeyRing.install_pkcs12(
                directory, Path(p12).read_bytes(), passphrase, evidence_p12=evidence
            ).current.kid
        KeyRing.ensure_development(directory)
        return KeyRing.rotate(directory).current.kid
