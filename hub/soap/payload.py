"""Response payloads written as text, already in exclusive C14N form, instead of lxml trees.

A 1,000-item answer built element by element costs one lxml ``SubElement`` per field, then an
exclusive C14N pass for the signature's digest and a serialisation for the envelope: for such a
payload the tree is the most expensive part of the request. A handler may instead return a
:class:`RenderedPayload`: the payload's bytes exactly as exclusive C14N would write them (no XML
declaration, prefixes declared on the root, text escaped as C14N escapes it, every element with a
start and an end tag, no whitespace between elements). A signed SOAP answer parses them into its
envelope (one parse, cheaper than the tree built field by field); a standalone signed document
(the bulk report) is signed from these bytes as they are, with the Signature inserted before the
root's end tag.

:func:`xml_text` and :func:`leaf` write text the C14N way; :func:`rendered_payload` checks the
finished text holds only characters XML allows (as lxml refuses them when a text is set), so a
rendered payload is never ill-formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Characters XML 1.0 does not allow, as UTF-8: the C0 controls but tab, LF and CR (deleted by
# bytes.translate to count them: a byte regex over a large payload is ~7x slower), and U+FFFE/U+FFFF
# (EF BF BE / EF BF BF). Lone surrogates cannot be encoded at all.
_C0_NOT_XML = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20))
_NOT_XML_MESSAGE = "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters"


def xml_text(value: str) -> str:
    """``value`` escaped as exclusive C14N escapes text content (&, <, >, and CR as ``&#xD;``)."""
    # Most values carry none of these: four substring scans beat an unconditional rewrite.
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#xD;")
    return value


def scalar_text(value: Any) -> str:
    """How a payload writes a scalar: booleans as xs:boolean, everything else as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def escaped(value: Any) -> str:
    """The text of a present scalar as a payload writes it (:func:`scalar_text`), escaped."""
    text = value if type(value) is str else scalar_text(value)
    # One scan per special character, and no call at all for the common text that has none.
    if "&" in text or "<" in text or ">" in text or "\r" in text:
        return xml_text(text)
    return text


def leaf(qname: str, value: Any) -> str:
    """``<qname>value</qname>``, or nothing for None (an absent optional element)."""
    if value is None:
        return ""
    return f"<{qname}>{escaped(value)}</{qname}>"


@dataclass(frozen=True)
class RenderedPayload:
    """A payload element as its exclusive-C14N UTF-8 bytes; ``end`` is the root's end tag they end with."""

    data: bytes
    end: bytes

    def parts_with_child(self, child: bytes) -> tuple[memoryview | bytes, ...]:
        """The payload with ``child`` (serialised) appended as the root's last child, as parts for
        one ``bytes.join`` with whatever surrounds it (the envelope).

        The payload is not copied here: a 1,000-item answer is ~750 KB, and each copy of it
        (a fresh buffer, its pages faulted in) cost ~0.3 ms.
        """
        return (memoryview(self.data)[: -len(self.end)], child, self.end)


def rendered_payload(
    prefix: str, namespace: str, local: str, content: str | bytes | Sequence[str | bytes]
) -> RenderedPayload:
    """The payload ``<prefix:local xmlns:prefix="namespace">content</prefix:local>``.

    ``content`` is the root's children, written with :func:`leaf` / :func:`xml_text` in the
    payload's one prefix: one text, or its parts in order (joined once with the root's tags,
    not copied again to add them). A part may be bytes already (UTF-8, e.g. a registry entry's
    answer part, hub.certificate_xml): joined as it is. Raises ValueError for a character XML
    does not allow (lxml refuses the same text with the same exception when it is set on an
    element), in any part.
    """
    qname = f"{prefix}:{local}"
    end = f"</{qname}>"
    start = f'<{qname} xmlns:{prefix}="{xml_attribute(namespace)}">'
    parts = [start, content, end] if isinstance(content, str | bytes) else [start, *content, end]
    try:
        data = b"".join([part if isinstance(part, bytes) else part.encode("utf-8") for part in parts])
    except UnicodeEncodeError:  # a lone surrogate
        raise ValueError(_NOT_XML_MESSAGE) from None
    # b"\xef" first: one memchr (~6 µs for a 750 KB answer); a search for two or three bytes
    # took ~0.7 ms over Devanagari text, and no Devanagari character is encoded with an EF byte.
    if len(data.translate(None, _C0_NOT_XML)) != len(data) or (
        b"\xef" in data and (b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data)
    ):
        raise ValueError(_NOT_XML_MESSAGE)
    return RenderedPayload(data, end.encode())


def xml_attribute(value: str) -> str:
    """``value`` escaped as exclusive C14N escapes an attribute value."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace('"', "&quot;")
        .replace("\t", "&#x9;")
        .replace("\n", "&#xA;")
        .replace("\r", "&#xD;")
    )
