"""The facade the hub calls: issue a document (XML + XML-DSig + QR + PDF + PAdES) and verify one.

Build one :class:`DocumentIssuer` per key ring at startup (it caches per-identity signers) and
build a new one after a rotation. Everything here is CPU-bound and thread-safe.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from lxml import etree

from certs.document import Document
from certs.errors import MalformedDocumentError, UntrustedSignerError
from certs.keys import KeyRing, SigningIdentity
from certs.pades import PadesSigner
from certs.pdf import render_pdf
from certs.qr import QrClaims, QrSigner, verify_qr_payload
from certs.xmldoc import NAMESPACE_PREFIX, build_xml, document_from_xml
from certs.xmldsig import MAX_SIGNED_XML_BYTES, XmlSignatureVerifier, sign_with_identity
from forms.safexml import UntrustedXmlError, parse_untrusted_xml


@dataclass(frozen=True)
class IssuedDocument:
    xml: bytes  # signed XML, UTF-8, exactly the bytes to store and serve
    pdf: bytes  # PAdES-signed PDF
    qr_payload: str  # compact JWS printed in the PDF's QR code
    xml_sha256: str  # hex SHA-256 of ``xml`` (also inside the QR payload)
    kid: str  # identity that signed all three


@dataclass(frozen=True)
class VerifiedDocument:
    """A document read only from the part its valid signature covers."""

    document: Document
    signer_kid: str | None  # None: signed by a certificate from our CA that this key ring does not hold
    signer_subject: str
    xml_sha256: str  # hex SHA-256 of the bytes presented (compare with the registry)


class DocumentIssuer:
    def __init__(
        self, keyring: KeyRing, *, timestamp_url: str | None = None, pades_location: str = ""
    ) -> None:
        self.keyring = keyring
        self._timestamp_url = timestamp_url
        self._pades_location = pades_location
        self._pades: dict[str, PadesSigner] = {}
        self._qr: dict[str, QrSigner] = {}
        self._verifier = XmlSignatureVerifier(keyring)
        self._jwks = keyring.public_jwks()
        # Prepare the current identity's signers now, not on the first request.
        self._signers(keyring.current)

    def _signers(self, identity: SigningIdentity) -> tuple[PadesSigner, QrSigner]:
        pades = self._pades.get(identity.kid)
        qr = self._qr.get(identity.kid)
        if pades is None or qr is None:
            # Benign race: two threads may both build one; either is correct.
            pades = self._pades[identity.kid] = PadesSigner(
                identity, timestamp_url=self._timestamp_url, location=self._pades_location
            )
            qr = self._qr[identity.kid] = QrSigner(identity)
        return pades, qr

    @property
    def pades_level(self) -> str:
        return "B-T" if self._timestamp_url else "B-B"

    def issue(self, doc: Document) -> IssuedDocument:
        """Build, validate, sign the XML; sign the QR payload over its digest; render and PAdES-sign the PDF."""
        identity = self.keyring.current
        pades, qr = self._signers(identity)
        signed = sign_with_identity(build_xml(doc), identity)
        xml = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
        digest = hashlib.sha256(xml).digest()
        qr_payload = qr.sign(doc, digest)
        pdf = pades.sign(render_pdf(doc, qr_payload), reason=f"{doc.kind_info.title_en} {doc.number}")
        return IssuedDocument(
            xml=xml, pdf=pdf, qr_payload=qr_payload, xml_sha256=digest.hex(), kid=identity.kid
        )

    def sign_pdf(self, pdf: bytes, reason: str) -> bytes:
        """PAdES-sign a PDF the hub publishes (a report) with the current identity's document key."""
        pades, _qr = self._signers(self.keyring.current)
        return pades.sign(pdf, reason=reason)

    def verify_xml(self, data: bytes, *, max_bytes: int = MAX_SIGNED_XML_BYTES) -> VerifiedDocument:
        """Verify an uploaded XML document; raise a :class:`certs.errors.VerificationError` subclass.

        Codes: ``document_malformed`` (``reason`` carries forms.safexml's code when parsing failed),
        ``schema_version_unsupported``, ``document_tampered``, ``signer_untrusted``.
        """
        try:
            root = parse_untrusted_xml(data, max_bytes=max_bytes)
        except UntrustedXmlError as exc:
            raise MalformedDocumentError(str(exc), reason=exc.code) from None
        if not (etree.QName(root).namespace or "").startswith(NAMESPACE_PREFIX):
            raise MalformedDocumentError("not a discom hub document")
        signed = self._verifier.verify_tree(root)
        if signed.signer_role == "evidence":
            # Evidence keys sign SOAP answers, never documents: keep the roles apart even though
            # both certificates chain to the same anchor.
            raise UntrustedSignerError("signed with an evidence key, which does not sign documents")
        # Only the signed part is read; document_from_xml checks the schema version and the XSD.
        document = document_from_xml(signed.signed_root)
        return VerifiedDocument(
            document=document,
            signer_kid=signed.signer_kid,
            signer_subject=signed.signer_certificate.subject.rfc4514_string(),
            xml_sha256=hashlib.sha256(data).hexdigest(),
        )

    def verify_qr(self, token: str, *, now: dt.datetime | None = None) -> QrClaims:
        """Check a scanned QR payload against this key ring's published keys."""
        return verify_qr_payload(token, self._jwks, now=now)
