"""Input shapes of the no-dues flow: identifiers and personal names in Devanagari or Latin script."""

from __future__ import annotations

import re
import unicodedata

from forms.reader import Reader

SAMAGRA_ID = re.compile(r"[0-9]{9}")
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


# -- comparing a typed name with the registry's -------------------------------------------------
#
# People write their names in either script and spell them many ways ("Sharma", "Sharmaa",
# "शर्मा"; "Ramesh Kumar" or "RameshKumar"). Both sides are reduced to a consonant skeleton
# in Latin letters: vowels (and y, a semivowel spelt either way), aspiration and spacing
# fall away, doubled letters become one, and Devanagari consonants map to the Latin letter
# they are usually written with. Two spellings of one name give one skeleton; another
# person's name almost never does.

_DEVANAGARI_CONSONANTS = {
    "क": "k", "ख": "k", "ग": "g", "घ": "g", "ङ": "n",
    "च": "c", "छ": "c", "ज": "j", "झ": "j", "ञ": "n",
    "ट": "t", "ठ": "t", "ड": "d", "ढ": "d", "ण": "n",
    "त": "t", "थ": "t", "द": "d", "ध": "d", "न": "n",
    "प": "p", "फ": "f", "ब": "b", "भ": "b", "म": "m",
    "य": "", "र": "r", "ल": "l", "व": "v", "श": "s", "ष": "s", "स": "s", "ह": "",
    "ळ": "l",
    # anusvara and chandrabindu are a nasal; the vowel-like r of ऋ/ृ is an r
    "ं": "n", "ँ": "n", "ऋ": "r", "ृ": "r",
}  # fmt: skip
_LATIN_FOLDS = (
    ("ngh", "n"),
    ("ksh", "ks"),
    ("x", "ks"),
    ("ph", "f"),
    ("sh", "s"),
    ("ch", "c"),
    ("w", "v"),
    ("z", "j"),
    ("q", "k"),
)
_LATIN_DROP = re.compile(r"[aeiouhy]")


def _collapse(letters: str) -> str:
    out: list[str] = []
    for ch in letters:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def name_skeleton(name: str) -> str:
    """The consonant skeleton of a personal name in Devanagari or Latin script."""
    text = unicodedata.normalize("NFC", name)
    if _HAS_DEVANAGARI.search(text):
        # NFC writes क़ as क + nukta, and the nukta drops: क़ is k, फ़ f, ड़ d (as in "Dhakad").
        letters = "".join(_DEVANAGARI_CONSONANTS.get(ch, "") for ch in text)
        return _collapse(letters)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text).lower() if "a" <= ch <= "z")
    for old, new in _LATIN_FOLDS:
        text = text.replace(old, new)
    return _collapse(_LATIN_DROP.sub("", text))


def same_name(typed: str, *registry_names: str) -> bool:
    """Whether ``typed`` is one of ``registry_names`` spelt another way (either script, any spacing)."""
    skeleton = name_skeleton(typed)
    return bool(skeleton) and any(skeleton == name_skeleton(n) for n in registry_names if n)
