"""A connector wrapped to note the operations the hub asks of it: tests that count round trips."""

from __future__ import annotations

from typing import Any


class Noted:
    """A connector, noting the name of each operation asked of it, in order. A subclass that
    overrides an operation notes it itself (``self.calls.append(name)``)."""

    def __init__(self, connector: Any) -> None:
        self.connector = connector
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.connector, name)
