"""A payload failing the XSD gets a Fault naming the field and why, as REST does; nothing echoed."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import TestApp

from hub.soap.envelope import HUB_FAULT_NS
from tests.hub.soap.echo_service import NS
from tests.hub.soap.soapkit import SENTINEL, assert_fault, echo_payload, envelope, post

HUB = f"{{{HUB_FAULT_NS}}}"


@pytest.fixture()
def partner(shared_partner: dict[str, Any], testapp: TestApp) -> dict[str, Any]:
    return shared_partner


def field_errors(fault: Any) -> list[tuple[str, str]]:
    return [
        (item.findtext(f"{HUB}field"), item.findtext(f"{HUB}code")) for item in fault.iter(f"{HUB}fieldError")
    ]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (echo_payload(""), [("name", "too_short")]),
        (echo_payload(SENTINEL * 20), [("name", "too_long")]),
        (echo_payload("a", f"<e:times>{SENTINEL}</e:times>"), [("times", "type")]),
        (echo_payload("a", f"<e:{SENTINEL}>1</e:{SENTINEL}>"), [(".", "unexpected")]),
        (f'<e:Echo xmlns:e="{NS}"/>', [("name", "required")]),
        # The sender's own prefix is not echoed either.
        (
            f'<{SENTINEL}:Echo xmlns:{SENTINEL}="{NS}"><{SENTINEL}:name/></{SENTINEL}:Echo>',
            [("name", "too_short")],
        ),
        # No prefix at all (a default namespace): libxml2's path then says "*" for each element.
        (f'<Echo xmlns="{NS}"><name>a</name><times>{SENTINEL}</times></Echo>', [("times", "type")]),
        # A repeated element is named with its position.
        (echo_payload("a", "<e:times>1</e:times><e:times>2</e:times>"), [("times[2]", "unexpected")]),
    ],
    ids=[
        "empty-name",
        "long-name",
        "times-not-int",
        "extra-element",
        "missing-name",
        "own-prefix",
        "default-namespace",
        "repeated",
    ],
)
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_schema_fault_names_the_field(
    testapp: TestApp, partner: dict[str, Any], payload: str, expected: list[tuple[str, str]], version: str
) -> None:
    response = post(testapp, envelope(payload, version), version=version, headers=partner["headers"])
    fault = assert_fault(response, "validation_failed", version=version)  # asserts SENTINEL is not echoed
    assert field_errors(fault) == expected
    text = response.body.decode()
    assert "facet" not in text and "atomic type" not in text  # libxml2's wording stays inside
