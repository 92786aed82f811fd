"""Tabular reports as PDF (the energy audit), in the documents' fonts and shaping, PAdES-signed.

A report is a title, a few lines about it, and tables of text cells; it is rendered with the
same shaped Devanagari as certificates (:mod:`certs.pdf`) and signed by the issuer's current
identity (:meth:`certs.issuer.DocumentIssuer.sign_pdf`), so a reader can check it was published by
the discom and has not been altered.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped]
from reportlab.platypus import SimpleDocTemplate, Spacer  # type: ignore[import-untyped]

from certs.pdf import MARGIN, Text, _grid, _Styles, register_fonts


@dataclass(frozen=True)
class ReportTable:
    caption: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    # Relative column widths (the page's width is shared in these proportions).
    weights: Sequence[float]


@dataclass(frozen=True)
class Report:
    title: str
    author: str
    lines: Sequence[str]
    tables: Sequence[ReportTable]


def render_report_pdf(report: Report) -> bytes:
    """The report as PDF bytes (A4 landscape). Deterministic for the same input."""
    register_fonts()
    styles = _Styles()
    buffer = io.BytesIO()
    page_width, _height = landscape(A4)
    width = page_width - 2 * MARGIN
    template = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=report.title,
        author=report.author,
        creator="discom hub certs",
        invariant=1,
    )
    story: list[object] = [Text(report.title, styles.title, bold=True), Spacer(1, 6)]
    story += [Text(line, styles.body) for line in report.lines]
    for table in report.tables:
        story += [Spacer(1, 8), Text(table.caption, styles.head, bold=True), Spacer(1, 3)]
        total = sum(table.weights)
        widths = [width * w / total for w in table.weights]
        data = [[Text(h, styles.cell, bold=True) for h in table.header]]
        data += [
            [Text(cell, styles.cell if i == 0 else styles.cell_right) for i, cell in enumerate(row)]
            for row in table.rows
        ]
        story.append(_grid(data, widths, header=True))
    template.build(story)
    return buffer.getvalue()
