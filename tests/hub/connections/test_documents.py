"""The demand note and sanction letter read as what they are, in words, through pdftotext.

Driven through the new-connection flow the way the other flow tests drive it; the PDFs are
read back from the issued-documents store with the real pdftotext.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from connectors.demo import office_hierarchy
from hub.models.document import IssuedDocument
from hub.models.officer import Officer
from tests.connectors.fake_singlewindow import FakeSingleWindow
from tests.hub.connections.conftest import Hub
from tests.hub.connections.samples import lt_industrial_form, submission

from .test_rest_flow import AM, MGR, OA, URL, pay, post_callback

MANAGER_NAME = "सुनीता देवी वर्मा"


@pytest.fixture()
def client(live_client: Any) -> dict[str, Any]:
    made: dict[str, Any] = live_client(["connections:apply"])
    return made


def pdf_bytes(hub: Hub, number: str) -> bytes:
    with Session(hub.engine) as session:
        doc = session.scalars(
            select(IssuedDocument)
            .where(IssuedDocument.number == number)
            .options(selectinload(IssuedDocument.files))
        ).one()
        return doc.files.pdf


def pdf_text(hub: Hub, number: str, tmp_path: Path) -> str:
    f = tmp_path / "doc.pdf"
    f.write_bytes(pdf_bytes(hub, number))
    out = subprocess.run(["pdftotext", str(f), "-"], capture_output=True, text=True, check=True, timeout=60)
    return " ".join(out.stdout.split())


def test_demand_note_and_sanction_letter_say_what_they_are(
    hub: Hub, client: dict[str, Any], portal: FakeSingleWindow, tmp_path: Path
) -> None:
    with Session(hub.engine) as session, session.begin():
        session.add(
            Officer(username=f"{MGR}-1", name=MANAGER_NAME, password_hash="x", roles=[MGR], offices=[])
        )
    sw_id = "SW-DOC-0001"
    hub.app.post_json(URL, submission(sw_id, lt_industrial_form()), headers=client["headers"], status=201)
    hub.officer(sw_id, "accept_documents", OA)
    hub.officer(sw_id, "inspection_passed", AM)
    hub.officer(sw_id, "issue_demand_note", MGR)
    app = hub.application(sw_id)
    assert app.demand_note_number and app.payment_url

    note = pdf_text(hub, app.demand_note_number, tmp_path)
    assert "Demand Note" in note and "मांग पत्र (डिमांड नोट)" in note
    # The distribution centre by the names billing gives it, not its code.
    office = next(o for o in office_hierarchy() if o.code == app.office_code)
    assert f"{office.name_hi} / {office.name_en}" in note, note
    # How to pay: the amount, the last date and where.
    assert "Total amount due (₹)" in note and "कुल देय राशि (₹)" in note
    assert "Pay by" in note and "भुगतान की अंतिम तिथि" in note
    assert app.payment_url in note, note
    assert "Meter cost (₹)" in note and "मीटर लागत (₹)" in note
    assert "LT industrial / निम्नदाब औद्योगिक" in note
    # A QR of the payment link, next to the verification QR.
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-singlefile", str(tmp_path / "doc.pdf"), str(tmp_path / "note")],
        check=True,
        timeout=60,
    )
    codes = subprocess.run(
        ["zbarimg", "-q", "--raw", str(tmp_path / "note.png")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.splitlines()
    assert app.payment_url in codes, codes

    post_callback(hub, pay(hub, sw_id))
    hub.officer(sw_id, "sanction", MGR)
    app = hub.application(sw_id)
    assert app.sanction_letter_number
    letter = pdf_text(hub, app.sanction_letter_number, tmp_path)
    assert "Sanction Letter for New Connection" in letter and "नया कनेक्शन स्वीकृति पत्र" in letter
    assert "Sanction letter number" in letter and "स्वीकृति पत्र क्रमांक" in letter
    # Signed by the officer's name and designation, not the login id.
    assert MANAGER_NAME in letter and "Manager / प्रबंधक" in letter
    assert "Connected load (kW)" in letter and "संयोजित भार (किलोवाट)" in letter
    assert "415 V three phase / 415 वोल्ट तीन फेज" in letter and "415V" not in letter
    assert f"{office.name_hi} / {office.name_en}" in letter
    # Nothing of the no-dues certificate, and no raw keys or codes.
    assert "No electricity connection" not in letter and "कोई बिजली कनेक्शन" not in letter
    for text in (note, letter):
        for raw in (
            "dc_manager",
            "fee.",
            "lt_industrial",
            "connected_load_kw",
            "application_no",
            "Certificate",
        ):
            assert raw not in text, raw
        assert "Page 1 of 1 · पृष्ठ 1 / 1" in text
