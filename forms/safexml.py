"""The one parser for XML that comes from outside the hub.

Every XML input (SOAP envelopes, uploaded certificates, partner answers) goes
through :func:`parse_untrusted_xml`. lxml >= 5 already resists XXE and entity
expansion, but we still pass an explicit parser and refuse any DOCTYPE: with
``resolve_entities=False`` a DOCTYPE carrying an external entity makes
``XMLSchema.validate`` raise an internal error instead of returning False
(shared/PERFORMANCE.md), and no partner has a reason to send one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Container
from typing import Any

from lxml import etree

DEFAULT_MAX_BYTES = 1 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64


class UntrustedXmlError(ValueError):
    """The input is not XML we are willing to read. ``code`` is stable."""

    code = "xml_malformed"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    # One parser per thread: lxml parsers are not thread-safe, and making one per call cost
    # ~5 µs of a SOAP request. A parser keeps no state from one document to the next.
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = _new_parser()
    return parser


_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_pis": True,
    "remove_comments": True,
    "collect_ids": False,
}


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(**_PARSER_OPTIONS)


def parse_untrusted_head(
    data: bytes,
    stop_tags: Container[str],
    *,
    max_bytes: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    step: int = 8192,
) -> etree._Element:
    """The root element as parsed up to the start of the first element tagged one of ``stop_tags``.

    For reading what precedes the bulk of a document (a SOAP envelope's Header) without parsing
    the rest: the elements before the stop tag are complete, and parsing stops within ``step``
    bytes after its start tag (what those held hangs under it). At most ``max_bytes`` of ``data`` are fed to the parser,
    ``step`` at a time; a document with no stop tag within them is ``xml_too_large`` (one that
    ends within them is returned whole). Same parser options and codes as
    :func:`parse_untrusted_xml`; bytes after the stop tag are never looked at, so this is no
    verdict on the whole document's well-formedness.
    """
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise UntrustedXmlError("DOCTYPE declarations are not accepted", "xml_doctype_forbidden")
    parser = etree.XMLPullParser(events=("start", "end"), **_PARSER_OPTIONS)
    root: etree._Element | None = None
    depth = 0
    end = min(len(data), max_bytes)
    for offset in range(0, end, step):
        try:
            parser.feed(data[offset : min(offset + step, end)])
            broken = False
        except etree.XMLSyntaxError:
            # What the step held past the stop tag is none of this reader's business: the
            # events before the error still say whether the stop tag came first.
            broken = True
        for event, element in parser.read_events():
            if event == "end":
                depth -= 1
                continue
            assert isinstance(element, etree._Element)  # only start and end events were asked for
            depth += 1
            if root is None:
                root = element
                docinfo: Any = element.getroottree().docinfo
                if docinfo.doctype:
                    raise UntrustedXmlError("DOCTYPE declarations are not accepted", "xml_doctype_forbidden")
            if depth > max_depth:
                raise UntrustedXmlError(f"XML nested deeper than {max_depth} levels", "xml_too_deep")
            if element.tag in stop_tags:
                return root
        if broken:
            raise UntrustedXmlError("the body is not well-formed XML", "xml_malformed")
    if len(data) > max_bytes:
        raise UntrustedXmlError(f"no stop tag within {max_bytes} bytes", "xml_too_large")
    try:
        closed = parser.close()
    except etree.XMLSyntaxError:
        raise UntrustedXmlError("the body is not well-formed XML", "xml_malformed") from None
    if closed is None:
        raise UntrustedXmlError("the body is empty", "xml_malformed")
    return closed


def parse_untrusted_xml(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> etree._Element:
    """Parse ``data`` or raise :class:`UntrustedXmlError` with a stable code.

    Codes: ``xml_too_large``, ``xml_doctype_forbidden``, ``xml_malformed``,
    ``xml_too_deep``. Messages never echo the input.
    """
    if len(data) > max_bytes:
        raise UntrustedXmlError(f"XML body larger than {max_bytes} bytes", "xml_too_large")
    # A DOCTYPE may only appear before the root element; a cheap scan of the
    # prolog finds it without parsing (the parser would accept it silently).
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise UntrustedXmlError("DOCTYPE declarations are not accepted", "xml_doctype_forbidden")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError:
        raise UntrustedXmlError("the body is not well-formed XML", "xml_malformed") from None
    if root is None:
        raise UntrustedXmlError("the body is empty", "xml_malformed")
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype:
        raise UntrustedXmlError("DOCTYPE declarations are not accepted", "xml_doctype_forbidden")
    if not _too_few_tags_to_nest(data, max_depth) and _depth_exceeds(root, max_depth):
        raise UntrustedXmlError(f"XML nested deeper than {max_depth} levels", "xml_too_deep")
    return root


def _too_few_tags_to_nest(data: bytes, max_depth: int) -> bool:
    """Whether ``data`` has too few "<" to hold elements nested more than ``max_depth`` deep.

    Each element's start tag is one "<" (text carries it escaped), so nesting deeper than
    ``max_depth`` takes more of them. Counted only when the document begins with "<" itself
    (ASCII-compatible, or UTF-16 little-endian without a mark): in another encoding the
    character is another byte. A count is ~0.1 µs for a SOAP request of one question; the
    XPath it spares, ~1.6 µs.
    """
    if data[:1] != b"<" and not data.startswith(b"\xef\xbb\xbf<"):
        return False
    return data.count(b"<") <= max_depth


@functools.lru_cache(maxsize=8)
def _deeper_than(max_depth: int) -> etree.XPath:
    # Is there an element max_depth child steps below the root (at depth max_depth + 1)? libxml2
    # walks one level's node-set per step in C: ~20x cheaper than a Python walk over every
    # element's start and end, and bounded by max_depth steps however deep the input goes (the
    # parser itself stops at 256 levels).
    return etree.XPath("boolean(" + "/".join(["*"] * max_depth) + ")")


def _depth_exceeds(root: etree._Element, max_depth: int) -> bool:
    """Whether ``root`` (depth 1) holds elements nested more than ``max_depth`` levels deep."""
    if max_depth < 1:
        return True
    return bool(_deeper_than(max_depth)(root))
