"""A bill correction through its three levels on the served hub, in Chromium: the distribution
centre proposes it with the evidence, the division's DGM examines and recommends it, the circle's GM
permits it after confirming; billing is credited once and the signed correction order verifies."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from connectors.demo import PERSONAS
from tests.e2e.conftest import ServedHub, sign_in

EVIDENCE = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CORRECTION_NO = re.compile(r"Bill correction ([0-9A-Z/-]+) proposed")


def _wait(predicate: Any, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {seconds} s")


def _sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out", exact=False).click()
    page.wait_for_load_state()


def _open_case(page: Any, hub: ServedHub, correction_no: str) -> None:
    """From the work queue, the officer opens the correction's case page."""
    page.goto(f"{hub.url}/console")
    page.get_by_role("link", name=correction_no, exact=False).first.click()
    page.wait_for_selector("h1")


def test_a_bill_correction_is_proposed_examined_permitted_credited_once_and_signed(
    served_hub: ServedHub, page: Any
) -> None:
    persona = PERSONAS["faulty_meter"]  # no other end-to-end test touches its bill
    number = persona.consumer_numbers[0]
    [(dc,)] = served_hub.reference_sql(
        "SELECT dc_code FROM ref_consumer WHERE consumer_number = :n", n=number
    )
    [(zone,)] = served_hub.reference_sql("SELECT parent_code FROM ref_office WHERE code = :c", c=dc)
    [(division,)] = served_hub.reference_sql("SELECT parent_code FROM ref_office WHERE code = :c", c=zone)
    [(circle,)] = served_hub.reference_sql("SELECT parent_code FROM ref_office WHERE code = :c", c=division)
    served_hub.officer("bc.assistant", "रीना सोनी", "dc_office_assistant", dc)
    served_hub.officer("bc.dgm", "Alok Tiwari", "dgm", division)
    served_hub.officer("bc.gm", "सुधा मिश्रा", "gm", circle)

    # The office proposes it from the work queue's link, with the meter photo's PDF.
    sign_in(page, served_hub, "bc.assistant")
    page.get_by_role("link", name="Propose a bill correction", exact=False).click()
    page.fill("#consumer_number", number)
    page.fill("#bill_period", "2026-10")
    page.fill("#reading_billed", "4210")
    page.fill("#reading_correct", "2410")
    page.fill("#amount_billed", "90000.00")
    page.fill("#amount_correct", "10000.00")
    page.fill("#reason", "मीटर रीडिंग गलत दर्ज हुई / reading keyed as 4210 for 2410")
    page.set_input_files(
        "#evidence", files=[{"name": "meter-photo.pdf", "mimeType": "application/pdf", "buffer": EVIDENCE}]
    )
    page.screens.shot("proposal")
    page.get_by_role("button", name="Propose", exact=False).click()
    page.wait_for_load_state()
    proposed = CORRECTION_NO.search(page.inner_text("main"))
    assert proposed is not None, page.inner_text("main")
    correction_no = proposed.group(1)
    page.screens.shot("proposed")
    _sign_out(page)

    # ₹80,000 is beyond the manager's delegation: the division's DGM examines and recommends it.
    sign_in(page, served_hub, "bc.dgm")
    _open_case(page, served_hub, correction_no)
    assert "meter-photo.pdf" in page.inner_text("main") or "application/pdf" in page.inner_text("main")
    page.fill("#reason", "Reading 2410 verified on site; recommend the credit of ₹80,000")
    page.get_by_role("button", name="Recommend", exact=False).click()
    page.wait_for_load_state()
    page.screens.shot("recommended")
    _sign_out(page)

    # The circle's GM permits it, after the confirmation the console asks for.
    sign_in(page, served_hub, "bc.gm")
    _open_case(page, served_hub, correction_no)
    page.screens.shot("gm-case")
    page.fill("#reason", "Permitted as recommended")
    page.get_by_role("button", name="Permit the correction", exact=False).click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Confirm", exact=False).click()
    page.wait_for_load_state()
    page.screens.shot("permitted")

    # The consumer's portal reads every step; hub-worker credits billing once.
    portal = served_hub.client("Discom portal (corrections)", "complaints:consumer")
    answer = httpx.get(
        f"{served_hub.url}/api/v1/corrections/{correction_no}",
        params={"consumer_number": number},
        headers=portal["headers"],
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    read = answer.json()
    assert read["status"] == "permitted"
    assert [step["action"] for step in read["history"]] == ["start", "submit", "recommend", "permit"]
    credits = _wait(
        lambda: served_hub.reference_sql(
            "SELECT amount_paise FROM ref_ledger_entry WHERE reference = :r", r=f"BC/{correction_no}"
        ),
        "billing credited",
    )
    assert credits == [(-8_000_000,)]
    time.sleep(2)  # a second delivery would have come by now
    assert (
        len(
            served_hub.reference_sql(
                "SELECT id FROM ref_ledger_entry WHERE reference = :r", r=f"BC/{correction_no}"
            )
        )
        == 1
    )

    # The consumer's SMS links the signed order with its code: the PDF carries a PAdES signature,
    # and its XML verifies with the hub's document check.
    decided = _wait(
        lambda: [
            text
            for (text,) in served_hub.reference_sql(
                "SELECT text FROM ref_sms_message WHERE mobile = :m AND template_name = 'correction_decided'",
                m=persona.mobile,
            )
            if correction_no in text
        ],
        "the consumer told of the decision",
    )
    link = re.search(r"(https?://\S+/pdf\?code=\S+)", decided[0])
    assert link is not None, decided
    pdf = httpx.get(link.group(1), timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and b"/ByteRange" in pdf.content
    xml = httpx.get(link.group(1).replace("/pdf?", "/xml?"), timeout=30)
    assert xml.status_code == 200 and b"SignatureValue" in xml.content
    verified = httpx.post(
        f"{served_hub.url}/api/v1/certificates/verify-document",
        content=xml.content,
        headers={"Content-Type": "application/xml"},
        timeout=30,
    )
    assert verified.status_code == 200 and verified.json()["status"] == "valid", verified.text
    assert read["order_number"] in link.group(1).replace("%2F", "/")
