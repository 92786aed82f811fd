"""Verification against the hub served as production serves it (granian, its own process).

What an answer promises holds outside the test harness too: a revocation is
seen by the very next question, over REST and SOAP, and an answer that reached
the caller is in the verification log even if the process is killed outright
the moment after.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hub.auth.clients import create_client
from hub.crypto import soap_password_box
from hub.models.document import DocumentVerification
from hub.settings import env_name
from tests.hub.documents_fixtures import issue, no_dues_request

ROOT = Path(__file__).resolve().parents[3]
ELECTION = "urn:discom-hub:election:1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, settings: dict[str, Any], engine: Engine, wsgi_app: Any) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = wsgi_app.registry
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            # Every setting from the environment, as an operator deploys it (hub.settings).
            **{env_name(key): str(value) for key, value in self.settings.items()},
            "HUB_PUBLIC_URL": self.url,
            "HUB_OAUTH_ISSUER": self.url,
            "HUB_INI": str(ROOT / "development.ini"),
        }
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
            + ["--port", str(port), "--workers", "1", "--blocking-threads", "2", "hub.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, "the served hub exited"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the served hub did not become ready"
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL to every process of the server: no exit handler, no flush, nothing runs."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def partner(self, scopes: list[str]) -> tuple[str, dict[str, str]]:
        with Session(self.engine) as session, session.begin():
            made = create_client(
                session,
                "Returning Officer Bhopal",
                scopes,
                secret_box=soap_password_box(self.registry.settings),
            )
        basic = base64.b64encode(f"{made.client_id}:{made.client_secret}".encode()).decode()
        token = httpx.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
            timeout=10,
        )
        assert token.status_code == 200, token.text
        return made.client_id, {"Authorization": f"Bearer {token.json()['access_token']}"}

    def certificate(self, client_id: str | None = None) -> tuple[str, str]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            issued = issue(session, self.registry, no_dues_request(client_id=client_id))
        return issued.record.number, issued.verification_code

    def rest_status(self, number: str, code: str) -> str:
        answer = httpx.post(
            f"{self.url}/api/v1/certificates/verify", json={"number": number, "code": code}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["status"])

    def soap_status(self, number: str, code: str, headers: dict[str, str]) -> str:
        body = (
            f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><e:VerifyCertificate xmlns:e="{ELECTION}">'
            f"<e:number>{number}</e:number><e:code>{code}</e:code></e:VerifyCertificate></s:Body></s:Envelope>"
        )
        answer = httpx.post(
            f"{self.url}/soap/election",
            content=body.encode(),
            headers={
                **headers,
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"{ELECTION}/VerifyCertificate"',
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text[:500]
        status = etree.fromstring(answer.content).find(f".//{{{ELECTION}}}result/{{{ELECTION}}}status")
        assert status is not None
        return str(status.text)

    def logged(self, number: str) -> int:
        with Session(self.engine) as session:
            return session.execute(
                select(func.count())
                .select_from(DocumentVerification)
                .where(DocumentVerification.number_given == number)
            ).scalar_one()


@pytest.fixture()
def served(live_settings: dict[str, Any], live_engine: Engine, live_wsgi_app: Any) -> Iterator[Served]:
    hub = Served(live_settings, live_engine, live_wsgi_app)
    hub.start()
    try:
        yield hub
    finally:
        if hub.process is not None and hub.process.poll() is None:
            hub.kill()


def test_a_revocation_is_seen_by_the_very_next_verification_over_rest_and_soap(served: Served) -> None:
    client_id, headers = served.partner(["certificates:verify", "certificates:revoke"])
    number, code = served.certificate(client_id)
    assert served.rest_status(number, code) == "valid"
    assert served.soap_status(number, code, headers) == "valid"
    revoked = httpx.post(
        f"{served.url}/api/v1/certificates/{number}/revocation",
        json={"reason": "dues found after issue"},
        headers=headers,
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    assert served.rest_status(number, code) == "revoked"
    assert served.soap_status(number, code, headers) == "revoked"


def test_an_answered_verification_is_logged_even_if_the_server_is_killed_right_after(served: Served) -> None:
    number, code = served.certificate()
    before = served.logged(number)
    assert served.rest_status(number, code) == "valid"
    served.kill()
    assert served.logged(number) == before + 1
