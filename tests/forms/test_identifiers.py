"""The discom's identifiers: ASCII digits only, whatever script a form was typed in."""

from __future__ import annotations

import pytest

from forms.identifiers import CONSUMER_NUMBER, MOBILE


@pytest.mark.parametrize("value", ["1001234567", "100123456789"])
def test_consumer_numbers_billing_issues_are_read(value: str) -> None:
    assert CONSUMER_NUMBER.fullmatch(value)


@pytest.mark.parametrize(
    "value", ["100123456", "1001234567890", "१००१२३४५६७", "1001234567\n", "１００１２３４５６７"]
)
def test_other_shapes_and_scripts_are_not_consumer_numbers(value: str) -> None:
    assert CONSUMER_NUMBER.fullmatch(value) is None


@pytest.mark.parametrize(
    ("value", "ok"), [("9876543210", True), ("5876543210", False), ("९८७६५४३२१०", False)]
)
def test_mobiles(value: str, ok: bool) -> None:
    assert bool(MOBILE.fullmatch(value)) is ok
