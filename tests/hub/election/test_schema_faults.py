"""ElectionService's schema Faults name the element that failed, repeated ones by their position."""

from __future__ import annotations

from typing import Any

import pytest

from hub.election.answers import NS
from hub.soap.envelope import HUB_FAULT_NS
from tests.hub.election.conftest import Election
from tests.hub.election.test_hostile import envelope, post
from tests.hub.soap.soapkit import SENTINEL, assert_fault

HUB = f"{{{HUB_FAULT_NS}}}"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_bad_repeated_element_is_named_by_its_position(election: Election, version: str) -> None:
    numbers = "".join(
        f"<e:consumer_number>{n}</e:consumer_number>" for n in ("4512300001", "4512300002", SENTINEL)
    )
    body = envelope(f'<e:GetDuesStatus xmlns:e="{NS}">{numbers}</e:GetDuesStatus>', version)
    response = post(election, body, version, election.authority()["headers"], operation="GetDuesStatus")
    fault: Any = assert_fault(response, "validation_failed", version=version)
    named = [(e.findtext(f"{HUB}field"), e.findtext(f"{HUB}code")) for e in fault.iter(f"{HUB}fieldError")]
    assert named == [("consumer_number[3]", "format")]
