"""WS-Security 1.1 message signatures (X.509 token profile) for SOAP answers.

A signed answer carries, in ``soap:Header/wsse:Security``: a ``wsu:Timestamp``
(Created/Expires), the signing certificate as a ``wsse:BinarySecurityToken``
(base64 DER, X509v3) and a ``ds:Signature`` whose SignedInfo references the
``soap:Body`` and the Timestamp by their ``wsu:Id``, exclusive C14N for the
SignedInfo and as each reference's transform, SHA-256 digests, ECDSA-SHA256 or
RSA-SHA256 after the key, and KeyInfo a ``wsse:SecurityTokenReference`` to the
token. That is the shape WSS4J, .NET, zeep and ``xmlsec1`` verify in the
message exactly as it was received; a signature inside the payload over
``URI=""`` would instead cover the whole envelope there.

signxml makes the signature (detached, a list of reference URIs, our KeyInfo):
it is pure Python over lxml and cryptography, takes the key ring's key object as
it is, and unlike python-xmlsec it is not tied to the libxml2 build inside the
lxml wheel. It finds a reference's target by an attribute whose local name is
``Id``, so ``wsu:Id`` resolves; the Ids here are random, so no other element
carries the same value.
"""

from __future__ import annotations

import base64
import functools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from signxml import DigestAlgorithm, SignatureConstructionMethod, SignatureMethod, XMLSigner

from certs.keys import KeyRing, SigningKey
from certs.xmldsig import DS_NS, EXC_C14N

WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
SOAP_NAMESPACES = frozenset(
    ("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")
)
_WSSE = "{" + WSSE_NS + "}"
_WSU = "{" + WSU_NS + "}"
WSU_ID = _WSU + "Id"
# An answer is evidence of what the hub said at one moment; a partner that replays it later as
# fresh is refused by any verifier that checks Expires.
TIMESTAMP_VALIDITY = timedelta(minutes=5)


def _utc_text(moment: datetime) -> str:
    """xsd:dateTime in UTC with milliseconds and ``Z``, as WSS4J and .NET write a Timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _new_id() -> str:
    return "id-" + uuid.uuid4().hex


class MessageSigner:
    """Signs SOAP 1.1 and 1.2 envelopes with one key and certificate. Build once per key; thread-safe."""

    def __init__(self, private_key: SigningKey, certificate: x509.Certificate) -> None:
        self.certificate = certificate
        self._key = private_key
        self._token = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")
        is_ecdsa = isinstance(private_key, ec.EllipticCurvePrivateKey)
        self._method = SignatureMethod.ECDSA_SHA256 if is_ecdsa else SignatureMethod.RSA_SHA256

    def sign(self, envelope: etree._Element, now: datetime | None = None) -> etree._Element:
        """Add ``wsse:Security`` to ``envelope``'s Header (made if absent) and sign Body and Timestamp.

        Signs in place and returns ``envelope``. The Body must be final: any change to it or to
        the Timestamp afterwards breaks the signature.
        """
        namespace = etree.QName(envelope).namespace
        if namespace not in SOAP_NAMESPACES:
            raise ValueError("not a SOAP 1.1 or 1.2 envelope")
        body = envelope.find(f"{{{namespace}}}Body")
        if body is None:
            raise ValueError("the envelope has no Body")
        header = envelope.find(f"{{{namespace}}}Header")
        if header is None:
            header = etree.Element(f"{{{namespace}}}Header")
            envelope.insert(0, header)
        # Not mustUnderstand: the answer means the same to a partner that does not check
        # signatures, and SOAP stacks without WS-Security fault on a header they must understand.
        security = etree.SubElement(header, _WSSE + "Security", nsmap={"wsse": WSSE_NS})

        moment = now or datetime.now(UTC)
        timestamp = etree.SubElement(security, _WSU + "Timestamp", {WSU_ID: _new_id()})
        etree.SubElement(timestamp, _WSU + "Created").text = _utc_text(moment)
        etree.SubElement(timestamp, _WSU + "Expires").text = _utc_text(moment + TIMESTAMP_VALIDITY)

        token_id = _new_id()
        token = etree.SubElement(
            security,
            _WSSE + "BinarySecurityToken",
            {"EncodingType": BASE64_BINARY, "ValueType": X509V3, WSU_ID: token_id},
        )
        token.text = self._token

        body_id = body.get(WSU_ID) or _new_id()
        body.set(WSU_ID, body_id)

        key_info = etree.Element(f"{{{DS_NS}}}KeyInfo", nsmap={"ds": DS_NS})
        etree.SubElement(
            etree.SubElement(key_info, _WSSE + "SecurityTokenReference", nsmap={"wsse": WSSE_NS}),
            _WSSE + "Reference",
            {"URI": "#" + token_id, "ValueType": X509V3},
        )
        timestamp_id = timestamp.get(WSU_ID, "")
        # A signer per call: signxml keeps per-call state on the instance.
        signer = _InPlaceSigner(
            {body_id: body, timestamp_id: timestamp},
            method=SignatureConstructionMethod.detached,
            signature_algorithm=self._method,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=EXC_C14N,
        )
        signature: etree._Element = signer.sign(
            envelope,
            key=self._key,
            reference_uri=["#" + body_id, "#" + timestamp_id],
            key_info=key_info,
        )
        security.append(signature)
        return envelope


class _InPlaceSigner(XMLSigner):
    """signxml, canonicalising the envelope's Body and Timestamp where they are.

    signxml serialises and re-parses the document and then each referenced element before
    canonicalising it, and finds each reference's target with an XPath over every attribute of
    the document: for a 1,000-item answer those copies were over half of the signing time and
    the two scans most of the rest. Exclusive C14N of an element in place gives the same octets
    as of its copy (it renders only the namespaces the subtree uses, and no inherited ``xml:``
    attributes), a detached signature changes nothing in the document, and the targets are the
    elements this module just gave their Ids. Should signxml stop calling either method, it
    copies and searches again: slower, still correct (the tests verify every signature with
    zeep and xmlsec1).
    """

    def __init__(self, targets: dict[str, etree._Element], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._targets = targets

    def get_root(self, data: Any) -> Any:
        if isinstance(data, etree._Element):
            return data
        return super().get_root(data)

    def _resolve_reference(self, doc_root: Any, reference: Any, uri_resolver: Any = None) -> Any:
        target = self._targets.get(str(reference.get("URI", "")).removeprefix("#"))
        if target is not None:
            return target
        return super()._resolve_reference(doc_root, reference, uri_resolver)


@functools.lru_cache(maxsize=32)
def _message_signer(private_key: SigningKey, certificate: x509.Certificate) -> MessageSigner:
    return MessageSigner(private_key, certificate)


def message_signer(keyring: KeyRing) -> MessageSigner:
    """The signer of SOAP answers for the key ring's current identity, built once per key.

    The identity's evidence key and certificate when it has them, else its document key: the
    same key that signs the bulk verification report.
    """
    identity = keyring.current
    evidence = identity.evidence
    if evidence is not None:
        return _message_signer(evidence.private_key, evidence.certificate)
    return _message_signer(identity.private_key, identity.certificate)
