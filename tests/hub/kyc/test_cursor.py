"""Signed cursors: every altered byte, every non-canonical spelling, every foreign binding is refused."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.kyc.cursor import CursorInvalid, CursorSigner, Position

SIGNER = CursorSigner("test-secret-key")
CURSOR = SIGNER.sign(Position("c_1", "ladli-behna", "changes", 42))


def test_round_trip() -> None:
    assert SIGNER.verify(CURSOR, client_id="c_1", purpose="ladli-behna", kind="changes") == 42


@pytest.mark.parametrize("index", range(len(CURSOR)))
def test_every_single_character_change_is_refused(index: int) -> None:
    for replacement in string.ascii_letters + string.digits + "-_.":
        if replacement == CURSOR[index]:
            continue
        altered = CURSOR[:index] + replacement + CURSOR[index + 1 :]
        with pytest.raises(CursorInvalid):
            SIGNER.verify(altered, client_id="c_1", purpose="ladli-behna", kind="changes")


@pytest.mark.parametrize(
    ("client_id", "purpose", "kind"),
    [("c_2", "ladli-behna", "changes"), ("c_1", "kisan", "changes"), ("c_1", "ladli-behna", "export")],
)
def test_bound_to_client_purpose_and_kind(client_id: str, purpose: str, kind: str) -> None:
    with pytest.raises(CursorInvalid):
        SIGNER.verify(CURSOR, client_id=client_id, purpose=purpose, kind=kind)


def test_another_key_does_not_verify() -> None:
    with pytest.raises(CursorInvalid):
        CursorSigner("another-key").verify(CURSOR, client_id="c_1", purpose="ladli-behna", kind="changes")


@given(st.text(max_size=500))
def test_arbitrary_text_never_verifies_nor_crashes(text: str) -> None:
    with pytest.raises(CursorInvalid):
        SIGNER.verify(text, client_id="c_1", purpose="ladli-behna", kind="changes")
