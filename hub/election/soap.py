"""``ElectionService`` over SOAP 1.1 and 1.2 (hub.soap): the REST operations, the same answers, signed.

Handlers read the payload (already XSD-valid) into the same plain data the
REST views read and call the same functions
(:mod:`hub.election.verification`, :mod:`hub.election.dues`); a FormError
becomes a Fault with the same stable code and field errors. The answer is
written from the REST answer's dict, field for field.

Verification answers (one, a thousand, the bulk job's report) are written as
text in exclusive-C14N form (:mod:`hub.soap.payload`) by :func:`result_xml`
and :func:`batch_payload`: at a thousand items an lxml element per field, then
canonicalising and serialising that tree, cost several times the verification
itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from pyramid.config import Configurator
from pyramid.request import Request

from forms.errors import FormError
from hub.documents import VerificationResult
from hub.election.dues import dues_status, read_dues_question
from hub.election.verification import (
    BatchItem,
    RejectedQuestion,
    item_error,
    read_ref,
    verify_many,
    verify_one,
)
from hub.errors import FieldError, Problem
from hub.models.meta import utcnow
from hub.soap import SoapCaller
from hub.soap.payload import RenderedPayload, leaf, rendered_payload, scalar_text
from hub.soap.payload import escaped as _t
from hub.views.certificates import CertificateQuestion, read_question

HERE = Path(__file__).parent
NS = "urn:discom-hub:election:1"
E = "{" + NS + "}"
PATH = "/soap/election"
NSMAP = {"e": NS}
QUESTION_FIELDS = ("ref", "number", "code", "holder_name", "samagra_id")
_PURPOSE_FIELDS = ("description", "election", "body", "ward")
_ERROR_FIELDS = ("code", "field", "message")
_DUES_FIELDS = ("consumer_number", "status", "amount", "evidence_id", "last_bill_date")


@contextmanager
def form_errors_as_faults() -> Iterator[None]:
    try:
        yield
    except FormError as exc:
        raise Problem(
            exc.code, exc.message, errors=[FieldError(p.field, p.code, p.message) for p in exc.problems]
        ) from None


def _sub(parent: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    etree.SubElement(parent, E + name).text = scalar_text(value)


def _fields(element: etree._Element, names: Sequence[str]) -> dict[str, str]:
    """The text of ``element``'s children named ``names`` (in our namespace), by local name."""
    by_tag = _TAGS.get(tuple(names))
    if by_tag is None:
        by_tag = {E + name: name for name in names}
    out: dict[str, str] = {}
    for child in element:
        # A comment's or PI's tag is a function: never a key of by_tag.
        name = by_tag.get(child.tag)
        if name is not None:
            out[name] = child.text or ""
    return out


_TAGS: dict[tuple[str, ...], dict[str, str]] = {QUESTION_FIELDS: {E + name: name for name in QUESTION_FIELDS}}


def _leaves(data: Mapping[str, Any], names: Sequence[str]) -> str:
    return "".join(f"<e:{name}>{_t(data[name])}</e:{name}>" for name in names if data.get(name) is not None)


def _connection_xml(connection: Mapping[str, Any]) -> str:
    # Every field of a certified connection is required by the XSD: written even if empty, with
    # str() as the element-per-field builder wrote them (public_summary holds strings here).
    return (
        f"<e:connection><e:consumer_number>{_t(str(connection.get('consumer_number', '')))}"
        f"</e:consumer_number><e:dues>{_t(str(connection.get('dues', '')))}</e:dues>"
        f"<e:meter_status>{_t(str(connection.get('meter_status', '')))}</e:meter_status></e:connection>"
    )


def _purpose_xml(purpose: Mapping[str, Any]) -> str:
    description, election, body, ward = (purpose.get(name) for name in _PURPOSE_FIELDS)
    return (
        "<e:purpose>"
        + ("" if description is None else f"<e:description>{_t(description)}</e:description>")
        + ("" if election is None else f"<e:election>{_t(election)}</e:election>")
        + ("" if body is None else f"<e:body>{_t(body)}</e:body>")
        + ("" if ward is None else f"<e:ward>{_t(ward)}</e:ward>")
        + "</e:purpose>"
    )


def result_xml(tag: str, result: VerificationResult) -> str:
    """A CertificateVerification element (``e:`` prefix): the REST answer of ``result``, field for field.

    Written straight from the result, not through ``VerificationResult.as_dict`` (at a thousand
    items the intermediate dicts cost as much as the text): the fields and conditions are
    as_dict's, the order is election.xsd's, absent (None) fields are omitted; the tests compare
    it with as_dict for every answer shape. One expression per group of fields: at a thousand
    items a function call per field is a large share of the answer's cost.
    """
    reason = result.reason
    head = f"<e:{tag}><e:number>{_t(result.number)}</e:number><e:status>{_t(result.status)}</e:status>" + (
        f"<e:reason>{_t(reason)}</e:reason>" if reason else ""
    )
    record = result.record
    if record is None or result.status in ("unknown", "tampered"):
        return f"{head}</e:{tag}>"
    summary = record.public_summary
    kind = summary.get("kind")
    holder_name = summary.get("holder_name")
    issuer_office = summary.get("issuer_office")
    connections = summary.get("connections")
    no_connection = summary.get("no_connection")
    purpose = summary.get("purpose")
    tail = ""
    if record.status == "revoked":
        revoked_at, revocation_reason = record.revoked_at, record.revocation_reason
        tail = ("" if revoked_at is None else f"<e:revoked_at>{revoked_at.isoformat()}</e:revoked_at>") + (
            ""
            if revocation_reason is None
            else f"<e:revocation_reason>{_t(revocation_reason)}</e:revocation_reason>"
        )
    if record.superseded_by_id is not None:
        tail += "<e:superseded>true</e:superseded>"
    return (
        head
        + ("" if kind is None else f"<e:kind>{_t(kind)}</e:kind>")
        + ("" if holder_name is None else f"<e:holder_name>{_t(holder_name)}</e:holder_name>")
        + ("" if issuer_office is None else f"<e:issuer_office>{_t(issuer_office)}</e:issuer_office>")
        + (
            ""
            if connections is None
            else f"<e:connections>{''.join([_connection_xml(c) for c in connections])}</e:connections>"
        )
        + ("" if no_connection is None else f"<e:no_connection>{_t(no_connection)}</e:no_connection>")
        + ("" if purpose is None else _purpose_xml(purpose))
        + f"<e:issued_at>{record.issued_at.isoformat()}</e:issued_at>"
        f"<e:valid_until>{record.valid_until.isoformat()}</e:valid_until>{tail}</e:{tag}>"
    )


def _item_xml(batch_item: BatchItem) -> str:
    ref = batch_item.ref
    head = f"<e:item><e:index>{batch_item.index}</e:index>" + (
        "" if ref is None else f"<e:ref>{_t(ref)}</e:ref>"
    )
    if batch_item.result is not None:
        return head + result_xml("result", batch_item.result) + "</e:item>"
    error = item_error(batch_item.error) if batch_item.error is not None else {}
    return head + f"<e:error>{_leaves(error, _ERROR_FIELDS)}</e:error></e:item>"


def batch_payload(
    tag: str,
    items: Sequence[BatchItem],
    answered_at: datetime,
    head: Sequence[tuple[str, Any]] = (),
) -> RenderedPayload:
    """VerifyCertificatesResponse, or (with ``head``) a bulk job's VerificationReport."""
    content = "".join(
        [
            *(leaf("e:" + name, value) for name, value in head),
            leaf("e:answered_at", answered_at.isoformat()),
            leaf("e:count", len(items)),
            *(_item_xml(batch_item) for batch_item in items),
        ]
    )
    return rendered_payload("e", NS, tag, content)


def verify_certificate(request: Request, payload: etree._Element, caller: SoapCaller) -> RenderedPayload:
    with form_errors_as_faults():
        question = read_question(_fields(payload, QUESTION_FIELDS))
    now = utcnow()
    result = verify_one(request, question, now)
    content = leaf("e:answered_at", now.isoformat()) + result_xml("result", result)
    return rendered_payload("e", NS, "VerifyCertificateResponse", content)


def read_batch(
    items: Sequence[Mapping[str, Any]], first_index: int = 0
) -> list[CertificateQuestion | RejectedQuestion]:
    """Each item read on its own: a bad one is rejected with its error, the rest are asked."""
    questions: list[CertificateQuestion | RejectedQuestion] = []
    for index, data in enumerate(items, start=first_index):
        try:
            questions.append(read_question(data, prefix=f"items/{index}/"))
        except FormError as exc:
            questions.append(RejectedQuestion(exc, read_ref(data)))
    return questions


def verify_certificates(request: Request, payload: etree._Element, caller: SoapCaller) -> RenderedPayload:
    items = [_fields(item, QUESTION_FIELDS) for item in payload.iterchildren(E + "item")]
    now = utcnow()
    answers = verify_many(
        request.registry, lambda: request.dbsession, read_batch(items), client_id=caller.client_id, now=now
    )
    return batch_payload("VerifyCertificatesResponse", answers, now)


def dues_element(tag: str, answer: Mapping[str, Any], answered_at: datetime) -> etree._Element:
    root = etree.Element(E + tag, nsmap=NSMAP)
    _sub(root, "answered_at", answered_at.isoformat())
    _sub(root, "as_of", answer["as_of"])
    _sub(root, "samagra_id", answer.get("samagra_id"))
    _sub(root, "clear", answer["clear"])
    _sub(root, "no_connection", answer["no_connection"])
    for connection in answer["connections"]:
        item = etree.SubElement(root, E + "connection")
        for name in _DUES_FIELDS:
            _sub(item, name, connection.get(name))
    return root


def get_dues_status(request: Request, payload: etree._Element, caller: SoapCaller) -> etree._Element:
    numbers = [(c.text or "").strip() for c in payload.iterchildren(E + "consumer_number")]
    data: dict[str, Any] = _fields(payload, ("samagra_id", "as_of"))
    if numbers:
        data["consumer_numbers"] = numbers
    now = utcnow()
    with form_errors_as_faults():
        question = read_dues_question(data, now)
    answer = dues_status(request.registry["connectors"].get("billing"), question)
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
        max_body=int(settings.get("hub.election.soap_max_body_bytes") or 2 * 1024 * 1024),
    )
