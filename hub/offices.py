"""Offices: billing owns the discom's office hierarchy; the hub prints its names and keeps the
hierarchy to know an officer's jurisdiction.

Documents and the console show "भोपाल संभाग 1 / Bhopal Division 1", not ``DIV-BPL-1``.
Names are asked of billing (``IBilling.office``) and kept for the life of the process: offices
are renamed about never, and a console page lists many cases of the same few offices.

**Jurisdiction.** An officer sees what happens in their offices and in every office below them:
a division's officer the outages and complaints of its zones' distribution centres, a circle's
those of all its divisions, an officer of ``DISCOM`` (the managing director's office) all of
them. The hierarchy (``office_hierarchy``: each office and the one above it) comes from billing:
from every connection's offices in the month's sales the energy audit imports, and from billing's
extract of its offices (``hub-admin offices load``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyramid.registry import Registry
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from connectors.billing import OfficeCodes
from connectors.errors import ConnectorUnavailable, NotFound
from hub.db import mark_written
from hub.lookup import process_service
from hub.models.meta import utcnow
from hub.models.office import OfficeLink
from hub.models.officer import Officer
from hub.systems import Connectors

# An office code as billing writes it (DC-101, DIV-BPL-1).
OFFICE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,39}")
# The whole discom: above every circle (the energy audit's top row has this code too).
DISCOM = "DISCOM"
# Smallest first; each office's parent is of the next level (a circle's is the discom).
LEVELS = ("dc", "zone", "division", "circle")


class OfficeNames:
    """``code -> "name_hi / name_en"`` from billing, remembered once billing has answered."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def printed(self, code: str) -> str:
        """The office as a document prints it. An office billing does not know (the hub's own
        default office) prints as its code; billing unreachable raises ConnectorUnavailable, so
        nothing is issued with a name missing."""
        with self._lock:
            known = self._known.get(code)
        if known is not None:
            return known
        billing: Any = process_service(self.registry, Connectors).require("billing")
        try:
            office = billing.office(code)
        except NotFound:
            return code
        name = f"{office.name_hi} / {office.name_en}"
        with self._lock:
            self._known[code] = name
        return name

    def shown(self, code: str) -> str:
        """The office as the console shows it: its name, or its code while billing cannot say."""
        try:
            return self.printed(code)
        except ConnectorUnavailable:
            return code


def office_names(registry: Registry) -> OfficeNames:
    names: OfficeNames | None = registry.get(OfficeNames)
    if names is None:
        names = registry[OfficeNames] = OfficeNames(registry)
    return names


# -- the hierarchy and an officer's jurisdiction ------------------------------------------------


@dataclass
class OfficeLoad:
    loaded: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def _upsert(session: Session, links: Mapping[str, tuple[str, str | None]]) -> int:
    if not links:
        return 0
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    statement = dialect_insert(OfficeLink)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["code"],
            set_={name: statement.excluded[name] for name in ("level", "parent_code", "updated_at")},
        ),
        [
            {"code": code, "level": level, "parent_code": parent, "updated_at": now}
            for code, (level, parent) in sorted(links.items())
        ],
    )
    mark_written(session)
    return len(links)


def record_chains(session: Session, chains: Iterable[OfficeCodes]) -> int:
    """Keep the offices of connections as billing gave them (DC, zone, division, circle); how many
    offices were written."""
    links: dict[str, tuple[str, str | None]] = {}
    for chain in chains:
        codes = (chain.dc, chain.zone, chain.division, chain.circle)
        if not all(codes):
            continue
        for level, code, parent in zip(LEVELS, codes, (*codes[1:], None), strict=True):
            links[code] = (level, parent)
    return _upsert(session, links)


def load_offices(session: Session, rows: Iterable[Mapping[str, str]]) -> OfficeLoad:
    """Billing's extract of its offices (``code``, ``level``, ``parent_code``; a circle's parent
    empty); a row that is not valid is refused by line, never guessed."""
    report = OfficeLoad()
    links: dict[str, tuple[str, str | None]] = {}
    for line, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        level = (row.get("level") or "").strip()
        parent = (row.get("parent_code") or "").strip() or None
        if not OFFICE.fullmatch(code) or len(code) > 16 or code == DISCOM:
            report.refused.append((line, "code"))
        elif level not in LEVELS:
            report.refused.append((line, "level"))
        elif (parent is None) != (level == "circle") or (
            parent is not None and (not OFFICE.fullmatch(parent) or len(parent) > 16 or parent == code)
        ):
            report.refused.append((line, "parent_code"))
        else:
            links[code] = (level, parent)
    report.loaded = _upsert(session, links)
    return report


def offices_below(session: Session, offices: Iterable[str]) -> list[str]:
    """``offices`` and every office below them, sorted. ``DISCOM`` covers every office known."""
    start = sorted(set(offices))
    if not start:
        return []
    if DISCOM in start:
        return sorted({*start, *session.scalars(select(OfficeLink.code))})
    below = (
        select(OfficeLink.code).where(OfficeLink.parent_code.in_(start)).cte("offices_below", recursive=True)
    )
    child = aliased(OfficeLink)
    # UNION, not UNION ALL: a loop in a bad extract ends instead of running for ever.
    below = below.union(select(child.code).where(child.parent_code == below.c.code))
    return sorted({*start, *session.scalars(select(below.c.code))})


def jurisdiction(session: Session, officer: Officer) -> list[str]:
    """The offices whose outages, complaints and figures an officer sees: theirs and all below."""
    return offices_below(session, officer.offices or [])
