"""forms.safexml's depth limit: exact at the boundary, whatever the tree's shape."""

from __future__ import annotations

import pytest

from forms.safexml import DEFAULT_MAX_DEPTH, UntrustedXmlError, parse_untrusted_xml


def nested(depth: int, inner: bytes = b"") -> bytes:
    return b"<a>" * depth + inner + b"</a>" * depth


@pytest.mark.parametrize("depth", [1, 2, DEFAULT_MAX_DEPTH - 1, DEFAULT_MAX_DEPTH])
def test_nesting_up_to_the_limit_is_read(depth: int) -> None:
    assert parse_untrusted_xml(nested(depth)).tag == "a"


@pytest.mark.parametrize("depth", [DEFAULT_MAX_DEPTH + 1, DEFAULT_MAX_DEPTH + 2, 200])
def test_nesting_past_the_limit_is_refused(depth: int) -> None:
    with pytest.raises(UntrustedXmlError) as caught:
        parse_untrusted_xml(nested(depth))
    assert caught.value.code == "xml_too_deep"


def test_the_limit_counts_elements_only_and_any_branch() -> None:
    # Text, comments and PIs add no depth; one deep branch among shallow ones is found.
    shallow = b"<b>t<!-- c --><?pi x?></b>" * 50
    assert (
        parse_untrusted_xml(b"<r>" + shallow + nested(DEFAULT_MAX_DEPTH - 1) + shallow + b"</r>").tag == "r"
    )
    with pytest.raises(UntrustedXmlError):
        parse_untrusted_xml(b"<r>" + shallow + nested(DEFAULT_MAX_DEPTH) + shallow + b"</r>")


def test_a_custom_limit() -> None:
    assert parse_untrusted_xml(nested(3), max_depth=3).tag == "a"
    with pytest.raises(UntrustedXmlError):
        parse_untrusted_xml(nested(4), max_depth=3)
    with pytest.raises(UntrustedXmlError):
        parse_untrusted_xml(nested(1), max_depth=0)


def test_namespaced_elements_count_too() -> None:
    deep = b'<x:a xmlns:x="urn:x">' * (DEFAULT_MAX_DEPTH + 1) + b"</x:a>" * (DEFAULT_MAX_DEPTH + 1)
    with pytest.raises(UntrustedXmlError):
        parse_untrusted_xml(deep)
