"""zeep, a real SOAP client, reads our served WSDL over HTTP and calls the service on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from hub.soap.envelope import HUB_FAULT_NS
from tests.hub.soap.echo_service import PATH
from tests.hub.soap.wssecurity_check import check_structure, readme_command, signer_certificate, zeep_verifies

SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
PORTS = {"1.1": "EchoPort11", "1.2": "EchoPort12"}


class RecordingTransport(Transport):
    """Remembers every description document zeep fetched."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded: list[str] = []

    def load(self, url: str) -> bytes:
        self.loaded.append(url)
        return super().load(url)  # type: ignore[no-any-return]


def make_client(base_url: str, *, token: str | None = None, wsse: Any = None) -> zeep.Client:
    """zeep with every hardening on: ``forbid_external`` refuses transitive fetches, so ``?singleWsdl``."""
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    transport = Transport(session=session, timeout=5, operation_timeout=5)
    return zeep.Client(f"{base_url}{PATH}?singleWsdl", settings=SETTINGS, transport=transport, wsse=wsse)


def service_for(client: zeep.Client, version: str) -> Any:
    return client.bind("EchoService", PORTS[version])


def fault_code(fault: Fault) -> str | None:
    assert fault.detail is not None
    return fault.detail.findtext(f"{{{HUB_FAULT_NS}}}error/{{{HUB_FAULT_NS}}}code")


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_bearer_token_devanagari_round_trip(live_soap: Any, live_client: Any, version: str) -> None:
    base_url, _app = live_soap
    partner = live_client(["hub:ping"])
    service = service_for(make_client(base_url, token=partner["token"]), version)
    answer = service.Echo(name="किरण शर्मा", times=2)
    assert answer.greeting == "नमस्ते किरण शर्मा नमस्ते किरण शर्मा"
    assert answer.clientId == partner["client_id"]
    assert answer.method == "bearer"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_ws_security_username_token(live_soap: Any, live_client: Any, version: str) -> None:
    base_url, _app = live_soap
    partner = live_client(["hub:ping"])
    wsse = UsernameToken(partner["client_id"], partner["soap_password"], use_digest=True)
    service = service_for(make_client(base_url, wsse=wsse), version)
    # Two calls: zeep makes a fresh nonce each time, so neither is a replay.
    for name in ("अमित", "सुनीता"):
        answer = service.Echo(name=name)
        assert answer.greeting == "नमस्ते " + name
        assert answer.method == "username_token"
        assert answer.clientId == partner["client_id"]


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_faults_reach_zeep_with_their_code(live_soap: Any, live_client: Any, version: str) -> None:
    base_url, _app = live_soap
    partner = live_client(["hub:ping"])
    wrong = UsernameToken(partner["client_id"], "not-the-password", use_digest=True)
    with pytest.raises(Fault) as raised:
        service_for(make_client(base_url, wsse=wrong), version).Echo(name="किरण")
    assert fault_code(raised.value) == "invalid_token"

    service = service_for(make_client(base_url, token=partner["token"]), version)
    with pytest.raises(Fault) as raised:
        service.EchoEvidence(name="किरण")  # hub:ping does not reach certificates:verify
    assert fault_code(raised.value) == "insufficient_scope"
    assert str(raised.value.code).endswith("Client" if version == "1.1" else "Sender")
    with pytest.raises(Fault) as raised:
        service.Trouble(kind="unavailable")
    assert fault_code(raised.value) == "dependency_unavailable"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_signed_evidence_verifies_as_received(
    live_soap: Any, live_client: Any, soap_keyring: Any, tmp_path: Path, version: str
) -> None:
    base_url, _app = live_soap
    partner = live_client(["certificates:verify"])
    client = make_client(base_url, token=partner["token"])
    service = service_for(client, version)
    # zeep accepts the signed answer against the WSDL's types...
    answer = service.EchoEvidence(name="किरण शर्मा")
    assert answer.greeting == "प्रमाणित किरण शर्मा"
    # ...and the envelope exactly as received verifies with zeep's and xmlsec1's WS-Security checks.
    with client.settings(raw_response=True):
        raw = service.EchoEvidence(name="किरण शर्मा").content
    check_structure(raw)
    # ...made with the ECDSA P-256 evidence key, not the RSA document key.
    assert soap_keyring.current.evidence is not None
    assert signer_certificate(raw) == soap_keyring.current.evidence.certificate
    assert zeep_verifies(raw, tmp_path)
    done = readme_command(raw, soap_keyring.published_pem(), tmp_path / "good")
    assert done.returncode == 0, done.stdout + done.stderr

    # One changed character and both refuse it.
    tampered = raw.replace("शर्मा".encode(), "वर्मा".encode())
    assert tampered != raw
    assert not zeep_verifies(tampered, tmp_path)
    assert readme_command(tampered, soap_keyring.published_pem(), tmp_path / "bad").returncode != 0


def test_wsdl_names_the_live_address(live_soap: Any) -> None:
    base_url, _app = live_soap
    client = make_client(base_url)
    for version, port in PORTS.items():
        assert service_for(client, version)._binding_options["address"] == f"{base_url}{PATH}", port


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_wsdl_with_imports_loads_everything_from_the_hub(
    live_soap: Any, live_client: Any, version: str
) -> None:
    base_url, _app = live_soap
    partner = live_client(["hub:ping"])
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {partner['token']}"
    transport = RecordingTransport(session=session, timeout=5, operation_timeout=5)
    # forbid_external would refuse the imports themselves: this client follows them, to our server only.
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True)
    client = zeep.Client(f"{base_url}{PATH}?wsdl", settings=settings, transport=transport)
    assert transport.loaded == [
        f"{base_url}{PATH}?wsdl",
        f"{base_url}{PATH}?xsd=echo.xsd",
        f"{base_url}{PATH}?xsd=common.xsd",
    ]
    assert service_for(client, version).Echo(name="किरण").greeting == "नमस्ते किरण"
