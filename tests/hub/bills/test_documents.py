"""The bill and the receipt as documents: signed PDFs whose text layer and QR read back as printed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import func, select

from hub.models.document import IssuedDocument
from tests.hub.bills.conftest import CLEAN, DISCONNECTED, UNKNOWN, Bills
from tests.hub.bills.test_channels import bbps


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True, timeout=60
    )
    return " ".join(out.stdout.split())


def qr_codes(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "qr.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", str(path), str(tmp_path / "page")], check=True, timeout=60
    )
    codes: list[str] = []
    for page in sorted(tmp_path.glob("page*.png")):
        # Exit status 4: no code on this page.
        found = subprocess.run(
            ["zbarimg", "-q", "--raw", str(page)], check=False, capture_output=True, text=True, timeout=60
        )
        assert found.returncode in (0, 4), found.stderr
        codes += found.stdout.splitlines()
        page.unlink()
    return codes


def bill_documents(bills: Bills) -> int:
    with bills.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(IssuedDocument)
                .where(IssuedDocument.kind == "electricity_bill")
            ).scalar_one()
        )


def test_bill_pdf_reads_as_a_bill_with_a_upi_qr_and_is_kept(bills: Bills, tmp_path: Path) -> None:
    headers = bills.headers("bills:fetch")
    before = bill_documents(bills)
    response = bills.app.get(f"/api/v1/bills/{DISCONNECTED}/bill.pdf", headers=headers)
    assert response.content_type == "application/pdf"
    text = pdf_text(response.body, tmp_path)
    assert "Electricity Bill" in text and "विद्युत बिल" in text
    assert "गीता बाई पटेल" in text and "Geeta Bai Patel" in text
    for english, hindi in (
        ("Bill number", "बिल क्रमांक"),
        ("Due date", "देय तिथि"),
        ("Previous reading (kWh)", "पिछली रीडिंग (यूनिट)"),
        ("Energy charge (₹)", "ऊर्जा प्रभार (₹)"),
        ("Arrears (₹)", "बकाया (₹)"),
        ("Amount due after the due date (₹)", "देय तिथि के बाद देय राशि (₹)"),
    ):
        assert english in text and hindi in text, english
    assert "1,830.00" in text
    codes = qr_codes(response.body, tmp_path)
    upi = [c for c in codes if c.startswith("upi://pay?")]
    assert len(upi) == 1, codes
    assert "pa=mpcz.bills@sbi" in upi[0] and "am=1830.00" in upi[0] and "cu=INR" in upi[0]
    # Asked again: the same kept document, not a new one.
    again = bills.app.get(f"/api/v1/bills/{DISCONNECTED}/bill.pdf", headers=headers)
    assert again.body == response.body
    assert bill_documents(bills) == before + 1


def test_nothing_due_bill_has_no_payment_qr(bills: Bills, tmp_path: Path) -> None:
    response = bills.app.get(f"/api/v1/bills/{CLEAN}/bill.pdf", headers=bills.headers("bills:fetch"))
    assert not [c for c in qr_codes(response.body, tmp_path) if c.startswith("upi://")]
    unknown = bills.app.get(
        f"/api/v1/bills/{UNKNOWN}/bill.pdf", headers=bills.headers("bills:fetch"), status=404
    )
    assert unknown.json["code"] == "consumer_not_found"


def test_receipt_pdf_after_posting(bills: Bills, tmp_path: Path) -> None:
    headers = bills.headers("bills:bbps")
    bills.app.post_json("/api/v1/bills/payments/bbps", bbps(bills), headers=headers, status=202)
    early = bills.app.get("/api/v1/bills/payments/bbps/BBPS0001/receipt.pdf", headers=headers, status=404)
    assert early.json["code"] == "not_found"
    bills.drain()
    receipt_number = bills.payment("bbps", "BBPS0001").receipt_number
    assert receipt_number
    pdf = bills.app.get("/api/v1/bills/payments/bbps/BBPS0001/receipt.pdf", headers=headers).body
    text = pdf_text(pdf, tmp_path)
    assert "Payment Receipt" in text and "भुगतान रसीद" in text
    assert receipt_number in text and "BBPS0001" in text and "1,830.00" in text
