"""forms.reader.clean_text: the printable-ASCII shortcut gives what the full walk gives."""

from __future__ import annotations

import unicodedata

import pytest

from forms.reader import Reader, clean_text


def walked(value: str) -> str:
    """The full treatment, written out: NFC, every control/format/unassigned character dropped, spaces folded."""
    value = unicodedata.normalize("NFC", value)
    value = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    return " ".join(value.split())


HOSTILE = {
    "nul": ("MPCZ\x00/ND/1", "MPCZ/ND/1"),
    "escape sequence": ("\x1b[31mKiran\x1b[0m", "[31mKiran[0m"),
    "delete": ("Ki\x7fran", "Kiran"),
    "tab and newline fold": ("Kiran\t\n  Sharma", "Kiran Sharma"),
    "carriage return": ("Kiran\r\nSharma", "Kiran Sharma"),
    "bidi override": ("\u202eamrahS nariK\u202c", "amrahS nariK"),
    "zero-width joiner in Devanagari": ("क्\u200dष", "क्ष"),
    "decomposed": ("Jose\u0301", "Jos\u00e9"),
    "no-break space": ("Kiran\u00a0Sharma", "Kiran Sharma"),
    "line separator": ("Kiran\u2028Sharma", "Kiran Sharma"),
    "C1 control": ("Kiran\x85Sharma", "KiranSharma"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_gets_the_full_treatment(name: str) -> None:
    raw, expected = HOSTILE[name]
    assert clean_text(raw) == expected == walked(raw)


@pytest.mark.parametrize(
    "raw",
    ["MPCZ/ND/2026-27/0000007", "  9222-2222-2222 ", "Kiran  Sharma", "", " ", "a&b <c>", "~!@#$%^&*()_+{}|"],
)
def test_printable_ascii_is_trimmed_and_folded_like_everything_else(raw: str) -> None:
    assert clean_text(raw) == walked(raw)


def test_every_single_character_agrees_with_the_walk() -> None:
    # Every ASCII character and a sample of the rest, alone and between letters.
    for code in [*range(0x00, 0x100), 0x200B, 0x200D, 0x202A, 0x202E, 0x2066, 0xFEFF, 0x0915, 0x093F]:
        for raw in (chr(code), f"a{chr(code)}b", f" {chr(code)} "):
            assert clean_text(raw) == walked(raw), repr(raw)


def test_the_reader_refuses_a_field_that_is_only_control_characters() -> None:
    reader = Reader({"number": "\x00\x01\u202e"})
    assert reader.text("number") is None
    assert [(p.field, p.code) for p in reader.problems] == [("number", "required")]
