"""PAdES signatures on our PDFs (pyHanko): baseline B-B, or B-T with a timestamp authority.

pyHanko's ``SimpleSigner`` re-parses its private key (asn1crypto -> cryptography, ~36 ms for
RSA, key checks included) on every raw signature, and ``sign_pdf`` signs twice (a dry run sizes
the signature): ~100 ms a PDF. :class:`CachedKeySigner` keeps the cryptography key object from
the key ring and signs with it directly: ~22 ms.
"""

from __future__ import annotations

import io
from typing import Any

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash
from pyhanko_certvalidator.registry import SimpleCertificateStore

from certs.keys import SigningIdentity

FIELD_NAME = "HubSignature"


def _asn1_cert(certificate: Any) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


class CachedKeySigner(signers.SimpleSigner):
    """A ``SimpleSigner`` that signs with a cryptography key object instead of re-parsing DER."""

    def __init__(self, identity: SigningIdentity) -> None:
        self._private_key = identity.private_key
        der = identity.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        super().__init__(
            signing_cert=_asn1_cert(identity.certificate),
            signing_key=asn1_keys.PrivateKeyInfo.load(der),
            cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in identity.chain]),
        )

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algorithm = mechanism.signature_algo
        hash_algorithm = get_pyca_cryptography_hash(digest_algorithm)
        key = self._private_key
        if algorithm == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, PKCS1v15(), hash_algorithm)
        if algorithm == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_algorithm))
        raise SigningError(f"signature mechanism {algorithm} is not supported by the hub signer")


class PadesSigner:
    """Signs PDFs with one identity. Build once per identity; ``sign`` is safe to call repeatedly."""

    def __init__(
        self,
        identity: SigningIdentity,
        *,
        timestamp_url: str | None = None,
        timestamp_timeout: float = 10.0,
        location: str = "",
    ) -> None:
        self.kid = identity.kid
        self._signer = CachedKeySigner(identity)
        # B-T: a signature timestamp from an RFC 3161 authority proves when the signature existed.
        self._timestamper = (
            timestamps.HTTPTimeStamper(timestamp_url, timeout=int(timestamp_timeout))
            if timestamp_url
            else None
        )
        self._location = location

    @property
    def level(self) -> str:
        return "B-T" if self._timestamper else "B-B"

    def sign(self, pdf: bytes, *, reason: str = "") -> bytes:
        metadata = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason=reason or None,
            location=self._location or None,
        )
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        out = signers.sign_pdf(writer, metadata, signer=self._signer, timestamper=self._timestamper)
        return out.getvalue()
