"""No-dues certificates on the served hub: a candidate applies through the discom's portal, the DGM
approves in the console, the returning officer verifies over SOAP (zeep, signed answers checked as
received) and on the public page, and a revocation answers at once."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import requests
import zeep
from zeep.transports import Transport

from connectors.demo import PERSONAS
from tests.e2e.conftest import ServedHub, sign_in
from tests.hub.soap.wssecurity_check import readme_command, zeep_verifies

CLEAN = PERSONAS["clean"]
PURPOSE = {"election": "gram_panchayat", "body": "ग्राम पंचायत कोलार", "ward": "7"}


class Portal:
    """The discom's portal calling on behalf of a person who reads OTPs on their phone."""

    def __init__(self, hub: ServedHub) -> None:
        self.hub = hub
        self.client = hub.client("Discom portal", "nodues:apply nodues:read certificates:read")

    def call(self, method: str, path: str, status: int, **kw: Any) -> dict[str, Any]:
        answer = httpx.request(method, self.hub.url + path, headers=self.client["headers"], timeout=30, **kw)
        assert answer.status_code == status, (path, answer.status_code, answer.text)
        body: dict[str, Any] = answer.json()
        return body

    def sms_since(self, mobile: str, after: int, template: str, seconds: float = 30) -> tuple[int, str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rows = self.hub.reference_sql(
                "SELECT id, text FROM ref_sms_message WHERE mobile = :m AND id > :i AND template_name = :t "
                "ORDER BY id DESC",
                m=mobile,
                i=after,
                t=template,
            )
            if rows:
                return int(rows[0][0]), str(rows[0][1])
            time.sleep(0.3)
        raise AssertionError(f"no {template} SMS reached {mobile}")

    def last_sms(self) -> int:
        return int(self.hub.reference_sql("SELECT COALESCE(MAX(id), 0) FROM ref_sms_message")[0][0])

    def otp(self, to: str, **body: Any) -> dict[str, str]:
        before = self.last_sms()
        sent = self.call("POST", "/api/v1/nodues/otp", 202, json=body)
        _, text = self.sms_since(to, before, "otp")
        code = re.match(r"[0-9]{6}", text)
        assert code is not None
        return {"challenge_id": sent["challenge_id"], "otp": code.group(0)}


def _wait_for(check: Any, what: str, seconds: float = 40) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def _election_port(hub: ServedHub, received: list[bytes]) -> Any:
    authority = hub.client("State election authority", "certificates:verify dues:read")
    session = requests.Session()
    session.headers.update(authority["headers"])

    def keep(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "POST":
            received.append(response.content)

    session.hooks["response"].append(keep)
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    client = zeep.Client(
        f"{hub.url}/soap/election?singleWsdl",
        settings=settings,
        transport=Transport(session=session, timeout=10, operation_timeout=15),
    )
    return client.bind("ElectionService", "ElectionPort11")


def _decide_with_reason(page: Any, hub: ServedHub, application_id: str, button: str, reason: str) -> None:
    """The signed-in officer opens the case from the queue, gives a reason, acts and confirms."""
    page.goto(f"{hub.url}/console")
    page.get_by_role("link", name=application_id, exact=False).click()
    page.fill("textarea", reason)
    page.get_by_role("button", name=button, exact=False).click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Confirm", exact=False).click()
    page.wait_for_load_state()


def _apply(portal: Portal, account_id: str) -> str:
    """The candidate applies with an OTP sent to the mobile the Samagra registry holds."""
    apply_proof = portal.otp(
        CLEAN.mobile, purpose="apply", account_id=account_id, samagra_id=CLEAN.samagra_id
    )
    filed = portal.call(
        "POST",
        "/api/v1/nodues/applications",
        202,
        json={
            "account_id": account_id,
            "purpose": PURPOSE,
            "samagra_id": CLEAN.samagra_id,
            "name_deva": CLEAN.name_hi,
            "name_latin": CLEAN.name_en,
            **apply_proof,
        },
    )
    return str(filed["application_id"])


def test_a_candidate_is_certified_verified_and_revoked(
    served_hub: ServedHub, page: Any, tmp_path: Path
) -> None:
    portal = Portal(served_hub)
    number = CLEAN.connections[0].consumer_number
    account = portal.call(
        "POST",
        "/api/v1/nodues/accounts",
        201,
        json={"mobile": CLEAN.mobile, **portal.otp(CLEAN.mobile, purpose="account", mobile=CLEAN.mobile)},
    )
    account_id = account["account_id"]
    ekyc_proof = portal.otp(CLEAN.mobile, purpose="ekyc", account_id=account_id, consumer_number=number)
    portal.call(
        "POST",
        f"/api/v1/nodues/accounts/{account_id}/connections/{number}/ekyc",
        202,
        json={"samagra_id": CLEAN.samagra_id, **ekyc_proof},
    )
    _wait_for(
        lambda: portal.call("GET", f"/api/v1/nodues/accounts/{account_id}/connections", 200)[
            "samagra_verified"
        ],
        "e-KYC",
    )
    application_id = _apply(portal, account_id)
    _wait_for(
        lambda: (
            portal.call("GET", f"/api/v1/nodues/applications/{application_id}", 200)["status"]
            == "awaiting_decision"
        ),
        "the automatic checks",
    )

    served_hub.officer("dgm.bpl1", "सुरेश वर्मा", "dgm", "DIV-BPL-1")
    sign_in(page, served_hub, "dgm.bpl1")
    page.get_by_role("link", name=application_id, exact=False).click()
    page.screens.shot("case")
    # On a phone the page itself never scrolls sideways: wide tables scroll in their own box.
    desk = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    page.screens.shot("case-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size(desk)
    assert CLEAN.name_hi in page.inner_text("main")
    page.get_by_role("button", name="Approve", exact=False).click()
    page.wait_for_load_state()
    page.screens.shot("approve-confirm")
    page.get_by_role("button", name="Confirm", exact=False).click()
    page.wait_for_load_state()
    page.screens.shot("approved")

    before = portal.last_sms()
    app = _wait_for(
        lambda: (
            (a := portal.call("GET", f"/api/v1/nodues/applications/{application_id}", 200))["certificate"]
            and a
        ),
        "the certificate",
    )
    certificate = app["certificate"]["number"]
    _, text = portal.sms_since(CLEAN.mobile, before - 10, "nodues_issued")
    assert certificate in text and "code=" in text

    # The returning officer asks over SOAP; the signed answer verifies as received.
    received: list[bytes] = []
    port = _election_port(served_hub, received)
    code = text.split("code=")[1].split()[0]
    answer = port.VerifyCertificate(number=certificate, code=code)
    assert answer.result.status == "valid"
    assert zeep_verifies(received[-1], tmp_path)
    published = httpx.get(f"{served_hub.url}/.well-known/hub-certificates.pem", timeout=10).content
    checked = readme_command(received[-1], published, tmp_path / "xmlsec1")
    assert checked.returncode == 0, checked.stderr

    # The public page, as anyone with the printout would open it.
    page.goto(f"{served_hub.url}/verify?number={certificate}&code={code}")
    page.screens.shot("verify-valid")
    assert "valid" in page.inner_text("body").lower()

    # The DGM revokes; the very next question answers revoked.
    _decide_with_reason(page, served_hub, application_id, "Revoke", "दस्तावेज़ में त्रुटि / issued in error")
    page.screens.shot("revoked")
    assert port.VerifyCertificate(number=certificate, code=code).result.status == "revoked"

    # The candidate applies again; the DGM rejects it with a reason, and the candidate is told.
    again = _apply(portal, account_id)
    _wait_for(
        lambda: (
            portal.call("GET", f"/api/v1/nodues/applications/{again}", 200)["status"] == "awaiting_decision"
        ),
        "the automatic checks of the second application",
    )
    before = portal.last_sms()
    _decide_with_reason(page, served_hub, again, "Reject", "नामांकन वापस लिया / nomination withdrawn")
    page.screens.shot("rejected")
    assert portal.call("GET", f"/api/v1/nodues/applications/{again}", 200)["status"] == "rejected"
    portal.sms_since(CLEAN.mobile, before, "nodues_decided")
