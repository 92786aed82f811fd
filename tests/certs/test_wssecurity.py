"""WS-Security message signatures (certs.wssecurity) with either key, checked by zeep and xmlsec1."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from certs.keys import KeyRing
from certs.wssecurity import TIMESTAMP_VALIDITY, WSU_NS, message_signer
from tests.hub.soap.wssecurity_check import DS, check_structure, readme_command, zeep_verifies

ENV = {"1.1": "http://schemas.xmlsoap.org/soap/envelope/", "1.2": "http://www.w3.org/2003/05/soap-envelope"}
ALGORITHMS = {
    "evidence": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "document": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
}


def answer(version: str) -> etree._Element:
    ns = ENV[version]
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={"s": ns, "wsu": WSU_NS})
    # A header block already there stays, and the Security header joins it.
    etree.SubElement(etree.SubElement(envelope, f"{{{ns}}}Header"), "{urn:other}Trace").text = "t-1"
    body = etree.SubElement(envelope, f"{{{ns}}}Body")
    body.append(etree.fromstring('<e:R xmlns:e="urn:e"><e:name>किरण &amp; शर्मा</e:name></e:R>'))
    return envelope


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize("key", ["evidence", "document"])
def test_a_signed_envelope_verifies_with_zeep_and_xmlsec1(
    keyring: KeyRing, tmp_path: Path, version: str, key: str
) -> None:
    ring = keyring
    if key == "document":
        no_evidence = replace(keyring.current, evidence=None)
        ring = KeyRing(current=no_evidence, identities=(no_evidence,), trust_anchors=keyring.trust_anchors)
    assert message_signer(ring) is message_signer(ring)  # built once per key
    raw = etree.tostring(message_signer(ring).sign(answer(version)), encoding="utf-8", xml_declaration=True)

    check_structure(raw)
    envelope = etree.fromstring(raw)
    assert envelope.findtext(f"{{{ENV[version]}}}Header/{{urn:other}}Trace") == "t-1"
    method = envelope.find(f".//{DS}SignatureMethod")
    assert method is not None and method.get("Algorithm") == ALGORITHMS[key]
    assert zeep_verifies(raw, tmp_path)
    done = readme_command(raw, ring.published_pem(), tmp_path / "good")
    assert done.returncode == 0, done.stdout + done.stderr

    # One character changed in the Body, or a later Expires in the Timestamp: both refuse it.
    expires = etree.fromstring(raw).findtext(f".//{{{WSU_NS}}}Expires", "")
    for name, changed in (
        ("body", raw.replace("शर्मा".encode(), "वर्मा".encode())),
        ("timestamp", raw.replace(expires.encode(), f"{int(expires[:4]) + 1}{expires[4:]}".encode())),
    ):
        assert changed != raw
        assert not zeep_verifies(changed, tmp_path)
        assert readme_command(changed, ring.published_pem(), tmp_path / name).returncode != 0


def test_the_timestamp_is_short_and_starts_at_the_signing_moment(keyring: KeyRing) -> None:
    moment = datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=UTC)
    signed = message_signer(keyring).sign(answer("1.2"), moment)
    wsu = "{" + WSU_NS + "}"
    timestamp = signed.find(f".//{wsu}Timestamp")
    assert timestamp is not None
    assert timestamp.findtext(wsu + "Created") == "2026-12-04T10:00:00.123Z"
    assert timestamp.findtext(wsu + "Expires") == "2026-12-04T10:05:00.123Z"
    assert TIMESTAMP_VALIDITY == timedelta(minutes=5)


def test_only_a_soap_envelope_is_signed(keyring: KeyRing) -> None:
    with pytest.raises(ValueError, match="SOAP"):
        message_signer(keyring).sign(etree.fromstring(b"<a><b/></a>"))
