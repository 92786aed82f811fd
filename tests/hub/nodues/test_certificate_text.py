"""The no-dues certificate, issued through the officer console, reads back as printed.

A person without connections gets one consistent statement (not "the connections listed
below" next to "no connection is recorded"), and the PDF text layer gives back the Devanagari
names exactly (pdftotext lost the reph of "शर्मा" before).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from connectors.demo import PERSONAS, office_hierarchy
from hub.models.document import IssuedDocument
from tests.hub.nodues.flow import Flow

OFFICER = "सुनीता देवी वर्मा"


def test_no_connection_certificate_says_one_thing_in_words(flow: Flow, tmp_path: Path) -> None:
    person = PERSONAS["no_connection"]
    account = flow.open_account(person.mobile)
    app_id = flow.apply(
        account["account_id"],
        person.mobile,
        name_deva=person.name_hi,
        samagra_id=person.samagra_id,
        no_connection=True,
    ).json["application_id"]
    flow.drain()
    flow.officer("dgm.text", ["dgm"], ["DIV-BPL-1"], name=OFFICER)
    flow.decide(flow.console("dgm.text"), app_id, "approve")
    number = flow.application(app_id)["certificate"]["number"]
    with Session(flow.engine) as session:
        pdf = (
            session.scalars(
                select(IssuedDocument)
                .where(IssuedDocument.number == number)
                .options(selectinload(IssuedDocument.files))
            )
            .one()
            .files.pdf
        )
    f = tmp_path / "certificate.pdf"
    f.write_bytes(pdf)
    text = " ".join(
        subprocess.run(
            ["pdftotext", str(f), "-"], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
    )
    assert person.name_hi in text and OFFICER in text
    # The deciding office by the names billing gives it.
    office = next(o for o in office_hierarchy() if o.code == "DIV-BPL-1")
    assert f"{office.name_hi} / {office.name_en}" in text, text
    assert f"no electricity connection is recorded in the name of {person.name_hi}" in text
    # The holder as the Samagra registry records them: Devanagari, then the Latin spelling.
    assert f"{person.name_hi} ({person.name_en}) के नाम पर कोई बिजली कनेक्शन दर्ज नहीं है" in text
    assert "connections listed below" not in text and "बिजली कनेक्शनों पर" not in text
    assert "No connection in the holder's name / धारक के नाम पर कोई कनेक्शन नहीं" in text
    assert "Passed / सफल" in text
    for raw in ("no_connection", " pass ", "dgm.text"):
        assert raw not in f" {text} ", raw
    assert f"{number} · Page 1 of 1 · पृष्ठ 1 / 1" in text
