"""The case file a consumer takes to the grievance forum: every step and every SMS, signed, in both
languages; the consumer gets only their own, an officer only their office's."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from connectors.reference_db import set_down
from hub.models.document import IssuedDocument
from tests.certs.test_pdf_signature import one_byte_change, pyhanko_validate
from tests.hub.bills.test_documents import pdf_text
from tests.hub.complaints.conftest import ComplaintFlow


def _case_files(flow: ComplaintFlow) -> int:
    with flow.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(IssuedDocument)
                .where(IssuedDocument.kind == "complaint_case_file")
            ).scalar_one()
        )


def test_case_file_holds_every_step_and_sms_and_is_signed(flow: ComplaintFlow, tmp_path: Path) -> None:
    number, mobile = flow.persona("clean")
    complaint_no = flow.call(status=201, description="बिजली गुल — no supply since 9 pm").json["complaint_no"]
    officer = flow.officer(["dc_assistant_manager", "dc_manager", "dgm", "gm"], [flow.dc_of(number)])
    flow.standard_passed(complaint_no, hours_ago=7)
    assert flow.run_job("complaints.standards") == 1
    assert flow.act(officer, complaint_no, "resolve", "Service line rejoined, pole 17").status_int == 302
    flow.drain()

    url = f"/api/v1/complaints/{complaint_no}/case-file?consumer_number={number}"
    answer = flow.app.get(url, headers=flow.portal, status=200)
    assert answer.content_type == "application/pdf"
    assert answer.headers["Cache-Control"] == "private, no-store"
    text = pdf_text(answer.body, tmp_path)
    assert "Complaint Case File" in text and "शिकायत प्रकरण पत्रावली" in text
    assert complaint_no in text and number in text
    assert "बिजली गुल — no supply since 9 pm" in text
    for step in ("Registered / पंजीकृत", "Statutory date passed", "Service line rejoined, pole 17"):
        assert step in text, step
    # The SMS the consumer was sent are evidence too, the mobile masked.
    assert "SMS to XXXXXX" + mobile[-4:] in text and mobile not in text
    assert "Compensation for the missed standard" in text and "100.00" in text

    # Signed by the hub: pyHanko validates it against the published certificates; one byte changed fails.
    published = tmp_path / "hub.pem"
    published.write_bytes(flow.app.get("/.well-known/hub-certificates.pem", status=200).body)
    valid = pyhanko_validate(answer.body, published, tmp_path)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert pyhanko_validate(one_byte_change(answer.body), published, tmp_path).returncode != 0

    # Asked again with nothing new: the same document. After a new step: a new one.
    count = _case_files(flow)
    assert flow.app.get(url, headers=flow.portal).body == answer.body
    assert _case_files(flow) == count
    flow.app.post_json(
        f"/api/v1/complaints/{complaint_no}/rating",
        {"consumer_number": number, "rating": 2, "remarks": "देर से / late"},
        headers=flow.portal,
        status=200,
    )
    newer = flow.app.get(url, headers=flow.portal, status=200)
    assert _case_files(flow) == count + 1
    assert "देर से / late" in pdf_text(newer.body, tmp_path)


def test_only_the_consumer_and_the_office_get_the_case_file(flow: ComplaintFlow, tmp_path: Path) -> None:
    number, _ = flow.persona("clean")
    other, _ = flow.persona("dues")
    complaint_no = flow.call(status=201).json["complaint_no"]

    # Another consumer's number: the complaint looks missing; bad input is a clear 400.
    missing = flow.app.get(
        f"/api/v1/complaints/{complaint_no}/case-file?consumer_number={other}",
        headers=flow.portal,
        status=404,
    )
    assert missing.content_type == "application/problem+json"
    for query in ("", "?consumer_number=%E0%A5%A7%E0%A5%A8%E0%A5%A9", "?consumer_number=" + number + "&x=1"):
        bad = flow.app.get(
            f"/api/v1/complaints/{complaint_no}/case-file{query}", headers=flow.portal, status=400
        )
        assert bad.content_type == "application/problem+json"
    # The call centre reads complaints but is not the consumer.
    flow.app.get(
        f"/api/v1/complaints/{complaint_no}/case-file?consumer_number={number}",
        headers=flow.callcentre,
        status=403,
    )

    # The office's officer downloads it from the case page; another office's officer is sent away.
    officer = flow.officer(["dc_assistant_manager"], [flow.dc_of(number)])
    page = officer.get(f"/console/cases/{flow.case_id(complaint_no)}")
    link = f"/console/complaints/{complaint_no}/case-file.pdf"
    assert f'href="{link}"' in page.text
    pdf = officer.get(link, status=200)
    assert pdf.content_type == "application/pdf" and complaint_no in pdf_text(pdf.body, tmp_path)
    stranger = flow.officer(["dc_assistant_manager"], ["DC-999"])
    assert stranger.get(link, status=302).location.endswith("/console")
    assert stranger.get("/console/complaints/not-a-number/case-file.pdf", status=302)

    # Billing down (the consumer's name comes from billing): a record with a new step gets no case
    # file; nothing is issued, the officer is told, the portal gets a 503.
    assert flow.act(officer, complaint_no, "assign", "Lineman Ramesh sent").status_int == 302
    set_down(flow.reference, "billing", True)
    try:
        before = _case_files(flow)
        back = officer.get(link, status=503)
        assert "not answering" in back.text and "Lineman Ramesh sent" in back.text
        flow.app.get(
            f"/api/v1/complaints/{complaint_no}/case-file?consumer_number={number}",
            headers=flow.portal,
            status=503,
        )
        assert _case_files(flow) == before
    finally:
        set_down(flow.reference, "billing", False)
    assert officer.get(link, status=200).content_type == "application/pdf"
    assert _case_files(flow) == before + 1
