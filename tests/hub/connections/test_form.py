"""The form definition: one source for validation, the REST schema and the XSD; the migration matches the models."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from lxml import etree
from sqlalchemy.engine import Engine

from forms.errors import FormError
from forms.newconnection import FORM_NS, FORMS, read_application, read_application_xml, service_xsd
from hub.models import Base
from tests.hub.connections.samples import industrial_form, lt_industrial_form

XSD_FILE = Path(__file__).resolve().parents[3] / "hub/connections/soap/connection-form.xsd"


def test_committed_xsd_is_what_the_definition_generates() -> None:
    assert XSD_FILE.read_bytes() == service_xsd(), "run: python -m forms.newconnection > " + str(XSD_FILE)


def _to_xml(data: object, name: str, parent: etree._Element | None = None) -> etree._Element:
    tag = "{" + FORM_NS + "}" + name
    element = etree.Element(tag, nsmap={"f": FORM_NS}) if parent is None else etree.SubElement(parent, tag)
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "documents":
                holder = etree.SubElement(element, "{" + FORM_NS + "}documents")
                for doc in value:
                    _to_xml(doc, "document", holder)
            else:
                _to_xml(value, key, element)
    else:
        element.text = str(data)
    return element


def test_xml_and_json_read_to_the_same_application() -> None:
    form = industrial_form()
    schema = etree.XMLSchema(etree.fromstring(service_xsd()))
    # Validate as the SOAP layer does: the form element typed by the generated complexType.
    wrapper = etree.fromstring(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:f="{FORM_NS}" '
        f'targetNamespace="{FORM_NS}" elementFormDefault="qualified">'
        f'<xs:include schemaLocation="{XSD_FILE.as_uri()}"/>'
        '<xs:element name="form_v1" type="f:ConnectionFormV1"/></xs:schema>'
    )
    element = _to_xml(form, "form_v1")
    assert etree.XMLSchema(wrapper).validate(element), etree.XMLSchema(wrapper).error_log
    assert schema is not None
    assert read_application_xml(1, element) == read_application(1, form)


def test_units_are_converted_and_limits_follow_the_category() -> None:
    lt = read_application(1, lt_industrial_form())
    assert str(lt.connected_load_kw) == "29.840"  # 40 HP
    form = lt_industrial_form()
    form["supply"]["connected_load"] = {"value": "200", "unit": "HP"}  # 149.2 kW > 112 kW
    with pytest.raises(FormError) as refused:
        read_application(1, form)
    assert [(p.field, p.code) for p in refused.value.problems] == [
        ("form/supply/connected_load/value", "out_of_limits"),
        # From 50 kW the installation needs the electrical inspector's approval.
        ("form/documents", "document_missing"),
    ]


def test_every_problem_is_reported_at_once() -> None:
    form = copy.deepcopy(industrial_form())
    form["contact"]["mobile"] = "12345"
    form["premises"]["district"] = "Indore"
    form["enterprise"]["pan"] = "not-a-pan"
    with pytest.raises(FormError) as refused:
        read_application(1, form)
    assert {p.field for p in refused.value.problems} == {
        "form/contact/mobile",
        "form/premises/district",
        "form/enterprise/pan",
    }


def test_json_schema_and_xsd_come_from_the_same_fields() -> None:
    definition = FORMS[1].definition
    schema = definition.json_schema()
    xsd = etree.fromstring(service_xsd())
    supply = xsd.find(".//{http://www.w3.org/2001/XMLSchema}complexType[@name='SupplyV1']")
    assert supply is not None
    xsd_fields = [e.get("name") for e in supply.iter("{http://www.w3.org/2001/XMLSchema}element")]
    assert xsd_fields == list(schema["properties"]["supply"]["properties"])


def test_migration_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    tables = (
        "connection_applications",
        "connection_documents",
        "connection_payments",
        "connection_incidents",
    )
    mine = [d for d in diff if any(f"'{t}'" in repr(d) for t in tables)]
    assert mine == []


def test_the_worker_runs_the_escalation_job(live_wsgi_app: object) -> None:
    from hub.lookup import registered
    from hub.periodic import PeriodicJobs

    jobs = {job.name: job for job in registered(live_wsgi_app.registry, PeriodicJobs)}  # type: ignore[attr-defined]
    assert jobs["workflow.escalate_overdue"].interval_seconds == 60.0
    assert jobs["workflow.escalate_overdue"].run() == 0  # nothing overdue in an empty database
