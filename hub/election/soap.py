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

from certs.xmldsig import canonical_signature
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
from hub.soap.payload import RenderedPayload, leaf, rendered_payload, scalar_text, xml_text
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
    out: dict[str, str] = {}
    for child in element:
        if isinstance(child.tag, str) and child.tag.startswith(E):
            local = child.tag[len(E) :]
            if local in names:
                out[local] = child.text or ""
    return out


def _leaves(data: Mapping[str, Any], names: Sequence[str]) -> str:
    parts = []
    for name in names:
        value = data.get(name)
        if value is not None:
            parts.append(f"<e:{name}>{xml_text(scalar_text(value))}</e:{name}>")
    return "".join(parts)


def _connection_xml(connection: Mapping[str, Any]) -> str:
    # Every field of a certified connection is required by the XSD: written even if empty.
    return (
        "<e:connection>"
        f"<e:consumer_number>{xml_text(str(connection.get('consumer_number', '')))}</e:consumer_number>"
        f"<e:dues>{xml_text(str(connection.get('dues', '')))}</e:dues>"
        f"<e:meter_status>{xml_text(str(connection.get('meter_status', '')))}</e:meter_status>"
        "</e:connection>"
    )


def _text_leaf(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return f"<e:{name}>{xml_text(value)}</e:{name}>"
    return f"<e:{name}>{xml_text(scalar_text(value))}</e:{name}>"


def result_xml(tag: str, result: VerificationResult) -> str:
    """A CertificateVerification element (``e:`` prefix): the REST answer of ``result``, field for field.

    Written straight from the result, not through ``VerificationResult.as_dict`` (at a thousand
    items the intermediate dicts cost as much as the text): the fields and conditions are
    as_dict's, the order is election.xsd's, absent (None) fields are omitted; the tests compare
    it with as_dict for every answer shape.
    """
    head = f"<e:{tag}><e:number>{xml_text(result.number)}</e:number><e:status>{xml_text(result.status)}</e:status>"
    if result.reason:
        head += f"<e:reason>{xml_text(result.reason)}</e:reason>"
    record = result.record
    if record is None or result.status in ("unknown", "tampered"):
        return head + f"</e:{tag}>"
    summary = record.public_summary
    parts = [
        head,
        _text_leaf("kind", summary.get("kind")),
        _text_leaf("holder_name", summary.get("holder_name")),
        _text_leaf("issuer_office", summary.get("issuer_office")),
    ]
    connections = summary.get("connections")
    if connections is not None:
        parts.append("<e:connections>")
        parts.extend(_connection_xml(connection) for connection in connections)
        parts.append("</e:connections>")
    parts.append(_text_leaf("no_connection", summary.get("no_connection")))
    purpose = summary.get("purpose")
    if purpose is not None:
        parts.append(f"<e:purpose>{_leaves(purpose, _PURPOSE_FIELDS)}</e:purpose>")
    parts.append(f"<e:issued_at>{record.issued_at.isoformat()}</e:issued_at>")
    parts.append(f"<e:valid_until>{record.valid_until.isoformat()}</e:valid_until>")
    if record.status == "revoked":
        if record.revoked_at is not None:
            parts.append(f"<e:revoked_at>{record.revoked_at.isoformat()}</e:revoked_at>")
        parts.append(_text_leaf("revocation_reason", record.revocation_reason))
    if record.superseded_by_id is not None:
        parts.append("<e:superseded>true</e:superseded>")
    parts.append(f"</e:{tag}>")
    return "".join(parts)


def _item_xml(batch_item: BatchItem) -> str:
    head = f"<e:item><e:index>{batch_item.index}</e:index>{leaf('e:ref', batch_item.ref)}"
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
    keys = config.registry.get("document_keys")
    if keys is not None:
        # Our answers are canonical bytes (hub.soap.payload): the evidence key signs them as they are.
        # keys.keyring is read per call: a rotated key signs from the next answer on.
        def canonical_signer(canonical: bytes) -> bytes | None:
            return canonical_signature(canonical, keys.keyring)

        config.registry.setdefault("soap_canonical_signer", canonical_signer)
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
