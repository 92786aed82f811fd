"""forms.safexml's depth limit: exact at the boundary, whatever the tree's shape."""

from __future__ import annotations

import pytest

from forms.safexml import DEFAULT_MAX_DEPTH, UntrustedXmlError, parse_untrusted_head, parse_untrusted_xml


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


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp500"]
)
def test_the_limit_holds_in_every_encoding(encoding: str) -> None:
    # cp500 is EBCDIC: "<" is another byte there, so the count of "<" bytes must not vouch for it.
    declaration = f'<?xml version="1.0" encoding="{encoding.replace("-sig", "").replace("-le", "le").replace("-be", "be")}"?>'
    deep = (declaration + "<a>" * (DEFAULT_MAX_DEPTH + 1) + "</a>" * (DEFAULT_MAX_DEPTH + 1)).encode(encoding)
    with pytest.raises(UntrustedXmlError) as caught:
        parse_untrusted_xml(deep)
    # libxml2 here reads no EBCDIC at all; every other encoding reaches the depth limit.
    assert caught.value.code == ("xml_malformed" if encoding == "cp500" else "xml_too_deep")


def test_a_document_with_few_tags_skips_the_depth_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    import forms.safexml as safexml

    walked: list[int] = []

    def depth_exceeds(root: object, max_depth: int) -> bool:
        walked.append(max_depth)
        return False

    monkeypatch.setattr(safexml, "_depth_exceeds", depth_exceeds)
    parse_untrusted_xml(nested(DEFAULT_MAX_DEPTH // 2))  # as many "<" as the limit: cannot nest deeper
    assert walked == []
    parse_untrusted_xml(nested(DEFAULT_MAX_DEPTH // 2 + 1))
    assert walked == [DEFAULT_MAX_DEPTH]


# ----------------------------------------------------------------- parse_untrusted_head

HEADED = b"<e><h><k>1</k></h><b><x>" + b"<i>1</i>" * 100_000


def test_the_head_is_read_up_to_the_stop_tag_and_nothing_much_further() -> None:
    root = parse_untrusted_head(HEADED + b"<<not xml", {"b"}, max_bytes=1024, step=256)
    assert [child.tag for child in root] == ["h", "b"] and root[0].findtext("k") == "1"
    found = root[1].xpath("//i")
    assert isinstance(found, list) and len(found) < 256 // 8


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"<e><h>" + b"<p/>" * 1000 + b"</h><b/></e>", "xml_too_large"),  # no stop tag within max_bytes
        (b"<e><h><k></h><b/></e>", "xml_malformed"),  # broken before the stop tag
        (b"", "xml_malformed"),
        (b'<!DOCTYPE e [<!ENTITY x "y">]><e><b/></e>', "xml_doctype_forbidden"),
        (b"<e>" + b"<h>" * (DEFAULT_MAX_DEPTH + 1) + b"<b/>", "xml_too_deep"),
    ],
)
def test_what_precedes_the_stop_tag_is_held_to_the_same_rules(data: bytes, code: str) -> None:
    with pytest.raises(UntrustedXmlError) as caught:
        parse_untrusted_head(data, {"b"}, max_bytes=1024, step=256)
    assert caught.value.code == code


def test_a_document_without_the_stop_tag_is_read_whole_within_the_cap() -> None:
    assert parse_untrusted_head(b"<e><h/></e>", {"b"}, max_bytes=1024).tag == "e"
