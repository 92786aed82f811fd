"""Offices by name: billing owns the discom's office hierarchy, the hub prints its names.

Documents and the console show "भोपाल संभाग 1 / Bhopal Division 1", not ``DIV-BPL-1``.
Names are asked of billing (``IBilling.office``) and kept for the life of the process: offices
are renamed about never, and a console page lists many cases of the same few offices.
"""

from __future__ import annotations

import threading
from typing import Any

from pyramid.registry import Registry

from connectors.errors import ConnectorUnavailable, NotFound
from hub.lookup import process_service
from hub.systems import Connectors

KEY = "office_names"


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
    names: OfficeNames | None = registry.get(KEY)
    if names is None:
        names = registry[KEY] = OfficeNames(registry)
    return names
