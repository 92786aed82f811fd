"""Read untrusted JSON into typed values, collecting every field problem at once.

A partner sending a bad request gets all its mistakes in one answer, each
with the field path and a stable code, instead of one per round trip.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from forms.errors import FieldProblem, FormError

JSON_TYPES = ("application/json",)
# What a signed 64-bit database integer holds: a larger number would fail in the database, not here.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# A number sent as text ("1250.5"): no amount or load the hub reads needs more characters.
DECIMAL_TEXT_MAX = 40


def parse_json_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as a JSON object, or FormError (unsupported_media_type / malformed_json)."""
    if (content_type or "").split(";")[0].strip().lower() not in JSON_TYPES:
        raise FormError("unsupported_media_type", "send application/json")
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and bad JSON, and an integer too long for int() to convert.
        raise FormError("malformed_json", "the body is not valid UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise FormError("malformed_json", "the body must be a JSON object")
    return data


def clean_text(value: str) -> str:
    """NFC, no control characters (NUL breaks PostgreSQL), single spaces."""
    if value.isascii() and value.isprintable():
        # Printable ASCII is already NFC and holds no control character (tab and newline are not
        # printable): only the spaces to fold. Skips the walk over every character below, which
        # is most of the cost of reading a typical field.
        return " ".join(value.split())
    value = unicodedata.normalize("NFC", value)
    value = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    return " ".join(value.split())


class Reader:
    """Typed accessors over a JSON object; problems accumulate until :meth:`done`."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        self.problems: list[FieldProblem] = []

    def _path(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def problem(self, name: str, code: str, message: str) -> None:
        self.problems.append(FieldProblem(self._path(name), code, message))

    def _raw(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            self.problem(name, "required", "this field is required")
        return value

    def text(
        self,
        name: str,
        *,
        required: bool = True,
        max_length: int = 200,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(name, "type", "must be a string")
            return None
        cleaned = clean_text(value)
        if required and not cleaned:
            self.problem(name, "required", "must not be empty")
            return None
        if len(cleaned) > max_length:
            self.problem(name, "too_long", f"at most {max_length} characters")
            return None
        if pattern is not None and cleaned and not pattern.fullmatch(cleaned):
            self.problem(name, "format", "has the wrong format")
            return None
        return cleaned

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = True) -> str | None:
        value = self.text(name, required=required, max_length=64)
        if value is not None and value not in choices:
            self.problem(name, "choice", "must be one of: " + ", ".join(choices))
            return None
        return value

    def decimal(
        self,
        name: str,
        *,
        required: bool = True,
        minimum: Decimal | None = None,
        maximum: Decimal | None = None,
    ) -> Decimal | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.problem(name, "type", "must be a number")
            return None
        if isinstance(value, str) and len(value) > DECIMAL_TEXT_MAX:
            self.problem(name, "too_long", f"at most {DECIMAL_TEXT_MAX} characters")
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.problem(name, "type", "must be a number")
            return None
        if not number.is_finite():
            self.problem(name, "type", "must be a finite number")
            return None
        if minimum is not None and number < minimum:
            self.problem(name, "range", f"must be at least {minimum}")
            return None
        if maximum is not None and number > maximum:
            self.problem(name, "range", f"must be at most {maximum}")
            return None
        return number

    def integer(
        self,
        name: str,
        *,
        required: bool = True,
        minimum: int = INT64_MIN,
        maximum: int = INT64_MAX,
    ) -> int | None:
        """A whole JSON number within [minimum, maximum] (by default what a database BIGINT holds)."""
        value = self._raw(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, "type", "must be a whole number")
            return None
        if isinstance(value, float) and not value.is_integer():
            self.problem(name, "type", "must be a whole number")
            return None
        number = int(value)
        if number < minimum:
            self.problem(name, "range", f"must be at least {minimum}")
            return None
        if number > maximum:
            self.problem(name, "range", f"must be at most {maximum}")
            return None
        return number

    def boolean(self, name: str, *, required: bool = True) -> bool | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problem(name, "type", "must be true or false")
            return None
        return value

    def day(self, name: str, *, required: bool = True) -> date | None:
        value = self.text(name, required=required, max_length=10)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.problem(name, "format", "must be a date YYYY-MM-DD")
            return None

    def moment(self, name: str, *, required: bool = True) -> datetime | None:
        value = self.text(name, required=required, max_length=40)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.problem(name, "format", "must be an ISO 8601 date-time with offset")
            return None
        if parsed.tzinfo is None:
            self.problem(name, "format", "must carry a UTC offset")
            return None
        return parsed

    def text_list(
        self,
        name: str,
        *,
        required: bool = True,
        max_items: int = 100,
        max_length: int = 64,
        pattern: re.Pattern[str] | None = None,
    ) -> list[str] | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if not isinstance(value, list):
            self.problem(name, "type", "must be a list")
            return None
        if len(value) > max_items:
            self.problem(name, "too_many", f"at most {max_items} items")
            return None
        out: list[str] = []
        for index, item in enumerate(value):
            sub = Reader({"v": item}, prefix=f"{self._path(name)}/{index}")
            text = sub.text("v", max_length=max_length, pattern=pattern)
            self.problems.extend(
                FieldProblem(p.field.removesuffix("v"), p.code, p.message) for p in sub.problems
            )
            if text is not None:
                out.append(text)
        return out

    def done(self) -> None:
        if self.problems:
            raise FormError("validation_failed", "some fields are not valid", list(self.problems))
