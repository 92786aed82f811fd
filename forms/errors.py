"""What forms answer when input is not acceptable: a code and field-level errors."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldProblem:
    field: str
    code: str
    message: str


@dataclass
class FormError(Exception):
    """``code`` is one of the hub's stable problem codes (malformed_json, validation_failed, ...)."""

    code: str
    message: str
    problems: list[FieldProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)
