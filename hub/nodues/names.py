"""Input shapes of the no-dues flow: identifiers and personal names in Devanagari or Latin script."""

from __future__ import annotations

import re

from forms.reader import Reader

# ASCII digits only: "\d" would also accept Devanagari digits (०-९), which billing does not.
CONSUMER_NUMBER = re.compile(r"[0-9]{10,12}")
SAMAGRA_ID = re.compile(r"[0-9]{9}")
MOBILE = re.compile(r"[6-9][0-9]{9}")
ACCOUNT_ID = re.compile(r"acc_[A-Za-z0-9_-]{10,32}")
APPLICATION_ID = re.compile(r"ND-[A-Z0-9]{6,20}")
CHALLENGE_ID = re.compile(r"otp_[A-Za-z0-9_-]{10,40}")
OTP_CODE = re.compile(r"[0-9]{6}")

# Devanagari block plus the joiners used in conjuncts (ZWNJ/ZWJ) and the abbreviation dot.
_DEVANAGARI_WORD = r"[\u0900-\u097F\u200C\u200D.]+"
_LATIN_WORD = r"[A-Za-z][A-Za-z.'-]*"
DEVANAGARI_NAME = re.compile(rf"{_DEVANAGARI_WORD}(?: {_DEVANAGARI_WORD})*")
LATIN_NAME = re.compile(rf"{_LATIN_WORD}(?: {_LATIN_WORD})*")
_HAS_DEVANAGARI = re.compile(r"[\u0900-\u097F]")
_HAS_LATIN = re.compile(r"[A-Za-z]")


def read_name(reader: Reader, field: str, script: str) -> str | None:
    """A name in exactly one script (``deva`` or ``latin``); mixed scripts get their own error code.

    Names are stored and printed exactly as given (NFC), never transliterated.
    """
    value = reader.text(field, required=False, max_length=120)
    if not value:
        return None
    if script == "deva":
        if _HAS_LATIN.search(value):
            reader.problem(
                field, "mixed_script", "Devanagari letters only; put the Latin spelling in name_latin"
            )
            return None
        if not DEVANAGARI_NAME.fullmatch(value):
            reader.problem(field, "format", "a name in Devanagari letters")
            return None
    else:
        if _HAS_DEVANAGARI.search(value):
            reader.problem(
                field, "mixed_script", "Latin letters only; put the Devanagari spelling in name_deva"
            )
            return None
        if not LATIN_NAME.fullmatch(value):
            reader.problem(field, "format", "a name in Latin letters")
            return None
    return value
