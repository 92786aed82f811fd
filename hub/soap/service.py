"""SOAP services on Pyramid: the ``config.add_soap_service`` directive and its two views.

A POST goes: content type -> SOAP version; capped body; the caller and its
rate (a bearer token before the body is read; otherwise the UsernameToken in
the Header, parsed alone and at most ``hub.soap.max_header_bytes`` of it, with
every refusal counted against the sender's address); hardened parse of the
whole envelope; envelope of that version with one payload in the Body;
operation named by the payload's element; SOAPAction consistent with it;
headers that must be understood; the caller's scopes; XSD validation of the
payload; the handler; the answer wrapped (and, when the operation is
evidence, signed per WS-Security 1.1: Body and Timestamp, signer certificate
as a BinarySecurityToken). Every failure is a Fault (:mod:`hub.soap.envelope`)
and dooms the request's transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid.request import Request
from pyramid.response import Response

from connectors.errors import ConnectorUnavailable
from forms.errors import FormError
from forms.safexml import DEFAULT_MAX_DEPTH, UntrustedXmlError, parse_untrusted_head, parse_untrusted_xml
from hub.api import ClientStatus, check_rate
from hub.auth.clients import KNOWN_SCOPES
from hub.errors import CODES, FieldError, Problem, problem_response
from hub.lookup import process_service, registered
from hub.ratelimit import RateLimiter
from hub.soap.envelope import (
    SOAP11,
    SOAP12,
    VERSIONS_BY_MEDIA_TYPE,
    VERSIONS_BY_NS,
    SoapFault,
    SoapVersion,
    envelope_response,
    fault_response,
    signed_envelope_response,
)
from hub.soap.security import SECURITY_TAG, SoapCaller, authenticate_soap, bearer_caller, security_headers
from hub.soap.wsdl import ServiceDescription, WsdlError, load_service_description

log = logging.getLogger(__name__)

# A handler answers with the payload element.
Handler = Callable[[Request, etree._Element, SoapCaller], etree._Element]
# Signs an answer's whole envelope in place (WS-Security).
Signer = Callable[[etree._Element], etree._Element]


class MessageSigner:
    """The service that signs the answers of signed operations (found with
    ``hub.lookup.process_service(registry, MessageSigner)``); a deployment may register its own
    (an HSM). Without one, or when ``sign`` fails, a signed operation answers a Fault."""

    def __init__(self, sign: Signer) -> None:
        self.sign = sign


_TRUE = {"1", "true"}
_NO_DERIVER_CAP = 1 << 62


@dataclass(frozen=True)
class SoapOperation:
    name: str
    input_element: str
    actions: Mapping[str, str]  # SOAP version name -> SOAPAction
    scopes: frozenset[str]
    signed: bool
    handler: Handler


@dataclass
class SoapRoutes:
    """The SOAP services' routes (``config.add_soap_service``), and each one's path with its body
    cap, which the ingress tween enforces before anything reads the body."""

    names: set[str] = field(default_factory=set)
    body_caps: dict[str, int] = field(default_factory=dict)


@dataclass
class SoapService:
    name: str
    path: str
    route_name: str
    max_body: int
    max_header: int  # what a sender without a bearer token may make the hub parse before it is known
    max_depth: int
    by_input: dict[str, SoapOperation]
    schema: etree.XMLSchema
    wsdl: bytes
    single_wsdl: bytes | None
    xsds: dict[str, bytes]
    default_rate: int
    refusals_per_minute: int  # per address, for requests the header had to authenticate
    # Every element name the service's schemas declare: what a validation fault may name.
    element_names: frozenset[str] = frozenset()


def content_version(request: Request) -> tuple[SoapVersion | None, str | None]:
    """The SOAP version the Content-Type declares, and the SOAP 1.2 ``action`` parameter."""
    raw = request.headers.get("Content-Type", "")
    media_type, _, params = raw.partition(";")
    version = VERSIONS_BY_MEDIA_TYPE.get(media_type.strip().lower())
    action = None
    if version is SOAP12 and params:
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "action":
                action = value.strip().strip('"')
    return version, action


# ----------------------------------------------------------------- schema errors

# libxml2's error types -> the field codes the REST readers use (forms.reader).
_SCHEMA_ERROR_CODES = {
    "SCHEMAV_CVC_MAXLENGTH_VALID": "too_long",
    "SCHEMAV_CVC_MINLENGTH_VALID": "too_short",
    "SCHEMAV_CVC_LENGTH_VALID": "format",
    "SCHEMAV_CVC_PATTERN_VALID": "format",
    "SCHEMAV_CVC_ENUMERATION_VALID": "choice",
    "SCHEMAV_CVC_MININCLUSIVE_VALID": "range",
    "SCHEMAV_CVC_MAXINCLUSIVE_VALID": "range",
    "SCHEMAV_CVC_MINEXCLUSIVE_VALID": "range",
    "SCHEMAV_CVC_MAXEXCLUSIVE_VALID": "range",
    "SCHEMAV_CVC_TOTALDIGITS_VALID": "range",
    "SCHEMAV_CVC_FRACTIONDIGITS_VALID": "range",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_1": "type",
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_2": "unexpected",
    "SCHEMAV_CVC_COMPLEX_TYPE_4": "required",
    "SCHEMAV_CVC_ELT_1": "unexpected",
}
_STEP = re.compile(r"^(?:[^:\[\]]*:)?([^:\[\]]+)(?:\[([0-9]+)\])?$")
_EXPECTED = re.compile(r"Expected is \( \{[^}]*\}([A-Za-z_][\w.-]*) \)")


def _failed_element(payload: etree._Element, path: str) -> etree._Element | None:
    """The element libxml2's path names, found by walking the payload.

    Its steps are ``prefix:name[n]``, or ``*[n]`` for an element in a default namespace: the
    n-th child matching the step (the only one without [n]). Prefixes are the sender's, so only
    local names are compared.
    """
    element = payload
    for raw in path.split("/")[2:]:  # "", then the payload element itself
        step = _STEP.match(raw)
        if step is None:
            return None
        name, index = step.group(1), int(step.group(2) or 1)
        children = [
            c for c in element if isinstance(c.tag, str) and (name == "*" or etree.QName(c).localname == name)
        ]
        if index > len(children):
            return None
        element = children[index - 1]
    return element


def _field_path(payload: etree._Element, element: etree._Element, declared: frozenset[str]) -> list[str]:
    """Local names from below the payload down to ``element``, a repeated one with its position;
    the path stops before a name the schemas do not declare (a sender's name is never echoed)."""
    chain: list[etree._Element] = []
    node: etree._Element | None = element
    while node is not None and node is not payload:
        chain.append(node)
        node = node.getparent()
    steps: list[str] = []
    for node in reversed(chain):
        name = etree.QName(node).localname
        if name not in declared:
            break
        parent = node.getparent()
        same = [c for c in parent if c.tag == node.tag] if parent is not None else [node]
        steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
    return steps


def schema_field_errors(service: SoapService, payload: etree._Element, log_entries: Any) -> list[FieldError]:
    """The fields the payload's XSD validation failed on, as REST names them.

    A field is the element path below the payload (``connections/connection[2]/consumerNumber``)
    built only from names the service's schemas declare: an undeclared element or a sender's
    prefix is never echoed, nor is libxml2's message (it quotes the value).
    """
    found: dict[str, FieldError] = {}
    for entry in log_entries:  # an lxml error log (its stubs declare no iteration)
        element = _failed_element(payload, entry.path or "")
        steps = _field_path(payload, element, service.element_names) if element is not None else []
        code = _SCHEMA_ERROR_CODES.get(entry.type_name, "invalid")
        if entry.type_name == "SCHEMAV_ELEMENT_CONTENT":
            if "Missing child" in entry.message:
                code = "required"
                expected = _EXPECTED.search(entry.message)
                if expected is not None and expected.group(1) in service.element_names:
                    steps.append(expected.group(1))
            else:
                code = "unexpected"
        field_path = "/".join(steps) or "."
        found.setdefault(field_path, FieldError(field_path, code, "does not match the service's schema"))
    return list(found.values())


# ----------------------------------------------------------------- POST


def _fault(
    request: Request, version: SoapVersion, fault: SoapFault, service: SoapService, operation: str
) -> Response:
    tm = getattr(request, "tm", None)
    if tm is not None:
        try:
            tm.doom()  # nothing a failed operation wrote may commit
        except Exception:  # no transaction begun: nothing to doom
            log.debug("no transaction to doom")
    log.info("soap fault", extra={"service": service.name, "operation": operation, "code": fault.code})
    return fault_response(version, fault, getattr(request, "request_id", None))


def _has_processing_instruction(data: bytes) -> bool:
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if data.startswith(b"<?xml", start) and data[start + 5 : start + 6] in (b" ", b"\t", b"\r", b"\n"):
        start = data.find(b"?>", start) + 2
    return data.find(b"<?", start) != -1


def _payload(envelope: etree._Element, version: SoapVersion) -> tuple[etree._Element | None, etree._Element]:
    header = None
    body = None
    for child in envelope:
        if not isinstance(child.tag, str):
            continue
        if child.tag == version.tag("Header") and header is None and body is None:
            header = child
        elif child.tag == version.tag("Body") and body is None:
            body = child
        elif version is SOAP12 or body is None:
            # SOAP 1.2 allows nothing after the Body; 1.1 allows trailers after it, not before.
            raise SoapFault("soap_envelope_invalid")
    if body is None:
        raise SoapFault("soap_envelope_invalid")
    payloads = [c for c in body if isinstance(c.tag, str)]
    if len(payloads) != 1 or (body.text and body.text.strip()):
        raise SoapFault("soap_envelope_invalid")
    return header, payloads[0]


def _check_headers(header: etree._Element | None, version: SoapVersion) -> None:
    if header is None:
        return
    attribute = version.tag("mustUnderstand")
    for block in header:
        if (
            isinstance(block.tag, str)
            and block.tag != SECURITY_TAG
            and (block.get(attribute) or "").strip() in _TRUE
        ):
            raise SoapFault("soap_must_understand")


def _declared_action(request: Request, version: SoapVersion, action_param: str | None) -> str | None:
    if version is SOAP11:
        raw = request.headers.get("SOAPAction")
        if raw is None:
            raise SoapFault("soap_action_mismatch")  # SOAP 1.1 over HTTP requires the header
        return raw.strip().strip('"')
    return action_param


def _read_body(request: Request, service: SoapService) -> bytes:
    length = request.content_length
    if length is not None and length > service.max_body:
        raise SoapFault("body_too_large")
    if length is not None:
        data: bytes = request.body  # within the cap (checked above)
        return data
    data = request.body_file.read(service.max_body + 1)
    if len(data) > service.max_body:
        raise SoapFault("body_too_large")
    return data


def _check_envelope_tag(envelope: etree._Element, version: SoapVersion) -> None:
    if envelope.tag != version.tag("Envelope"):
        if (
            etree.QName(envelope).localname == "Envelope"
            and etree.QName(envelope).namespace in VERSIONS_BY_NS
        ):
            raise SoapFault("soap_version_mismatch")
        raise SoapFault("soap_envelope_invalid")


def _authenticate_from_header(
    request: Request, service: SoapService, version: SoapVersion
) -> tuple[SoapCaller, bytes]:
    """The caller named by the envelope's header (WS-Security), for a request without a bearer token.

    Nobody is known yet, so nobody is trusted with more than ``service.max_header`` bytes of
    parsing: only the envelope up to its Body is parsed here, and the rest waits until the
    caller is authenticated. Every refusal counts against the sender's address
    (``hub.ratelimit.public_per_minute``), and an address that has spent its allowance is
    refused before anything is parsed.
    """
    limiter = process_service(request.registry, RateLimiter)
    bucket = "soap-ip:" + (request.client_addr or "?")
    verdict = limiter.spent(bucket)
    if not verdict.allowed:
        raise SoapFault("rate_limited", headers={"Retry-After": str(verdict.retry_after)})
    try:
        data = _read_body(request, service)
        try:
            head = parse_untrusted_head(
                data, (version.tag("Body"),), max_bytes=service.max_header, max_depth=service.max_depth
            )
        except UntrustedXmlError as exc:
            if exc.code == "xml_too_large":
                raise SoapFault("soap_header_too_large") from None
            raise SoapFault(exc.code) from None
        _check_envelope_tag(head, version)
        first = next((child for child in head if isinstance(child.tag, str)), None)
        header = first if first is not None and first.tag == version.tag("Header") else None
        return authenticate_soap(request, header), data
    except SoapFault:
        verdict = limiter.hit(bucket, service.refusals_per_minute)
        if not verdict.allowed:
            raise SoapFault("rate_limited", headers={"Retry-After": str(verdict.retry_after)}) from None
        raise


def _soap_post(service: SoapService, request: Request) -> Response:
    version, action_param = content_version(request)
    if version is None:
        # No version to answer in: SOAP 1.1 is what a confused client most likely reads.
        return _fault(request, SOAP11, SoapFault("unsupported_media_type"), service, "-")
    operation_name = "-"
    try:
        # Who is calling, and whether they may call now, before the envelope is parsed: a
        # bearer token before the body is even read, a UsernameToken from the header alone.
        data: bytes | None = None
        if "HTTP_AUTHORIZATION" in request.environ:
            caller = bearer_caller(request)
        else:
            caller, data = _authenticate_from_header(request, service, version)
        request.partner = caller
        clients = process_service(request.registry, ClientStatus)
        limit = clients.limit_for(caller.client_id, service.default_rate)
        check_rate(request, "client:" + caller.client_id, limit)

        if data is None:
            data = _read_body(request, service)
        try:
            envelope = parse_untrusted_xml(data, max_bytes=service.max_body, max_depth=service.max_depth)
        except UntrustedXmlError as exc:
            raise SoapFault(exc.code) from None
        if _has_processing_instruction(data):
            # SOAP 1.2 part 1 section 5: a message must not carry PIs; the parser
            # drops them silently, so look at the bytes (memchr-fast).
            raise SoapFault("soap_envelope_invalid")
        _check_envelope_tag(envelope, version)
        header, payload = _payload(envelope, version)
        if caller.method == "bearer":
            security_headers(request, header)  # a UsernameToken besides the token: refused
        operation = service.by_input.get(payload.tag) if isinstance(payload.tag, str) else None
        if operation is None:
            raise SoapFault("soap_operation_unknown")
        operation_name = operation.name
        expected = operation.actions.get(version.name)
        if expected is None:
            raise SoapFault("soap_operation_unknown")  # not bound for this SOAP version
        declared = _declared_action(request, version, action_param)
        if declared and declared != expected:
            raise SoapFault("soap_action_mismatch")
        _check_headers(header, version)
        if not caller.scopes.issuperset(operation.scopes):
            raise SoapFault("insufficient_scope")

        try:
            service.schema.assertValid(payload)
        except etree.DocumentInvalid as invalid:
            # The exception holds its own copy of the log: the schema's is shared between threads.
            raise SoapFault(
                "validation_failed", errors=schema_field_errors(service, payload, invalid.error_log)
            ) from None
        except etree.XMLSchemaValidateError:
            raise SoapFault("validation_failed") from None

        answer = operation.handler(request, payload, caller)
        if not isinstance(answer, etree._Element):
            raise TypeError(
                f"SOAP handler of {operation.name} returned {type(answer).__name__}, not an element"
            )
        if operation.signed:
            return _signed_answer(request, version, operation, answer)
        return envelope_response(version, answer)
    except SoapFault as fault:
        return _fault(request, version, fault, service, operation_name)
    except Problem as problem:
        mapped = SoapFault(problem.code, errors=problem.errors, headers=problem.headers)
        return _fault(request, version, mapped, service, operation_name)
    except FormError as exc:
        # A domain reader's refusal (the same readers REST uses): its code and fields, as REST answers.
        errors = [FieldError(p.field, p.code, p.message) for p in exc.problems]
        code = exc.code if exc.code in CODES else "validation_failed"
        return _fault(request, version, SoapFault(code, errors=errors), service, operation_name)
    except ConnectorUnavailable as exc:
        log.warning("dependency unavailable", extra={"system": exc.system, "error": str(exc)})
        unavailable = SoapFault("dependency_unavailable", headers={"Retry-After": "30"})
        return _fault(request, version, unavailable, service, operation_name)
    except Exception:
        log.exception(
            "unhandled error in SOAP operation", extra={"service": service.name, "operation": operation_name}
        )
        return _fault(request, version, SoapFault("internal_error"), service, operation_name)


# ----------------------------------------------------------------- signing


def _signed_answer(
    request: Request, version: SoapVersion, operation: SoapOperation, answer: etree._Element
) -> Response:
    """The answer signed per WS-Security by the :class:`MessageSigner` service; without it, a Fault."""
    try:
        signer = process_service(request.registry, MessageSigner)
        return signed_envelope_response(version, answer, signer.sign)
    except Exception:
        log.exception("signing the SOAP response failed", extra={"operation": operation.name})
        raise SoapFault("signing_unavailable") from None


# ----------------------------------------------------------------- GET


def _soap_get(service: SoapService, request: Request) -> Response:
    if "wsdl" in request.GET:
        body = service.wsdl
    elif "singleWsdl" in request.GET and service.single_wsdl is not None:
        body = service.single_wsdl
    elif "xsd" in request.GET:
        found = service.xsds.get(request.GET["xsd"])
        if found is None:
            return problem_response(request, "not_found")
        body = found
    else:
        return problem_response(request, "not_found", "GET ?wsdl for the service description")
    response = Response(body=body, content_type="text/xml", charset="utf-8")
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


# ----------------------------------------------------------------- directive


def add_soap_service(
    config: Configurator,
    name: str,
    path: str,
    wsdl_file: str | Path,
    xsd_files: Sequence[str | Path],
    handlers: Mapping[str, Handler],
    scopes_by_operation: Mapping[str, Iterable[str]],
    signed_operations: Iterable[str] = (),
    *,
    max_body: int | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    database: bool = True,
) -> None:
    """Serve a document/literal wrapped SOAP 1.1 + 1.2 service at ``path``.

    ``handlers`` and ``scopes_by_operation`` are keyed by WSDL operation name
    and must cover every operation (an empty scope list means: any
    authenticated partner). ``signed_operations`` answer with a WS-Security
    signature over the Body and a Timestamp made by the :class:`MessageSigner` service.
    The WSDL's ``xs:import``/``xs:include`` schemaLocations name the XSDs by
    file name; they are served at ``path?xsd=NAME``. ``database`` is the views'
    (hub.api).
    """
    if "{" in path or not path.startswith("/"):
        raise ConfigurationError(f"SOAP service {name!r}: path must be a fixed absolute path")
    settings = config.get_settings()
    address = str(settings["hub.public_url"]).rstrip("/") + path
    try:
        description = load_service_description(wsdl_file, list(xsd_files))
        # Rendered once: GET ?wsdl / ?xsd serve constant bytes.
        wsdl, single_wsdl, xsds = (
            description.render_wsdl(address),
            description.render_single_wsdl(address),
            description.render_xsds(address),
        )
    except WsdlError as exc:
        raise ConfigurationError(f"SOAP service {name!r}: {exc}") from None
    operations = description.operations
    signed = set(signed_operations)
    for label, keys in (
        ("handlers", set(handlers)),
        ("scopes_by_operation", set(scopes_by_operation)),
        ("signed_operations", signed),
    ):
        unknown = keys - set(operations)
        if unknown:
            raise ConfigurationError(
                f"SOAP service {name!r}: {label} names unknown operations {sorted(unknown)}"
            )
    for op_name in operations:
        if op_name not in handlers or op_name not in scopes_by_operation:
            raise ConfigurationError(
                f"SOAP service {name!r}: operation {op_name!r} needs a handler and its scopes"
            )
        bad = set(scopes_by_operation[op_name]) - set(KNOWN_SCOPES)
        if bad:
            raise ConfigurationError(f"SOAP service {name!r}: unknown scopes {sorted(bad)}")

    cap = int(max_body or settings["hub.soap.max_body_bytes"])
    route_name = f"soap.{name}"
    service = SoapService(
        name=name,
        path=path,
        route_name=route_name,
        max_body=cap,
        max_header=min(cap, int(settings["hub.soap.max_header_bytes"])),
        max_depth=max_depth,
        by_input={
            op.input_element: SoapOperation(
                op.name,
                op.input_element,
                dict(op.actions),
                frozenset(scopes_by_operation[op.name]),
                op.name in signed,
                handlers[op.name],
            )
            for op in operations.values()
        },
        schema=description.schema,
        wsdl=wsdl,
        single_wsdl=single_wsdl,
        xsds=xsds,
        default_rate=int(settings["hub.ratelimit.default_per_minute"]),
        refusals_per_minute=int(settings["hub.ratelimit.public_per_minute"]),
        element_names=frozenset(
            str(element.get("name"))
            for tree in description.xsd_trees.values()
            for element in tree.iter("{http://www.w3.org/2001/XMLSchema}element")
            if element.get("name")
        ),
    )
    _register(config, service, description, database)


def _register(
    config: Configurator, service: SoapService, description: ServiceDescription, database: bool | str
) -> None:
    routes = registered(config.registry, SoapRoutes)
    routes.names.add(service.route_name)
    routes.body_caps[service.path] = service.max_body
    config.add_route(service.route_name, service.path)

    def post_view(request: Request) -> Response:
        return _soap_post(service, request)

    def get_view(request: Request) -> Response:
        return _soap_get(service, request)

    # auth="self": the POST view authenticates (bearer or WS-Security) and
    # enforces service.max_body itself, before reading, so that even that
    # refusal is a Fault and not problem+json: the deriver's cap is lifted.
    config.add_view(
        post_view,
        route_name=service.route_name,
        request_method="POST",
        auth="self",
        max_body=_NO_DERIVER_CAP,
        database=database,
    )
    # The WSDL and XSDs are constants: GET never needs the database, and declares the same
    # mode so that the route keeps the POST view's.
    config.add_view(
        get_view, route_name=service.route_name, request_method="GET", auth="self", database=database
    )
    config.action(("hub.soap.service", service.name), None)
