"""Several flows at once on the hub as `make run` serves it: none is refused as busy.

A no-dues application decided by the DGM, a new connection worked up to its demand note, and a
DBT scheme's consented KYC pull run side by side. Each calls the reference systems (billing,
Samagra, KYC, SMS, payment) from inside the hub's requests and worker; those keep their own
store, so on SQLite none of them waits on the hub's write lock.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from html import unescape
from typing import Any

import httpx

from connectors.demo import PERSONAS
from tests.e2e.conftest import OFFICER_PASSWORD, ServedHub, file_connection

NODUES_PERSON = PERSONAS["incomplete_kyc"]
DBT_PERSON = PERSONAS["several_connections"]
SCHEME = "mukhyamantri-kisan"
PURPOSE = {"election": "gram_panchayat", "body": "ग्राम पंचायत बैरसिया", "ward": "3"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BUTTON = re.compile(r'<button type="submit" name="action" value="([^"]+)">([^<]*)</button>')
APPLICATIONS = "/api/v1/connections/applications"
# What a refused-as-busy answer looks like; none may appear.
BUSY = (503, 429)


def _ok(answer: httpx.Response, *expected: int) -> Any:
    assert answer.status_code not in BUSY, (answer.request.url, answer.status_code, answer.text)
    assert answer.status_code in expected, (answer.request.url, answer.status_code, answer.text)
    return answer.json() if answer.headers.get("content-type", "").startswith("application/") else answer


def _wait_for(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {seconds} s")


class Console:
    """An officer at the console in a browser of their own (cookies), posting its forms."""

    def __init__(self, hub: ServedHub, username: str) -> None:
        self.hub = hub
        self.browser = httpx.Client(base_url=hub.url, timeout=30)
        login = self.browser.get("/console/login")
        token = CSRF.search(login.text)
        assert token is not None
        signed_in = self.browser.post(
            "/console/login",
            data={"username": username, "password": OFFICER_PASSWORD, "csrf_token": token.group(1)},
        )
        assert signed_in.status_code == 302, signed_in.text

    def act(self, case_title: str, label_en: str, reason: str = "") -> None:
        """Open the case named ``case_title`` from the work queue and press the button ``label_en``."""
        queue = self.browser.get("/console")
        assert queue.status_code == 200, queue.text
        link = re.search(r'<a href="([^"]+)">[^<]*' + re.escape(case_title), queue.text)
        assert link is not None, f"{case_title} is not in the queue"
        case = self.browser.get(unescape(link.group(1)))
        assert case.status_code == 200, case.text
        actions = {unescape(text).split(" / ")[-1]: name for name, text in BUTTON.findall(case.text)}
        name = next((n for text, n in actions.items() if label_en in text), None)
        assert name is not None, (label_en, actions)
        token = CSRF.search(case.text)
        assert token is not None
        form = re.search(r'<form method="post" action="([^"]+)">', case.text)
        assert form is not None
        decided = self.browser.post(
            unescape(form.group(1)),
            # As pressed on the confirmation page that irreversible actions ask for.
            data={"action": name, "reason": reason, "csrf_token": token.group(1), "confirm": "yes"},
        )
        assert decided.status_code == 302, (decided.status_code, decided.text[-2000:])
        self.browser.close()


def _otp(hub: ServedHub, mobile: str, after: int) -> str:
    def sent() -> str | None:
        rows = hub.reference_sql(
            "SELECT text FROM ref_sms_message WHERE mobile = :m AND id > :i AND template_name = 'otp' "
            "ORDER BY id DESC",
            m=mobile,
            i=after,
        )
        found = re.search(r"\b([0-9]{6})\b", rows[0][0]) if rows else None
        return found.group(1) if found else None

    code: str = _wait_for(sent, f"an OTP to {mobile}")
    return code


def _last_sms(hub: ServedHub) -> int:
    return int(hub.reference_sql("SELECT COALESCE(MAX(id), 0) FROM ref_sms_message")[0][0])


def nodues_approved(hub: ServedHub, portal: dict[str, Any]) -> None:
    person = NODUES_PERSON
    number = person.connections[0].consumer_number
    headers = portal["headers"]

    def otp(**body: Any) -> dict[str, str]:
        before = _last_sms(hub)
        sent = _ok(httpx.post(f"{hub.url}/api/v1/nodues/otp", json=body, headers=headers, timeout=30), 202)
        return {"challenge_id": sent["challenge_id"], "otp": _otp(hub, person.mobile, before)}

    account = _ok(
        httpx.post(
            f"{hub.url}/api/v1/nodues/accounts",
            json={"mobile": person.mobile, **otp(purpose="account", mobile=person.mobile)},
            headers=headers,
            timeout=30,
        ),
        201,
    )["account_id"]
    proof = otp(purpose="ekyc", account_id=account, consumer_number=number)
    _ok(
        httpx.post(
            f"{hub.url}/api/v1/nodues/accounts/{account}/connections/{number}/ekyc",
            json={"samagra_id": person.samagra_id, **proof},
            headers=headers,
            timeout=30,
        ),
        202,
    )

    def verified() -> bool:
        listed = httpx.get(
            f"{hub.url}/api/v1/nodues/accounts/{account}/connections", headers=headers, timeout=30
        )
        return bool(_ok(listed, 200)["samagra_verified"])

    _wait_for(verified, "e-KYC")
    proof = otp(purpose="apply", account_id=account, samagra_id=person.samagra_id)
    application = _ok(
        httpx.post(
            f"{hub.url}/api/v1/nodues/applications",
            json={
                "account_id": account,
                "purpose": PURPOSE,
                "samagra_id": person.samagra_id,
                "name_deva": person.name_hi,
                "name_latin": person.name_en,
                **proof,
            },
            headers=headers,
            timeout=30,
        ),
        202,
    )["application_id"]

    def status() -> dict[str, Any]:
        found: dict[str, Any] = _ok(
            httpx.get(f"{hub.url}/api/v1/nodues/applications/{application}", headers=headers, timeout=30), 200
        )
        return found

    _wait_for(lambda: status()["status"] == "awaiting_decision", "the automatic checks")
    Console(hub, "dgm.conc").act(application, "Approve")
    certificate = _wait_for(lambda: status()["certificate"], "the certificate")
    assert certificate["status"] == "valid"


def connection_demand_note(hub: ServedHub) -> None:
    portal, sw_id, number = file_connection(hub)

    def status() -> str:
        answer = httpx.get(f"{hub.url}{APPLICATIONS}/{sw_id}", headers=portal["headers"], timeout=30)
        return str(_ok(answer, 200)["status"])

    Console(hub, "oa101.conc").act(number, "Documents complete")
    assert status() == "site_inspection"
    Console(hub, "am101.conc").act(number, "Site found feasible")
    assert status() == "demand_note"
    Console(hub, "mgr101.conc").act(number, "Issue the demand note")
    assert status() == "awaiting_payment"
    told = _ok(httpx.get(f"{hub.url}{APPLICATIONS}/{sw_id}", headers=portal["headers"], timeout=30), 200)
    # The gateway's order exists: its checkout page answers.
    checkout = httpx.get(told["demand_note"]["payment_url"], timeout=30)
    assert checkout.status_code == 200, checkout.text


def dbt_kyc_pull(hub: ServedHub, scheme: dict[str, Any], portal: dict[str, Any]) -> None:
    person = DBT_PERSON
    consumer = person.connections[0].consumer_number
    hub.admin("kyc", "sync")
    before = _last_sms(hub)
    asked = _ok(
        httpx.post(
            f"{hub.url}/api/v1/kyc/consents/otp",
            json={"samagra_id": person.samagra_id, "purpose": SCHEME},
            headers=portal["headers"],
            timeout=30,
        ),
        202,
    )
    _ok(
        httpx.post(
            f"{hub.url}/api/v1/kyc/consents",
            json={
                "samagra_id": person.samagra_id,
                "purpose": SCHEME,
                "challenge_id": asked["challenge_id"],
                "otp": _otp(hub, person.mobile, before),
            },
            headers=portal["headers"],
            timeout=30,
        ),
        200,
        201,
    )
    found = _ok(
        httpx.post(
            f"{hub.url}/api/v1/kyc/records/lookup",
            json={"purpose": SCHEME, "consumer_numbers": [consumer]},
            headers=scheme["headers"],
            timeout=30,
        ),
        200,
    )["items"][0]
    assert found["status"] == "found", found
    assert found["record"] == {"consumer_number": consumer, "kyc_status": "complete"}


def test_flows_run_side_by_side_and_none_is_refused_as_busy(served_hub: ServedHub) -> None:
    hub = served_hub
    # Set up first, as the operator would have: officers, partners, the scheme's field policy.
    hub.officer("dgm.conc", "सुरेश वर्मा", "dgm", "DIV-BPL-1")
    hub.officer("oa101.conc", "Sunil Yadav", "dc_office_assistant", "DC-101")
    hub.officer("am101.conc", "Anita Verma", "dc_assistant_manager", "DC-101")
    hub.officer("mgr101.conc", "Rakesh Tiwari", "dc_manager", "DC-101")
    nodues_portal = hub.client("Discom portal (concurrent)", "nodues:apply nodues:read certificates:read")
    scheme = hub.client("Kisan DBT", "kyc:read kyc:export", "--purposes", SCHEME)
    hub.admin(
        "kyc", "policy", "set", "--client", scheme["client_id"], "--purpose", SCHEME,
        "--fields", "consumer_number,kyc_status",
    )  # fmt: skip
    consent_portal = hub.client("Discom portal (consents)", "kyc:consent")
    log_before = hub.log.read_text(errors="replace")

    flows: dict[str, Callable[[], None]] = {
        "no-dues approval": lambda: nodues_approved(hub, nodues_portal),
        "new connection demand note": lambda: connection_demand_note(hub),
        "DBT KYC pull": lambda: dbt_kyc_pull(hub, scheme, consent_portal),
    }
    start = threading.Barrier(len(flows))
    failures: dict[str, BaseException] = {}

    def run(name: str, flow: Callable[[], None]) -> None:
        start.wait()
        try:
            flow()
        except BaseException as exc:  # noqa: BLE001 - reported below, per flow
            failures[name] = exc

    threads = [threading.Thread(target=run, args=item, name=item[0]) for item in flows.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not [t.name for t in threads if t.is_alive()], "a flow hung"
    assert failures == {}, {name: repr(exc) for name, exc in failures.items()}
    # No reference system failed for want of its store while the flows ran.
    log = hub.log.read_text(errors="replace")[len(log_before) :]
    assert "reference database unavailable" not in log
