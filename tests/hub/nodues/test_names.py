"""Typed names against the Samagra registry's: one name in any spelling, script or spacing, and no other."""

from __future__ import annotations

import itertools

import pytest

from connectors import demo
from hub.nodues.names import same_name


def test_every_demo_name_matches_its_other_script() -> None:
    pairs = itertools.chain(
        demo.MALE_GIVEN, demo.FEMALE_GIVEN, demo.SURNAMES, demo.MUSLIM_MALE, demo.MUSLIM_FEMALE
    )
    assert [(en, hi) for en, hi in pairs if not same_name(en, hi) or not same_name(hi, en)] == []
    assert all(same_name(p.name_en, p.name_hi) for p in demo.PERSONAS.values())


@pytest.mark.parametrize(
    "typed",
    ["Ramesh Kumar Sharma", "ramesh kumaar sharmaa", "RameshKumar Sharma", "रमेश कुमार शर्मा", "रमेशकुमार शर्मा"],
)
def test_spellings_of_one_name_match(typed: str) -> None:
    assert same_name(typed, "रमेश कुमार शर्मा", "Ramesh Kumar Sharma")


@pytest.mark.parametrize(
    "typed", ["Fake Candidate", "Ramesh Sharma", "Suresh Kumar Sharma", "a", "", "सुनीता देवी"]
)
def test_other_names_do_not(typed: str) -> None:
    assert not same_name(typed, "रमेश कुमार शर्मा", "Ramesh Kumar Sharma")
