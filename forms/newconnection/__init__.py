"""The discom's part of the state Common Application Form for a new electricity connection.

Versions are registered in :data:`FORMS`; an application names its version
and is read, checked and converted by that version for ever after::

    form = read_application(1, data)          # ConnectionApplicationForm or FormError
    FORMS[1].definition.json_schema()        # REST schema
    service_xsd()                            # XSD types for the SOAP service (every version)

A new version (v2) is a new module with its own definition, checker and
converter to :class:`ConnectionApplicationForm` (new members optional
there); it is added to FORMS and to the SOAP choice (``form_v2``), and
version 1 stays exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from forms.errors import FieldProblem, FormError
from forms.newconnection import v1
from forms.newconnection.definition import FormDefinition
from forms.newconnection.model import ConnectionApplicationForm, DocumentRef

FORM_NS = "urn:discom-hub:connections:form:1"


@dataclass(frozen=True)
class FormVersion:
    definition: FormDefinition
    check: Callable[[dict[str, Any]], list[FieldProblem]]
    to_application: Callable[[dict[str, Any]], ConnectionApplicationForm]
    required_documents: Callable[..., list[str]]
    check_documents: Callable[..., list[FieldProblem]]
    to_documents: Callable[[list[dict[str, Any]]], tuple[DocumentRef, ...]]

    @property
    def version(self) -> int:
        return self.definition.version


FORMS: Mapping[int, FormVersion] = {
    1: FormVersion(
        v1.FORM, v1.check, v1.to_application, v1.required_documents, v1.check_documents, v1.to_documents
    ),
}

__all__ = [
    "FORMS",
    "FORM_NS",
    "ConnectionApplicationForm",
    "DocumentRef",
    "FormVersion",
    "form_version",
    "read_application",
    "read_application_xml",
    "read_documents",
    "read_documents_xml",
    "service_xsd",
]


def form_version(version: Any) -> FormVersion:
    """The registered version, or FormError ``form_version_unknown``."""
    if isinstance(version, bool) or not isinstance(version, int) or version not in FORMS:
        raise FormError(
            "form_version_unknown",
            "form_version must be one of: " + ", ".join(str(v) for v in sorted(FORMS)),
            [FieldProblem("form_version", "unknown", "not a form version this hub accepts")],
        )
    return FORMS[version]


def read_application(version: Any, data: Any) -> ConnectionApplicationForm:
    """Validate ``data`` against form ``version``: every problem at once, or the typed application."""
    spec = form_version(version)
    cleaned, problems = spec.definition.read(data)
    if not problems:
        problems = spec.check(cleaned)
    if problems:
        raise FormError("validation_failed", "some fields are not valid", problems)
    return spec.to_application(cleaned)


def read_application_xml(version: Any, element: etree._Element) -> ConnectionApplicationForm:
    """The same for a SOAP payload's ``form_vN`` element (already XSD-valid)."""
    spec = form_version(version)
    return read_application(version, spec.definition.data_from_xml(element, FORM_NS))


def read_documents(version: Any, items: Any) -> tuple[DocumentRef, ...]:
    """Documents sent on their own (with a query answer), checked by the application's form version."""
    spec = form_version(version)
    cleaned, problems = spec.definition.read_list("documents", items, prefix="")
    if not problems:
        problems = spec.check_documents(cleaned, "documents/")
    if problems:
        raise FormError("validation_failed", "some fields are not valid", problems)
    return spec.to_documents(cleaned)


def read_documents_xml(version: Any, element: etree._Element) -> tuple[DocumentRef, ...]:
    spec = form_version(version)
    return read_documents(version, spec.definition.list_from_xml("documents", element, FORM_NS))


def service_xsd() -> bytes:
    """The XSD of every form version's types (``connection-form.xsd``, imported by the service XSD)."""
    body = "\n".join(FORMS[v].definition.xsd_types() for v in sorted(FORMS))
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<!-- Generated from forms.newconnection (python -m forms.newconnection): do not edit. -->\n"
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:f="{FORM_NS}" targetNamespace="{FORM_NS}" elementFormDefault="qualified">\n'
        f"{body}\n</xs:schema>\n"
    )
    # Pretty-printed so a diff of the committed file shows what a form change did.
    root = etree.fromstring(text.encode("utf-8"), parser=etree.XMLParser(remove_blank_text=True))
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True))
