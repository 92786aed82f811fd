"""``ElectionService`` over SOAP 1.1 and 1.2 (hub.soap): the REST operations, the same answers, signed.

Handlers read the payload (already XSD-valid) into the same plain data the
REST views read and call the same functions (:mod:`hub.certificates.verification`,
:mod:`hub.election.dues`); a FormError becomes a Fault with the same stable code
and field errors. The answer is an lxml tree written from the REST answer's
dict, field for field, and signed by hub.soap per WS-Security (the envelope's
Body and a Timestamp; see README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from pyramid.config import Configurator
from pyramid.request import Request

from hub.certificates.questions import read_batch, read_question
from hub.certificates.verification import verify_by_number, verify_many
from hub.election.answers import NSMAP, E, batch_element, result_element, sub
from hub.election.dues import dues_status, read_dues_question
from hub.models.meta import utcnow
from hub.soap import SoapCaller, form_errors_as_faults
from hub.systems import Connectors

HERE = Path(__file__).parent
PATH = "/soap/election"
QUESTION_FIELDS = ("ref", "number", "code", "holder_name", "samagra_id")
_DUES_FIELDS = ("consumer_number", "status", "amount", "evidence_id", "last_bill_date")


def _fields(element: etree._Element, names: Sequence[str]) -> dict[str, str]:
    """The text of ``element``'s children named ``names`` (in our namespace), by local name."""
    out: dict[str, str] = {}
    for child in element:
        # A comment's or PI's tag is a function, not a name.
        if isinstance(child.tag, str) and child.tag.startswith(E):
            local = child.tag[len(E) :]
            if local in names:
                out[local] = child.text or ""
    return out


def verify_certificate(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    with form_errors_as_faults():
        question = read_question(_fields(payload, QUESTION_FIELDS))
    now = utcnow()
    result = verify_by_number(
        request.dbsession,
        question,
        verifier=f"client:{caller.client_id}",
        client_id=caller.client_id,
        now=now,
    )
    root = etree.Element(E + "VerifyCertificateResponse", nsmap=NSMAP)
    sub(root, "answered_at", now.isoformat())
    result_element(root, "result", result.as_dict())
    return root


def verify_certificates(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    items = [_fields(item, QUESTION_FIELDS) for item in payload.iterchildren(E + "item")]
    now = utcnow()
    answers = verify_many(request.dbsession, read_batch(items), client_id=caller.client_id, now=now)
    return batch_element("VerifyCertificatesResponse", answers, now)


def dues_element(tag: str, answer: Mapping[str, Any], answered_at: datetime) -> etree._Element:
    root = etree.Element(E + tag, nsmap=NSMAP)
    sub(root, "answered_at", answered_at.isoformat())
    sub(root, "as_of", answer["as_of"])
    sub(root, "samagra_id", answer.get("samagra_id"))
    sub(root, "status", answer["status"])
    sub(root, "clear", answer["clear"])
    sub(root, "no_connection", answer["no_connection"])
    for connection in answer["connections"]:
        item = etree.SubElement(root, E + "connection")
        for name in _DUES_FIELDS:
            sub(item, name, connection.get(name))
    return root


def get_dues_status(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    numbers = [(c.text or "").strip() for c in payload.iterchildren(E + "consumer_number")]
    data: dict[str, Any] = _fields(payload, ("samagra_id", "as_of"))
    if numbers:
        data["consumer_numbers"] = numbers
    now = utcnow()
    with form_errors_as_faults():
        question = read_dues_question(data, now)
    connectors = request.find_service(Connectors)
    answer = dues_status(connectors.get("billing"), question, connectors.get("samagra"))
    return dues_element("GetDuesStatusResponse", answer, now)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    verify = ["certificates:verify"]
    config.add_soap_service(
        "election",
        PATH,
        HERE / "election.wsdl",
        [HERE / "election.xsd"],
        handlers={
            "VerifyCertificate": verify_certificate,
            "VerifyCertificates": verify_certificates,
            "GetDuesStatus": get_dues_status,
        },
        scopes_by_operation={
            "VerifyCertificate": verify,
            "VerifyCertificates": verify,
            "GetDuesStatus": ["dues:read"],
        },
        # Every answer is evidence a returning officer may have to produce.
        signed_operations=("VerifyCertificate", "VerifyCertificates", "GetDuesStatus"),
        # 1,000 batch items of a few hundred bytes each.
        max_body=int(settings["hub.election.soap_max_body_bytes"]),
    )
