"""Reading verification questions: one, or each item of a batch, by the same rules for REST and SOAP.

A question is a certificate number plus the secret the asker knows: the
verification code, or the holder's name or Samagra ID (those two only with a
``certificates:verify`` token). A bad batch item is rejected with its own
error and never fails the batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from forms.errors import FormError
from forms.reader import Reader, clean_text
from hub.openapi import text_schema

NUMBER = re.compile(r"[A-Z0-9][A-Z0-9/-]{3,63}")
CODE = re.compile(r"[A-Za-z0-9 -]{4,20}")
SAMAGRA = re.compile(r"[0-9]{8,9}")
REF_MAX = 64
HOLDER_NAME_MAX = 200

# A question's fields as read_question takes them (verifyCertificate, and each item of a batch).
QUESTION_PROPERTIES: dict[str, Any] = {
    "number": text_schema(64, NUMBER, examples=["MPCZ/ND/2026-27/000123"]),
    "code": text_schema(20, CODE, examples=["K7QF-2MXD-9TZA"]),
    "holder_name": text_schema(HOLDER_NAME_MAX, description="with a certificates:verify token"),
    "samagra_id": text_schema(9, SAMAGRA, description="with a certificates:verify token"),
}


class CertificateQuestion(NamedTuple):
    """A number plus the secret the asker knows: the code, or the holder's name or Samagra ID.

    ``ref`` is the asker's own reference for the item, echoed in batch answers.
    """

    number: str
    code: str | None = None
    holder_name: str | None = None
    samagra_id: str | None = None
    ref: str | None = None

    @property
    def method(self) -> str:
        return "code" if self.code else "holder"


class RejectedQuestion(NamedTuple):
    """A batch item that could not be asked; its ``ref`` is still echoed so the caller finds the row."""

    error: FormError
    ref: str | None = None


def read_question(data: Mapping[str, Any], prefix: str = "") -> CertificateQuestion:
    """The rules for one question (FormError with every field problem)."""
    reader = Reader(data, prefix)
    ref = reader.text("ref", required=False, max_length=REF_MAX)
    number = reader.text("number", pattern=NUMBER, max_length=64)
    code = reader.text("code", required=False, pattern=CODE, max_length=20)
    holder_name = reader.text("holder_name", required=False, max_length=HOLDER_NAME_MAX)
    samagra_id = reader.text("samagra_id", required=False, pattern=SAMAGRA, max_length=9)
    if not (code or holder_name or samagra_id):
        reader.problem("code", "required", "give the verification code, or the holder's name or Samagra ID")
    reader.done()
    assert number is not None
    return CertificateQuestion(number, code or None, holder_name or None, samagra_id or None, ref or None)


def read_ref(data: Mapping[str, Any]) -> str | None:
    raw = data.get("ref")
    if not isinstance(raw, str):
        return None
    return clean_text(raw)[:REF_MAX] or None


def read_batch(
    items: Sequence[Mapping[str, Any]], first_index: int = 0
) -> list[CertificateQuestion | RejectedQuestion]:
    """Each item read on its own: a bad one is rejected with its error, the rest are asked."""
    questions: list[CertificateQuestion | RejectedQuestion] = []
    for index, data in enumerate(items, start=first_index):
        try:
            questions.append(read_question(data, prefix=f"items/{index}/"))
        except FormError as exc:
            questions.append(RejectedQuestion(exc, read_ref(data)))
    return questions
