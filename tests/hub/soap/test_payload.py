"""Payloads written as canonical text (hub.soap.payload) and how signed ones are signed (sign_payload)."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from certs.keys import KeyRing
from certs.xmldsig import XmlSignatureVerifier, canonical_signature, sign_element
from hub.soap.envelope import SOAP11, envelope_bytes
from hub.soap.payload import escaped, leaf, rendered_payload, xml_text
from hub.soap.service import CanonicalSigner, SigningUnavailable, sign_payload

NS = "urn:discom-hub:test:echo:1"


def c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n", exclusive=True, with_comments=False)


def test_text_is_escaped_as_exclusive_c14n_escapes_it() -> None:
    assert xml_text("a & <b> \"c\" 'd'\r\n\tक्\u200dष") == "a &amp; &lt;b&gt; \"c\" 'd'&#xD;\n\tक्\u200dष"
    assert [escaped(v) for v in ("a&b\r", "plain", True, False, 7)] == [
        "a&amp;b&#xD;",
        "plain",
        "true",
        "false",
        "7",
    ]
    assert leaf("e:x", None) == ""
    assert leaf("e:x", True) + leaf("e:y", False) + leaf("e:z", 7) == (
        "<e:x>true</e:x><e:y>false</e:y><e:z>7</e:z>"
    )
    payload = rendered_payload("e", NS, "R", leaf("e:name", "x\r & <y>") + leaf("e:empty", ""))
    assert payload.data == c14n(payload.data)
    assert payload.end == b"</e:R>"
    assert etree.fromstring(payload.data).findtext(f"{{{NS}}}name") == "x\r & <y>"


def test_content_in_parts_is_the_content_joined() -> None:
    parts = [leaf("e:name", "x\r & <y>"), leaf("e:empty", ""), leaf("e:n", "प्रमाणित")]
    assert rendered_payload("e", NS, "R", parts) == rendered_payload("e", NS, "R", "".join(parts))
    assert rendered_payload("e", NS, "R", []) == rendered_payload("e", NS, "R", "")


@pytest.mark.parametrize("bad", ["\x00", "\x08", "\x1f", "\ufffe", "\uffff", "\udfff"])
def test_a_character_xml_forbids_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        rendered_payload("e", NS, "R", leaf("e:name", f"x{bad}y"))
    with pytest.raises(ValueError):
        rendered_payload("e", NS, "R", [leaf("e:n", "ok"), leaf("e:name", f"x{bad}y")])


def test_allowed_characters_near_the_forbidden_ones_pass() -> None:
    text = "\t\n\ufffd\uffbe\U0001f600 ￼"
    assert (
        etree.fromstring(rendered_payload("e", NS, "R", leaf("e:n", text)).data).findtext(f"{{{NS}}}n")
        == text
    )


class Signers:
    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self.tree_calls = 0
        self.canonical_calls = 0

    def tree(self, element: etree._Element) -> etree._Element:
        self.tree_calls += 1
        return sign_element(element, self.keyring)

    def canonical(self, data: bytes) -> bytes | None:
        self.canonical_calls += 1
        return canonical_signature(data, self.keyring)


@pytest.mark.parametrize("with_canonical", [True, False])
def test_a_rendered_payload_is_signed_with_or_without_the_canonical_signer(
    soap_keyring: KeyRing, with_canonical: bool
) -> None:
    signers = Signers(soap_keyring)
    registry: dict[str, Any] = {"soap_signer": signers.tree}
    if with_canonical:
        registry["soap_canonical_signer"] = CanonicalSigner(signers.tree, signers.canonical)
    payload = rendered_payload("e", NS, "EchoEvidenceResponse", leaf("e:greeting", "प्रमाणित <x> & y"))
    signed = sign_payload(registry, payload)
    assert (signers.canonical_calls, signers.tree_calls) == ((1, 0) if with_canonical else (0, 1))
    result = XmlSignatureVerifier(soap_keyring).verify(signed)
    assert result.signer_role == "evidence"
    assert result.signed_root.findtext(f"{{{NS}}}greeting") == "प्रमाणित <x> & y"
    wire = envelope_bytes(SOAP11, signed)
    # The envelope joins a payload given in parts (the service's, not copied first) as the whole.
    assert envelope_bytes(SOAP11, [signed[:9], memoryview(signed)[9:]]) == wire
    # In the envelope, archived on its own: the same bytes verify.
    archived = etree.tostring(etree.fromstring(wire)[0][0], encoding="utf-8")
    assert XmlSignatureVerifier(soap_keyring).verify(archived).signer_role == "evidence"


def test_a_canonical_signer_that_cannot_sign_falls_back_to_the_tree(soap_keyring: KeyRing) -> None:
    signers = Signers(soap_keyring)
    registry = {
        "soap_signer": signers.tree,
        "soap_canonical_signer": CanonicalSigner(signers.tree, lambda data: None),
    }
    signed = sign_payload(registry, rendered_payload("e", NS, "R", leaf("e:n", "1")))
    assert signers.tree_calls == 1
    assert XmlSignatureVerifier(soap_keyring).verify(signed).signed_root.findtext(f"{{{NS}}}n") == "1"


@pytest.fixture(scope="module")
def other_keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    keyring, _created = KeyRing.ensure_development(tmp_path_factory.mktemp("other-soap-keys"))
    return keyring


def test_a_replaced_soap_signer_is_not_bypassed(soap_keyring: KeyRing, other_keyring: KeyRing) -> None:
    hub_signers, replacement = Signers(soap_keyring), Signers(other_keyring)
    registry = {
        "soap_signer": replacement.tree,
        # Registered for the signer that was replaced: it must not sign with the old keys.
        "soap_canonical_signer": CanonicalSigner(hub_signers.tree, hub_signers.canonical),
    }
    signed = sign_payload(registry, rendered_payload("e", NS, "R", leaf("e:n", "1")))
    assert (hub_signers.canonical_calls, replacement.tree_calls) == (0, 1)
    assert XmlSignatureVerifier(other_keyring).verify(signed).signer_role == "evidence"


def test_signing_fails_closed(soap_keyring: KeyRing) -> None:
    signers = Signers(soap_keyring)
    payload = rendered_payload("e", NS, "R", leaf("e:n", "1"))
    # The canonical signer only speeds signing up: without the element signer nothing is signed.
    with pytest.raises(SigningUnavailable):
        sign_payload({"soap_canonical_signer": CanonicalSigner(signers.tree, signers.canonical)}, payload)
    assert signers.canonical_calls == 0

    def broken(data: bytes) -> bytes | None:
        raise RuntimeError("HSM unavailable")

    with pytest.raises(SigningUnavailable):
        sign_payload(
            {"soap_signer": signers.tree, "soap_canonical_signer": CanonicalSigner(signers.tree, broken)},
            payload,
        )
