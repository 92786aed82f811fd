"""A new connection as the single window files it and the distribution centre's officers work it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import ServedHub, file_connection, sign_in
from tests.hub.connections.samples import document

APPLICATIONS = "/api/v1/connections/applications"


def _act(
    page: Any,
    hub: ServedHub,
    username: str,
    application_no: str,
    button: str,
    reason: str = "",
    confirm: bool = False,
    see: tuple[str, ...] = (),
) -> None:
    """An officer opens the case from their queue and takes one action (confirming it if it asks)."""
    sign_in(page, hub, username)
    page.get_by_role("link", name=application_no, exact=False).click()
    shown = page.inner_text("main")
    for text in see:
        assert text in shown, text
    if reason:
        page.fill("textarea", reason)
    page.screens.shot(f"{username}-before")
    page.get_by_role("button", name=button, exact=False).click()
    page.wait_for_load_state()
    if confirm:
        page.screens.shot(f"{username}-confirm")
        page.get_by_role("button", name="Confirm", exact=False).click()
        page.wait_for_load_state()
    page.screens.shot(f"{username}-after")
    error = page.locator(".error")
    assert error.count() == 0, error.all_inner_texts()
    page.get_by_role("button", name="Sign out", exact=False).click()


def test_a_new_connection_from_filing_to_release(served_hub: ServedHub, page: Any) -> None:
    portal, sw_id, number = file_connection(served_hub)

    def status() -> str:
        answer = httpx.get(f"{served_hub.url}{APPLICATIONS}/{sw_id}", headers=portal["headers"], timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["status"])

    served_hub.officer("oa101", "Sunil Yadav", "dc_office_assistant", "DC-101")
    served_hub.officer("am101", "Anita Verma", "dc_assistant_manager", "DC-101")
    served_hub.officer("mgr101", "Rakesh Tiwari", "dc_manager", "DC-101")

    _act(
        page,
        served_hub,
        "oa101",
        number,
        "Ask the applicant",
        reason="ओनरशिप प्रमाण सत्यापित नहीं / not attested",
    )
    assert status() == "query_on_documents"
    answered = httpx.post(
        f"{served_hub.url}{APPLICATIONS}/{sw_id}/query-response",
        json={"answer": "Attested copy attached", "documents": [document("ownership_proof", b"attested")]},
        headers=portal["headers"],
        timeout=30,
    )
    assert answered.status_code == 200, answered.text
    # The officer reads the answer and the document sent with it before accepting.
    _act(
        page,
        served_hub,
        "oa101",
        number,
        "Documents complete",
        see=("Attested copy attached", "ownership_proof.pdf"),
    )
    assert status() == "site_inspection"
    _act(page, served_hub, "am101", number, "Site found feasible")
    assert status() == "demand_note"
    _act(page, served_hub, "mgr101", number, "Issue the demand note")
    assert status() == "awaiting_payment"

    # The applicant pays the demand note on the gateway's page; the gateway calls the hub's webhook.
    answer = httpx.get(f"{served_hub.url}{APPLICATIONS}/{sw_id}", headers=portal["headers"], timeout=10)
    payment_url = answer.json()["demand_note"]["payment_url"]
    assert payment_url.startswith(served_hub.url + "/reference/pay/")
    page.goto(payment_url)
    page.screens.shot("checkout")
    page.get_by_role("button", name="Pay", exact=False).first.click()
    page.wait_for_selector("#webhook")
    page.screens.shot("paid")
    assert "HTTP 200" in page.inner_text("#webhook")
    assert status() == "sanction"

    _act(page, served_hub, "mgr101", number, "Sanction the connection")
    assert status() == "meter_installation"
    # The single window reads the documents it is told about with its own token.
    told = httpx.get(f"{served_hub.url}{APPLICATIONS}/{sw_id}", headers=portal["headers"], timeout=10).json()
    for url in (told["demand_note"]["pdf_url"], told["sanction_letter_url"]):
        pdf = httpx.get(url, headers=portal["headers"], timeout=30)
        assert pdf.status_code == 200, (url, pdf.text[:300])
        assert pdf.content.startswith(b"%PDF")
    _act(page, served_hub, "am101", number, "Meter installed", confirm=True)
    assert status() == "closed"
