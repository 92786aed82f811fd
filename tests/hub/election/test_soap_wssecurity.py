"""Signed election answers verify as received: the raw HTTP bytes, WS-Security 1.1, standard verifiers.

Every operation over SOAP 1.1 and 1.2, reached the way a partner reaches it (WebTest through the
whole app, and zeep against the served WSDL on a live server with the bytes captured as they
arrived), checked with zeep's ``verify_envelope`` and with the README's ``xmlsec1`` command; one
changed character in the Body fails both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from zeep.transports import Transport

from connectors.demo import PERSONAS
from forms.safexml import parse_untrusted_xml
from hub.certificates.keys import DocumentKeys
from hub.election.answers import NS
from hub.election.soap import PATH
from hub.lookup import process_service
from tests.hub.election.conftest import Election
from tests.hub.soap.wssecurity_check import (
    README_COMMAND,
    check_structure,
    readme_command,
    signer_certificate,
    zeep_verifies,
)

README = Path(__file__).parents[3] / "README.md"
ENV = {"1.1": "http://schemas.xmlsoap.org/soap/envelope/", "1.2": "http://www.w3.org/2003/05/soap-envelope"}
MEDIA = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
OPERATIONS = ["VerifyCertificate", "VerifyCertificates", "GetDuesStatus"]
VERSIONS = ["1.1", "1.2"]


def questions(election: Election) -> dict[str, str]:
    record, code, _ = election.certificate()
    samagra = PERSONAS["clean"].samagra_id
    return {
        "VerifyCertificate": f"<e:number>{record.number}</e:number><e:code>{code}</e:code>",
        "VerifyCertificates": f"<e:item><e:number>{record.number}</e:number><e:code>{code}</e:code></e:item>",
        "GetDuesStatus": f"<e:samagra_id>{samagra}</e:samagra_id>",
    }


def webtest_answer(election: Election, version: str, operation: str, question: str, token: str) -> bytes:
    request = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{ENV[version]}"><s:Body>'
        f'<e:{operation} xmlns:e="{NS}">{question}</e:{operation}></s:Body></s:Envelope>'
    ).encode()
    headers = {"Content-Type": MEDIA[version], "Authorization": f"Bearer {token}"}
    if version == "1.1":
        headers["SOAPAction"] = f'"{NS}/{operation}"'
    response = election.app.post(PATH, request, headers=headers, status=200)
    return bytes(response.body)


def tampered(raw: bytes) -> bytes:
    """One character of the Body's content changed: a digit of the answer's time."""
    match = re.search(rb"answered_at>(\d)", raw)
    assert match is not None
    digit = match.group(1)
    other = b"1" if digit != b"1" else b"2"
    return raw[: match.start(1)] + other + raw[match.end(1) :]


def assert_verifies_as_received(raw: bytes, version: str, election: Election, tmp_path: Path) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    envelope = parse_untrusted_xml(raw)
    assert envelope.tag == f"{{{ENV[version]}}}Envelope"
    check_structure(raw, datetime.now(UTC))
    keyring = process_service(election.registry, DocumentKeys).keyring
    # The same key that signed answers before: the evidence key, its certificate from the hub's CA.
    assert keyring.current.evidence is not None
    assert signer_certificate(raw) == keyring.current.evidence.certificate
    published = election.app.get("/.well-known/hub-certificates.pem", status=200).body

    assert zeep_verifies(raw, tmp_path)
    done = readme_command(raw, published, tmp_path / "good")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "signer.pem: OK" in done.stdout
    assert "SignedInfo References (ok/all): 2/2" in done.stderr  # Body and Timestamp

    bad = tampered(raw)
    assert not zeep_verifies(bad, tmp_path)
    refused = readme_command(bad, published, tmp_path / "bad")
    assert refused.returncode != 0


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_webtest_answers_verify_as_received(
    election: Election, version: str, operation: str, tmp_path: Path
) -> None:
    token = election.authority()["token"]
    raw = webtest_answer(election, version, operation, questions(election)[operation], token)
    assert_verifies_as_received(raw, version, election, tmp_path)


def zeep_service(base_url: str, version: str, token: str, received: list[bytes]) -> Any:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def keep(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "POST":
            received.append(response.content)

    # The bytes as they came off the wire, before zeep parses anything.
    session.hooks["response"].append(keep)
    transport = Transport(session=session, timeout=5, operation_timeout=10)
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    client = zeep.Client(f"{base_url}{PATH}?singleWsdl", settings=settings, transport=transport)
    port = {"1.1": "ElectionPort11", "1.2": "ElectionPort12"}[version]
    return client.bind("ElectionService", port)


@pytest.mark.parametrize("version", VERSIONS)
def test_zeep_answers_verify_as_received(
    election: Election, hub_url: str, version: str, tmp_path: Path
) -> None:
    record, code, _ = election.certificate()
    received: list[bytes] = []
    port = zeep_service(hub_url, version, election.authority()["token"], received)
    calls: dict[str, Callable[[], Any]] = {
        "VerifyCertificate": lambda: port.VerifyCertificate(number=record.number, code=code),
        "VerifyCertificates": lambda: port.VerifyCertificates(item=[{"number": record.number, "code": code}]),
        "GetDuesStatus": lambda: port.GetDuesStatus(samagra_id=PERSONAS["clean"].samagra_id),
    }
    for operation, call in calls.items():
        answer = call()
        # zeep reads the signed answer against the WSDL's types as before.
        assert answer.answered_at is not None
        raw = received[-1]
        assert f"{operation}Response".encode() in raw
        assert_verifies_as_received(raw, version, election, tmp_path / operation)


def test_readme_gives_the_verification_command() -> None:
    # Joined as a shell joins a command continued over lines.
    text = " ".join(README.read_text(encoding="utf-8").replace("\\\n", " ").split())
    assert README_COMMAND in text
    assert "/.well-known/hub-certificates.pem" in text
