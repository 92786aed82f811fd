"""``ElectionService`` over SOAP 1.1 and 1.2 (hub.soap): the REST operations, the same answers, signed.

Handlers read the payload (already XSD-valid) into the same plain data the
REST views read and call the same functions
(:mod:`hub.election.verification`, :mod:`hub.election.dues`); a FormError
becomes a Fault with the same stable code and field errors. The answer is
written from the REST answer's dict, field for field, and signed by hub.soap
per WS-Security (the envelope's Body and a Timestamp; see README).

Verification answers (one, a thousand, the bulk job's report) are written as
text in exclusive-C14N form (:mod:`hub.soap.payload`) by :func:`result_xml`
and :func:`batch_payload`: at a thousand items an lxml element per field, then
canonicalising and serialising that tree, cost several times the verification
itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from pyramid.config import Configurator
from pyramid.request import Request

from forms.errors import FormError
from forms.reader import clean_text
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
from hub.systems import Connectors
from hub.views.certificates import (
    CODE,
    HOLDER_NAME_MAX,
    NUMBER,
    REF_MAX,
    SAMAGRA,
    CertificateQuestion,
    read_question,
)

HERE = Path(__file__).parent
NS = "urn:discom-hub:election:1"
E = "{" + NS + "}"
PATH = "/soap/election"
NSMAP = {"e": NS}
QUESTION_FIELDS = ("ref", "number", "code", "holder_name", "samagra_id")
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


# The statuses a result carries (election.xsd's VerificationStatus): written as they are, as none
# holds a character to escape; anything else is escaped like any text.
_STATUSES = frozenset(("valid", "revoked", "expired", "superseded", "unknown", "tampered"))


def result_xml(tag: str, result: VerificationResult) -> bytes:
    """A CertificateVerification element (``e:`` prefix, UTF-8): the REST answer of ``result``, field for field.

    Written straight from the result, not through ``VerificationResult.as_dict`` (at a thousand
    items the intermediate dicts cost as much as the text): the fields and conditions are
    as_dict's, the order is election.xsd's, absent (None) fields are omitted; the tests compare
    it with as_dict for every answer shape. The certificate's own part is the one its registry
    entry carries (hub.certificate_xml), spliced in as bytes.
    """
    return _result_head(tag, result).encode() + _certificate_part(result) + f"</e:{tag}>".encode()


def _result_head(tag: str, result: VerificationResult) -> str:
    """The start tag and what depends on the question and the moment: the number asked, the status."""
    status = result.status
    reason = result.reason
    return (
        f"<e:{tag}><e:number>{_t(result.number)}</e:number>"
        f"<e:status>{status if status in _STATUSES else _t(status)}</e:status>"
        f"{f'<e:reason>{_t(reason)}</e:reason>' if reason else ''}"
    )


def _certificate_part(result: VerificationResult) -> bytes:
    """What the answer tells of the certificate itself: nothing for an unknown or tampered one."""
    record = result.record
    if record is None or result.status in ("unknown", "tampered"):
        return b""
    return record.answer_part()


_RESULT_ITEM_END = b"</e:result></e:item>"


def _item_xml(batch_item: BatchItem) -> bytes:
    ref = batch_item.ref
    # index is an int: nothing to escape.
    head = (
        f"<e:item><e:index>{batch_item.index}</e:index>{'' if ref is None else f'<e:ref>{_t(ref)}</e:ref>'}"
    )
    result = batch_item.result
    if result is not None:
        # One encode for the text, the certificate's part as its entry carries it.
        return (head + _result_head("result", result)).encode() + _certificate_part(result) + _RESULT_ITEM_END
    error = item_error(batch_item.error) if batch_item.error is not None else {}
    return f"{head}<e:error>{_leaves(error, _ERROR_FIELDS)}</e:error></e:item>".encode()


def batch_payload(
    tag: str,
    items: Sequence[BatchItem],
    answered_at: datetime,
    head: Sequence[tuple[str, Any]] = (),
) -> RenderedPayload:
    """VerifyCertificatesResponse, or (with ``head``) a bulk job's VerificationReport."""
    content: list[str | bytes] = [
        *[leaf("e:" + name, value) for name, value in head],
        leaf("e:answered_at", answered_at.isoformat()),
        leaf("e:count", len(items)),
        *[_item_xml(batch_item) for batch_item in items],
    ]
    return rendered_payload("e", NS, tag, content)


def verify_certificate(request: Request, payload: etree._Element, caller: SoapCaller) -> RenderedPayload:
    fields = _fields(payload, QUESTION_FIELDS)
    question = _plain_question(fields)
    if question is None:
        with form_errors_as_faults():
            question = read_question(fields)
    now = utcnow()
    result = verify_one(request, question, now)
    content = (leaf("e:answered_at", now.isoformat()), result_xml("result", result))
    return rendered_payload("e", NS, "VerifyCertificateResponse", content)


def _plain_question(data: Mapping[str, Any]) -> CertificateQuestion | None:
    """What :func:`read_question` reads from ``data`` when the item is plain; None otherwise.

    Plain: the number, and the code and Samagra ID when given, are strings that match their
    patterns as they are (no whitespace: clean_text would change nothing, as the patterns admit
    only printable ASCII and the code is taken only without spaces to fold); the holder's name and
    the ref are strings within read_question's lengths after clean_text; there is a code, name or
    Samagra ID. read_question accepts such an item and reads exactly this from it (the tests
    compare the two on valid and hostile items); every other item goes to read_question itself, so
    a rejected item keeps read_question's errors. For a thousand items, read_question's Reader
    costs several times the verification.
    """
    number = data.get("number")
    if type(number) is not str or NUMBER.fullmatch(number) is None:
        return None
    code = _as_given(data.get("code"), CODE)
    samagra_id = _as_given(data.get("samagra_id"), SAMAGRA)
    holder_name = _cleaned(data.get("holder_name"), HOLDER_NAME_MAX)
    ref = _cleaned(data.get("ref"), REF_MAX)
    if code is None or samagra_id is None or holder_name is None or ref is None:
        return None
    if not (code or holder_name or samagra_id):
        return None
    return CertificateQuestion(number, code or None, holder_name or None, samagra_id or None, ref or None)


def _as_given(value: Any, pattern: re.Pattern[str]) -> str | None:
    """An optional field with a pattern: "" if absent or empty, itself if it matches as given, else None."""
    if value is None or value == "":
        return ""
    if type(value) is not str or " " in value or pattern.fullmatch(value) is None:
        return None
    return value


def _cleaned(value: Any, max_length: int) -> str | None:
    """An optional free-text field: "" if absent, clean_text of it within ``max_length``, else None."""
    if value is None:
        return ""
    if type(value) is not str:
        return None
    cleaned = clean_text(value)
    return cleaned if len(cleaned) <= max_length else None


def read_batch(
    items: Sequence[Mapping[str, Any]], first_index: int = 0
) -> list[CertificateQuestion | RejectedQuestion]:
    """Each item read on its own: a bad one is rejected with its error, the rest are asked."""
    questions: list[CertificateQuestion | RejectedQuestion] = []
    for index, data in enumerate(items, start=first_index):
        question = _plain_question(data)
        if question is not None:
            questions.append(question)
            continue
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
    _sub(root, "status", answer["status"])
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
        max_body=int(settings.get("hub.election.soap_max_body_bytes") or 2 * 1024 * 1024),
        # As REST verifyCertificate(s): answers come from the registry replica and the deferred
        # journal; a transaction begins only when an operation touches the database.
    )
