"""PDFs: PAdES checked by pyHanko's validator and by poppler's pdfsig (NSS), QR read back by zbarimg."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from certs.issuer import IssuedDocument
from certs.pades import FIELD_NAME


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def pyhanko_validate(pdf: bytes, ca: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    f = tmp_path / "signed.pdf"
    f.write_bytes(pdf)
    return run(
        [PYHANKO, "sign", "validate", "--trust", str(ca), "--trust-replace", "--no-revocation-check", str(f)]
    )


def one_byte_change(pdf: bytes) -> bytes:
    """Flip one byte inside a content stream the signature covers (before the signature dictionary)."""
    start = pdf.index(b"stream\n", pdf.index(b"/Length")) + len(b"stream\n")
    i = start + 20
    changed = pdf[:i] + bytes([pdf[i] ^ 0x01]) + pdf[i + 1 :]
    assert len(changed) == len(pdf) and changed != pdf
    return changed


# The CLI from pyhanko-cli, next to the interpreter running the tests (the venv may not be on PATH).
PYHANKO = shutil.which("pyhanko") or str(Path(sys.executable).parent / "pyhanko")


@pytest.fixture(scope="module")
def pyhanko_cli() -> str:
    if not Path(PYHANKO).exists():
        pytest.fail("the pyhanko CLI (pyhanko-cli) is required")
    return PYHANKO


def test_pdf_has_one_pades_signature(issued: IssuedDocument) -> None:
    from io import BytesIO

    reader = PdfFileReader(BytesIO(issued.pdf))
    sigs = reader.embedded_signatures
    assert [s.field_name for s in sigs] == [FIELD_NAME]
    assert sigs[0].sig_object["/SubFilter"] == "/ETSI.CAdES.detached"


def test_pyhanko_validates(issued: IssuedDocument, ca_pem: Path, tmp_path: Path, pyhanko_cli: str) -> None:
    result = pyhanko_validate(issued.pdf, ca_pem, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INTACT:TRUSTED" in result.stdout


def test_pyhanko_rejects_one_byte_change(
    issued: IssuedDocument, ca_pem: Path, tmp_path: Path, pyhanko_cli: str
) -> None:
    result = pyhanko_validate(one_byte_change(issued.pdf), ca_pem, tmp_path)
    assert result.returncode != 0


def test_pyhanko_rejects_foreign_ca(
    issued: IssuedDocument, foreign_ca_pem: Path, tmp_path: Path, pyhanko_cli: str
) -> None:
    result = pyhanko_validate(issued.pdf, foreign_ca_pem, tmp_path)
    assert result.returncode != 0
    assert "UNTRUSTED" in result.stdout


def _nss_db(tmp_path: Path, ca: Path, name: str) -> Path:
    db = tmp_path / f"nss-{name}"
    db.mkdir()
    assert run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"]).returncode == 0
    added = run(["certutil", "-A", "-d", f"sql:{db}", "-n", name, "-t", "CT,C,C", "-i", str(ca)])
    assert added.returncode == 0, added.stderr
    return db


def pdfsig(pdf: bytes, db: Path, tmp_path: Path) -> str:
    f = tmp_path / "pdfsig.pdf"
    f.write_bytes(pdf)
    # pdfsig exits 0 even on a digest mismatch: only its text tells.
    result = run(["pdfsig", "-nssdir", f"sql:{db}", str(f)])
    return result.stdout + result.stderr


def test_pdfsig_valid_and_trusted(issued: IssuedDocument, ca_pem: Path, tmp_path: Path) -> None:
    out = pdfsig(issued.pdf, _nss_db(tmp_path, ca_pem, "hub-ca"), tmp_path)
    assert "Signature is Valid" in out, out
    assert "Certificate is Trusted" in out, out
    assert "Total document signed" in out, out


def test_pdfsig_one_byte_change(issued: IssuedDocument, ca_pem: Path, tmp_path: Path) -> None:
    out = pdfsig(one_byte_change(issued.pdf), _nss_db(tmp_path, ca_pem, "hub-ca"), tmp_path)
    assert "Signature is Valid" not in out, out


def test_pdfsig_foreign_ca(issued: IssuedDocument, foreign_ca_pem: Path, tmp_path: Path) -> None:
    out = pdfsig(issued.pdf, _nss_db(tmp_path, foreign_ca_pem, "foreign-ca"), tmp_path)
    assert "Certificate is Trusted" not in out, out


def test_qr_code_reads_back_the_payload(issued: IssuedDocument, tmp_path: Path) -> None:
    f = tmp_path / "doc.pdf"
    f.write_bytes(issued.pdf)
    assert (
        run(
            ["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(f), str(tmp_path / "page")]
        ).returncode
        == 0
    )
    png = next(tmp_path.glob("page*.png"))
    result = run(["zbarimg", "-q", "--raw", str(png)])
    assert result.stdout.strip() == issued.qr_payload
