"""Complaint figures for an office's dashboard: pendency, standards met, breaches, compensation.

Two grouped queries over ``complaints``, whatever its size: the database counts, Python only
lays out the few dozen totals. Charts are SVG drawn here from the same totals the tables show,
so a screen reader and a printout read the same figures as the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from hub.models.complaint import Complaint

# Age of an open complaint since registration (upper bound in hours, Hindi, English).
AGE_BUCKETS: tuple[tuple[int | None, str, str], ...] = (
    (4, "4 घंटे तक", "up to 4 h"),
    (24, "4–24 घंटे", "4–24 h"),
    (72, "1–3 दिन", "1–3 days"),
    (168, "3–7 दिन", "3–7 days"),
    (None, "7 दिन से अधिक", "over 7 days"),
)


@dataclass(frozen=True)
class StandardFigures:
    complaint_type: str
    total: int
    open: int
    resolved_in_time: int
    resolved_late: int
    open_breached: int
    compensation_count: int
    compensation_rupees: Decimal

    @property
    def breaches(self) -> int:
        return self.resolved_late + self.open_breached

    @property
    def percent_in_time(self) -> int | None:
        decided = self.resolved_in_time + self.breaches
        return None if decided == 0 else round(100 * self.resolved_in_time / decided)


@dataclass(frozen=True)
class Dashboard:
    offices: Sequence[str]
    as_of: datetime
    # pendency[bucket index][level] = open complaints
    pendency: dict[int, dict[int, int]]
    levels: list[int]
    standards: list[StandardFigures]

    @property
    def open_total(self) -> int:
        return sum(sum(by_level.values()) for by_level in self.pendency.values())

    @property
    def breaches(self) -> int:
        return sum(s.breaches for s in self.standards)

    @property
    def compensation_rupees(self) -> Decimal:
        return sum((s.compensation_rupees for s in self.standards), Decimal(0))


def age_bucket(now: datetime) -> Any:
    """The bucket index of a complaint's registration time, as SQL (thresholds bound as times)."""
    whens = [
        (Complaint.registered_at > now - timedelta(hours=hours), index)
        for index, (hours, _, _) in enumerate(AGE_BUCKETS)
        if hours is not None
    ]
    return case(*whens, else_=len(AGE_BUCKETS) - 1)


def pendency_query(offices: Sequence[str], now: datetime) -> Select[Any]:
    bucket = age_bucket(now).label("bucket")
    return (
        select(bucket, Complaint.level, func.count())
        .where(Complaint.resolved_at.is_(None), Complaint.office_code.in_(list(offices)))
        .group_by(bucket, Complaint.level)
    )


def standards_query(offices: Sequence[str], now: datetime) -> Select[Any]:
    resolved = Complaint.resolved_at.is_not(None)

    def counted(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return (
        select(
            Complaint.complaint_type,
            func.count(),
            counted(Complaint.resolved_at.is_(None)),
            counted(resolved & (Complaint.resolved_at <= Complaint.sop_due_at)),
            counted(resolved & (Complaint.resolved_at > Complaint.sop_due_at)),
            counted(Complaint.resolved_at.is_(None) & (Complaint.sop_due_at < now)),
            counted(Complaint.compensation_receipt.is_not(None)),
            func.coalesce(
                func.sum(case((Complaint.compensation_receipt.is_not(None), Complaint.compensation_amount))),
                0,
            ),
        )
        .where(Complaint.office_code.in_(list(offices)))
        .group_by(Complaint.complaint_type)
        .order_by(Complaint.complaint_type)
    )


def dashboard(session: Session, offices: Sequence[str], now: datetime) -> Dashboard:
    pendency: dict[int, dict[int, int]] = {i: {} for i in range(len(AGE_BUCKETS))}
    levels: set[int] = set()
    for bucket, level, count in session.execute(pendency_query(offices, now)):
        pendency[int(bucket)][int(level)] = int(count)
        levels.add(int(level))
    standards = [
        StandardFigures(str(t), int(n), int(o), int(ok), int(late), int(ob), int(cc), Decimal(str(cr)))
        for t, n, o, ok, late, ob, cc, cr in session.execute(standards_query(offices, now))
    ]
    return Dashboard(offices, now, pendency, sorted(levels), standards)


# -- charts -------------------------------------------------------------------------------------


def bar_chart(
    chart_id: str, title: str, bars: Sequence[tuple[str, float, str]], unit_max: float | None = None
) -> Markup:
    """Horizontal bars: (label, value, value as text). ``role="img"`` named by its title; the
    page's table beside it carries the same figures for reading."""
    row_height, label_width, width = 28, 250, 580
    height = max(1, len(bars)) * row_height + 10
    top = unit_max if unit_max is not None else max([value for _, value, _ in bars] + [1.0])
    parts = [
        f'<svg id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'style="max-width:{width}px">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]
    for index, (label, value, shown) in enumerate(bars):
        y = 5 + index * row_height
        length = 0 if top <= 0 else (width - label_width - 60) * max(0.0, value) / top
        parts.append(
            f'<text x="0" y="{y + 17}" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="18" fill="#0b3d6b"></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 17}" font-size="12">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text and attribute above went through escape()
