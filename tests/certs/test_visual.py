"""Visual regression: page 1 of a Hindi certificate against an approved image.

Shaping bugs do not raise: reportlab silently prints "किरण" as "करिण" when shaping is off. So
we render a fixed document (fixed times, fixed QR text) to PNG with pdftoppm and compare it with
the approved reference in ``reference/``. Two controls prove the comparison can fail: the same
page with shaping switched off, and the same page with the misordered name "करिण".

To approve a deliberate layout change: ``CERTS_APPROVE_REFERENCE=1 pytest tests/certs/test_visual.py``,
then LOOK at the new PNG before committing it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

import certs.pdf
from certs.pdf import render_pdf

from .conftest import make_document

REFERENCE = Path(__file__).parent / "reference" / "no_dues_page1.png"
FIXED_ISSUE = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)
FIXED_QR = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImZpeGVkIn0.visual-regression-fixed-payload.c2lnbmF0dXJl"
DPI = 80
TILE = 24
# Anti-aliasing differences between poppler builds stay well below these; a misshaped word does not.
MAX_MEAN_DIFF = 1.0
MAX_TILE_DIFF = 6.0


def render_page(tmp_path: Path, name_deva: str = "किरण शर्मा") -> Image.Image:
    doc = make_document(issued_at=FIXED_ISSUE, name_deva=name_deva)
    pdf = tmp_path / "visual.pdf"
    pdf.write_bytes(render_pdf(doc, FIXED_QR))
    prefix = tmp_path / "visual"
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)],
        check=True,
        timeout=60,
    )
    return Image.open(prefix.with_suffix(".png")).convert("L")


def difference(a: Image.Image, b: Image.Image) -> tuple[float, float]:
    """(mean absolute difference over the page, worst mean over any TILE x TILE tile), 0-255."""
    if a.size != b.size:
        return 255.0, 255.0
    diff = ImageChops.difference(a, b)
    mean = ImageStat.Stat(diff).mean[0]
    worst = 0.0
    for top in range(0, diff.height, TILE):
        for left in range(0, diff.width, TILE):
            tile = diff.crop((left, top, min(left + TILE, diff.width), min(top + TILE, diff.height)))
            worst = max(worst, ImageStat.Stat(tile).mean[0])
    return mean, worst


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Image.Image:
    if os.environ.get("CERTS_APPROVE_REFERENCE") == "1":
        render_page(tmp_path_factory.mktemp("approve")).save(REFERENCE, optimize=True)
    if not REFERENCE.exists():
        pytest.fail(f"no approved reference image at {REFERENCE}")
    return Image.open(REFERENCE).convert("L")


def test_page_matches_approved_reference(reference: Image.Image, tmp_path: Path) -> None:
    mean, worst = difference(render_page(tmp_path), reference)
    assert mean <= MAX_MEAN_DIFF and worst <= MAX_TILE_DIFF, (mean, worst)


def test_unshaped_rendering_is_caught(
    reference: Image.Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = certs.pdf.ParagraphStyle

    def unshaped(*args: object, **kwargs: object) -> object:
        kwargs["shaping"] = 0
        return original(*args, **kwargs)

    monkeypatch.setattr(certs.pdf, "ParagraphStyle", unshaped)
    mean, worst = difference(render_page(tmp_path), reference)
    assert worst > MAX_TILE_DIFF, (mean, worst)


def test_misordered_matra_is_caught(reference: Image.Image, tmp_path: Path) -> None:
    # "करिण" is exactly what unshaped rendering of "किरण" looks like.
    mean, worst = difference(render_page(tmp_path, name_deva="करिण शर्मा"), reference)
    assert worst > MAX_TILE_DIFF, (mean, worst)
