"""Check a signed SOAP answer as a partner would: the raw bytes received, standard verifiers only.

Three independent checks of the same bytes: zeep's ``verify_envelope`` (python-xmlsec, the
signer certificate given), the README's command (the signer certificate taken from the
answer's BinarySecurityToken, chained with ``openssl verify`` to the published PEM bundle, then
``xmlsec1 --verify``), and the structure of the ``wsse:Security`` header itself.
"""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from zeep.exceptions import SignatureVerificationFailed
from zeep.wsse.signature import verify_envelope

from forms.safexml import parse_untrusted_xml

WSSE = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSU = "{" + WSU_NS + "}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

# The README's command, word for word ("answer.xml" and "hub-certificates.pem" in the current
# directory); tests/hub/election/test_soap_wssecurity.py checks the README still says it.
README_COMMAND = (
    "sed -n 's/.*<wsse:BinarySecurityToken[^>]*>\\([^<]*\\)<.*/\\1/p' answer.xml | base64 -d"
    " | openssl x509 -inform DER -out signer.pem"
    " && openssl verify -CAfile hub-certificates.pem signer.pem"
    " && xmlsec1 --verify --pubkey-cert-pem signer.pem --enabled-reference-uris same-doc"
    " --id-attr:Id http://schemas.xmlsoap.org/soap/envelope/:Body"
    " --id-attr:Id http://www.w3.org/2003/05/soap-envelope:Body"
    f" --id-attr:Id {WSU_NS}:Timestamp answer.xml"
)


def security_header(envelope: etree._Element) -> etree._Element:
    security = envelope.find(f"{{{envelope.nsmap[envelope.prefix]}}}Header/{WSSE}Security")
    assert security is not None, "no wsse:Security header"
    return security


def signer_certificate(raw: bytes) -> x509.Certificate:
    """The certificate the signature's SecurityTokenReference points at."""
    security = security_header(parse_untrusted_xml(raw))
    reference = security.find(f"{DS}Signature/{DS}KeyInfo/{WSSE}SecurityTokenReference/{WSSE}Reference")
    assert reference is not None and reference.get("URI", "").startswith("#")
    (token,) = [
        t
        for t in security.iter(f"{WSSE}BinarySecurityToken")
        if t.get(WSU + "Id") == reference.get("URI", "")[1:]
    ]
    return x509.load_der_x509_certificate(base64.b64decode(token.text or ""))


def check_structure(raw: bytes, now: datetime | None = None) -> None:
    """The WS-Security 1.1 X.509 token profile shape, and a Timestamp valid ``now``."""
    envelope = parse_untrusted_xml(raw)
    ns = envelope.nsmap[envelope.prefix]
    body = envelope.find(f"{{{ns}}}Body")
    assert body is not None
    security = security_header(envelope)
    # No signature anywhere but in the header: the payload carries none of its own.
    assert [s.getparent() for s in envelope.iter(f"{DS}Signature")] == [security]
    timestamp = security.find(f"{WSU}Timestamp")
    assert timestamp is not None
    created = datetime.fromisoformat(timestamp.findtext(f"{WSU}Created", "").replace("Z", "+00:00"))
    expires = datetime.fromisoformat(timestamp.findtext(f"{WSU}Expires", "").replace("Z", "+00:00"))
    moment = now or datetime.now(UTC)
    assert created <= moment < expires
    assert (expires - created).total_seconds() <= 300
    token = security.find(f"{WSSE}BinarySecurityToken")
    assert token is not None
    assert (token.get("ValueType"), token.get("EncodingType")) == (X509V3, BASE64_BINARY)
    signed_info = security.find(f"{DS}Signature/{DS}SignedInfo")
    assert signed_info is not None
    method = signed_info.find(f"{DS}CanonicalizationMethod")
    assert method is not None and method.get("Algorithm") == EXC_C14N
    uris = [r.get("URI") for r in signed_info.findall(f"{DS}Reference")]
    assert uris == ["#" + body.get(WSU + "Id", ""), "#" + timestamp.get(WSU + "Id", "")]
    assert all(uri and uri.startswith("#id-") for uri in uris)
    for reference in signed_info.findall(f"{DS}Reference"):
        assert [t.get("Algorithm") for t in reference.iter(f"{DS}Transform")] == [EXC_C14N]
        digest = reference.find(f"{DS}DigestMethod")
        assert digest is not None and digest.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert signer_certificate(raw).public_bytes(serialization.Encoding.DER) == base64.b64decode(
        token.text or ""
    )


def zeep_verifies(raw: bytes, tmp_path: Path) -> bool:
    cert = tmp_path / "zeep-signer.pem"
    cert.write_bytes(signer_certificate(raw).public_bytes(serialization.Encoding.PEM))
    try:
        verify_envelope(parse_untrusted_xml(raw), str(cert))
    except SignatureVerificationFailed:
        return False
    return True


def readme_command(raw: bytes, published_pem: bytes, directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the README's command on ``raw`` saved as answer.xml beside the published PEM bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "answer.xml").write_bytes(raw)
    (directory / "hub-certificates.pem").write_bytes(published_pem)
    (directory / "signer.pem").unlink(missing_ok=True)
    return subprocess.run(
        ["sh", "-c", README_COMMAND],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
