"""XML-DSig: enveloped signatures in India's profile for XML signatures, and their verification.

Profile (Digital Signature (End entity) Rules, 2015 / RFC 3275): enveloped signature with
``URI=""`` over the whole document (the signed root has no ``Id``, so there is nothing to
point a wrapped copy at), RSA-SHA256 (ECDSA-SHA256 for EC keys), SHA-256 digest, exclusive
C14N, the signer certificate in ``KeyInfo/X509Data``. Signing uses the key object from the
:class:`~certs.keys.KeyRing` (PEM bytes made each signature ~60x slower).

Verification pins the key ring's trust anchors (never the system store), allows only our
algorithms, exactly one reference with ``URI=""``, exactly one ``Signature`` and only as a
direct child of the root, and returns the tree signxml rebuilt from the canonical bytes it
verified (``result.signed_xml``): data is never read from the input tree, so a
signature-wrapping rewrite cannot smuggle unsigned content into the result.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)
from signxml.util import X509CertChainVerifier
from signxml.verifier import SignatureConfiguration, VerifyResult

from certs.errors import MalformedDocumentError, TamperedDocumentError, UntrustedSignerError
from certs.keys import KeyRing, SigningIdentity
from forms.safexml import UntrustedXmlError, parse_untrusted_xml

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_DS = "{" + DS_NS + "}"
EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ALLOWED_SIGNATURE_METHODS = frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256})
ALLOWED_DIGESTS = frozenset({DigestAlgorithm.SHA256})
ALLOWED_TRANSFORMS = frozenset({ENVELOPED, EXC_C14N.value})
MAX_SIGNED_XML_BYTES = 512 * 1024

_EXPECT = SignatureConfiguration(
    require_x509=True,
    location="./",  # the Signature must be a direct child of the root
    expect_references=1,
    signature_methods=ALLOWED_SIGNATURE_METHODS,
    digest_algorithms=ALLOWED_DIGESTS,
)


def _signer_for(identity: SigningIdentity) -> XMLSigner:
    return XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.ECDSA_SHA256 if identity.is_ecdsa else SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=EXC_C14N,
    )


def sign_with_identity(element: etree._Element, identity: SigningIdentity) -> etree._Element:
    """Enveloped, ``URI=""`` signature over ``element`` as a standalone document; returns the signed copy."""
    if element.get("Id") is not None or element.get("ID") is not None:
        # An Id invites reference-by-Id and with it signature wrapping; we reference the whole document.
        raise ValueError("the element to sign must not carry an Id attribute")
    certs = [identity.certificate, *identity.intermediates()]
    # No reference_uri: for the enveloped method signxml then writes URI="" (the whole document).
    signed: etree._Element = _signer_for(identity).sign(element, key=identity.private_key, cert=certs)
    return signed


def sign_element(element: etree._Element, keyring: KeyRing) -> etree._Element:
    """Sign any payload element (e.g. a SOAP response payload kept as evidence) with the current key.

    The signature covers the element as a standalone document (``URI=""``): verify it by
    serialising that element on its own and passing the bytes to :func:`verify_signed_xml`.
    """
    return sign_with_identity(element, keyring.current)


class _PinnedChainVerifier(X509CertChainVerifier):
    """signxml's chain verifier with an in-memory store of our anchors (it re-reads a file otherwise)."""

    def __init__(self, store: x509.verification.Store, **kwargs: Any) -> None:
        self._pinned_store = store
        super().__init__(ca_pem_file="<pinned>", **kwargs)

    @property
    def store(self) -> x509.verification.Store:
        return self._pinned_store


class _PinnedVerifier(XMLVerifier):
    def __init__(self, store: x509.verification.Store) -> None:
        super().__init__()
        self._pinned_store = store

    def get_cert_chain_verifier(
        self, ca_pem_file: Any, ee_policy: Any, ca_policy: Any
    ) -> X509CertChainVerifier:
        return _PinnedChainVerifier(
            self._pinned_store,
            verification_time=self._get_cert_verification_time(),
            ee_policy=ee_policy,
            ca_policy=ca_policy,
        )


@dataclass(frozen=True)
class SignedXml:
    """What a valid signature covers, and who made it."""

    signed_root: etree._Element
    signer_certificate: x509.Certificate
    # None when the signer chains to our anchor but is not (or no longer) in this key ring.
    signer_kid: str | None


class XmlSignatureVerifier:
    """Verifies our enveloped signatures against a key ring's anchors. Thread-safe; build once."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self._store = x509.verification.Store(list(keyring.trust_anchors))

    def verify(self, data: bytes | etree._Element, *, max_bytes: int = MAX_SIGNED_XML_BYTES) -> SignedXml:
        if isinstance(data, bytes):
            try:
                root = parse_untrusted_xml(data, max_bytes=max_bytes)
            except UntrustedXmlError as exc:
                raise MalformedDocumentError(str(exc), reason=exc.code) from None
        else:
            root = data
        return self.verify_tree(root)

    def verify_tree(self, root: etree._Element) -> SignedXml:
        signatures = list(root.iter(_DS + "Signature"))
        if len(signatures) != 1:
            raise MalformedDocumentError(f"expected exactly one signature, found {len(signatures)}")
        if signatures[0].getparent() is not root:
            # A signature anywhere but directly under the root is the shape of a wrapping attack.
            raise TamperedDocumentError("the signature does not envelop the document root")
        try:
            # A fresh verifier per call: signxml keeps per-call state on the instance.
            result = _PinnedVerifier(self._store).verify(root, expect_config=_EXPECT)
        except InvalidCertificate:
            raise UntrustedSignerError("the signer certificate does not chain to a trusted anchor") from None
        except InvalidDigest:
            raise TamperedDocumentError("the document content does not match its signature") from None
        except InvalidSignature:
            raise TamperedDocumentError("the signature value does not verify") from None
        except (InvalidInput, SignXMLException, etree.DocumentInvalid, ValueError, TypeError, KeyError):
            raise MalformedDocumentError("the signature is not in the accepted profile") from None
        if not isinstance(result, VerifyResult):  # expect_references=1 yields a single result
            raise MalformedDocumentError("exactly one reference is accepted")
        _check_profile(result.signature_xml)
        signed_root = result.signed_xml
        if signed_root is None:
            raise MalformedDocumentError("the signed content is not XML")
        certificate = _signer_certificate(result.signature_xml, result.signature_key)
        identity = self.keyring.identity_for_certificate(certificate)
        return SignedXml(signed_root, certificate, identity.kid if identity else None)


def _check_profile(signature: etree._Element) -> None:
    """signxml restricts algorithms; we also restrict canonicalisation, transforms and the URI."""
    signed_info = signature.find(_DS + "SignedInfo")
    if signed_info is None:
        raise MalformedDocumentError("no SignedInfo")
    c14n = signed_info.find(_DS + "CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") != EXC_C14N.value:
        raise MalformedDocumentError("SignedInfo must use exclusive C14N")
    references = signed_info.findall(_DS + "Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        raise MalformedDocumentError('exactly one reference with URI="" is accepted')
    transforms = references[0].findall(f"{_DS}Transforms/{_DS}Transform")
    algorithms = [t.get("Algorithm") for t in transforms]
    if ENVELOPED not in algorithms or any(a not in ALLOWED_TRANSFORMS for a in algorithms):
        raise MalformedDocumentError("only the enveloped and exclusive C14N transforms are accepted")


def _signer_certificate(signature: etree._Element, signature_key_pem: bytes) -> x509.Certificate:
    key_pem = serialization.load_pem_public_key(signature_key_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for el in signature.iter(_DS + "X509Certificate"):
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split())))
        spki = certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if spki == key_pem:
            return certificate
    raise MalformedDocumentError("no certificate in KeyInfo matches the verifying key")
