"""XML-DSig: enveloped signatures in India's profile for XML signatures, and their verification.

Profile (Digital Signature (End entity) Rules, 2015 / RFC 3275): enveloped signature with
``URI=""`` over the whole document (the signed root has no ``Id``, so there is nothing to
point a wrapped copy at), RSA-SHA256 (ECDSA-SHA256 for EC keys), SHA-256 digest, exclusive
C14N, the signer certificate in ``KeyInfo/X509Data``. Signing uses the key object from the
:class:`~certs.keys.KeyRing` (PEM bytes made each signature ~60x slower).

Documents are signed by signxml with the document key. Evidence kept as a standalone document
(the bulk verification report) is signed by :class:`EvidenceSigner` with the identity's ECDSA
P-256 evidence key in the same profile (SOAP answers are signed per WS-Security instead,
:mod:`certs.wssecurity`): signxml took ~1.2 ms per payload (RSA ~0.7 ms of it, the rest its
generic machinery), the evidence signer ~0.05 ms, most of it the ECDSA signature itself. It writes the one
SignedInfo this profile allows from a fixed template, so it has no generic machinery to pay for.

Verification pins the key ring's trust anchors (never the system store), allows only our
algorithms, exactly one reference with ``URI=""``, exactly one ``Signature`` and only as a
direct child of the root, and returns the tree signxml rebuilt from the canonical bytes it
verified (``result.signed_xml``): data is never read from the input tree, so a
signature-wrapping rewrite cannot smuggle unsigned content into the result.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
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
from certs.keys import EvidenceIdentity, KeyRing, SigningIdentity
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


# The one SignedInfo the evidence signer writes, in exclusive-C14N form (attributes in order, empty
# elements as start/end pairs, xmlns:ds rendered on SignedInfo as exc-c14n renders it there):
# what is signed is these bytes with the digest in between. In the Signature element the same
# text appears without the xmlns:ds, which the Signature element declares.
_SIGNED_INFO_BODY = (
    f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N.value}"></ds:CanonicalizationMethod>'
    f'<ds:SignatureMethod Algorithm="{SignatureMethod.ECDSA_SHA256.value}"></ds:SignatureMethod>'
    '<ds:Reference URI=""><ds:Transforms>'
    f'<ds:Transform Algorithm="{ENVELOPED}"></ds:Transform>'
    f'<ds:Transform Algorithm="{EXC_C14N.value}"></ds:Transform>'
    "</ds:Transforms>"
    f'<ds:DigestMethod Algorithm="{DigestAlgorithm.SHA256.value}"></ds:DigestMethod>'
    "<ds:DigestValue>"
)
_SIGNED_INFO_END = "</ds:DigestValue></ds:Reference></ds:SignedInfo>"
_C14N_SIGNED_INFO_HEAD = f'<ds:SignedInfo xmlns:ds="{DS_NS}">{_SIGNED_INFO_BODY}'.encode("ascii")
_C14N_SIGNED_INFO_END = _SIGNED_INFO_END.encode("ascii")
_P256_BYTES = 32
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class EvidenceSigner:
    """Enveloped XML-DSig with an evidence key: exc-c14n, SHA-256, ECDSA-SHA256, X.509 in KeyInfo.

    The signature is the one :func:`sign_with_identity` makes (``URI=""`` with the enveloped and
    exclusive C14N transforms), so :class:`XmlSignatureVerifier`, xmlsec1 and any XML-DSig 1.1
    verifier check it. Build once per evidence identity; thread-safe.
    """

    def __init__(self, evidence: EvidenceIdentity) -> None:
        self.kid = evidence.kid
        self.certificate = evidence.certificate
        self._key = evidence.private_key
        certificates = "".join(
            "<ds:X509Certificate>"
            + base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
            + "</ds:X509Certificate>"
            for c in (evidence.certificate, *evidence.intermediates())
        )
        self._template_xml = (
            f'<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo>{_SIGNED_INFO_BODY}{_SIGNED_INFO_END}'
            f"<ds:SignatureValue></ds:SignatureValue>"
            f"<ds:KeyInfo><ds:X509Data>{certificates}</ds:X509Data></ds:KeyInfo></ds:Signature>"
        )
        # One parsed template per thread: copying a tree is ~3x cheaper than parsing the text, and
        # a per-thread tree keeps every document a thread builds on that thread's lxml dictionary.
        self._local = threading.local()

    def _template(self) -> etree._Element:
        template: etree._Element | None = getattr(self._local, "template", None)
        if template is None:
            template = self._local.template = etree.fromstring(self._template_xml)
        return template

    def sign(self, element: etree._Element) -> etree._Element:
        """Append an enveloped signature over ``element`` (as a standalone document) to it; return it.

        Signs in place (the element is the caller's freshly built payload; no copy). Verify by
        serialising the element on its own. A parent or top-level comments and processing
        instructions around the element are not covered: only the element's own subtree is.
        """
        if element.get("Id") is not None or element.get("ID") is not None:
            # As in sign_with_identity: we reference the whole document, never an Id.
            raise ValueError("the element to sign must not carry an Id attribute")
        # URI="" selects the document without comments; the enveloped transform removes the
        # Signature, which is not there yet: so the reference's exc-c14n octets are these.
        payload = etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
        digest, value = self._values(payload)
        signature = copy.deepcopy(self._template())
        # Template positions: Signature/SignedInfo/Reference/DigestValue and Signature/SignatureValue.
        signature[0][2][2].text = digest.decode("ascii")
        signature[1].text = value.decode("ascii")
        element.append(signature)
        return element

    def _values(self, canonical: bytes) -> tuple[bytes, bytes]:
        """DigestValue and SignatureValue (base64) for the payload's exclusive-C14N octets."""
        digest = base64.b64encode(hashlib.sha256(canonical).digest())
        signed_info = _C14N_SIGNED_INFO_HEAD + digest + _C14N_SIGNED_INFO_END
        r, s = decode_dss_signature(self._key.sign(signed_info, _ECDSA_SHA256))
        # XML-DSig wants r || s, each left-padded to the curve's size (RFC 4050, RFC 6931 2.3.6), not DER.
        value = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        return digest, base64.b64encode(value)


@functools.lru_cache(maxsize=32)
def evidence_signer(evidence: EvidenceIdentity) -> EvidenceSigner:
    """The signer of an evidence identity, built once (identities are immutable, hashed by object)."""
    return EvidenceSigner(evidence)


def sign_element(element: etree._Element, keyring: KeyRing) -> etree._Element:
    """Sign a payload element kept as evidence (the bulk report) with the current identity.

    With its evidence key when it has one (:class:`EvidenceSigner`: signs ``element`` in place);
    otherwise with its document key via signxml (returns a signed copy). Use the returned element.
    The signature covers the element as a standalone document (``URI=""``): verify it by
    serialising that element on its own and passing the bytes to :meth:`XmlSignatureVerifier.verify`.
    """
    evidence = keyring.current.evidence
    if evidence is None:
        return sign_with_identity(element, keyring.current)
    return evidence_signer(evidence).sign(element)


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
    # "document" or "evidence": which key of identity ``signer_kid`` signed; None with it.
    signer_role: str | None = None


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
        if identity is not None:
            return SignedXml(signed_root, certificate, identity.kid, "document")
        identity = self.keyring.identity_for_evidence_certificate(certificate)
        if identity is not None:
            return SignedXml(signed_root, certificate, identity.kid, "evidence")
        return SignedXml(signed_root, certificate, None)


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
