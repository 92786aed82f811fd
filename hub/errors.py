"""One error shape for REST: RFC 9457 ``application/problem+json``.

Every error carries a stable machine ``code`` (the table below, after Kinto's
errno table); clients branch on ``code``, never on ``title`` or ``detail``.
SOAP Faults carry the same codes in their detail (hub.soap).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPException, HTTPMethodNotAllowed
from pyramid.request import Request
from pyramid.response import Response

from connectors.errors import ConnectorUnavailable
from forms.errors import FormError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://discom-hub.invalid/problems/"

# Members every problem has (RFC 9457's and the hub's own): an extension member must not take one
# of these names, or a client reading ``status`` as the HTTP code gets a workflow state instead.
RESERVED_MEMBERS = frozenset(
    {"type", "title", "status", "detail", "instance", "code", "request_id", "errors"}
)

# code -> (HTTP status, title). Codes are a public contract: add, never rename.
CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "The request is not valid"),
    "malformed_json": (400, "The body is not valid JSON"),
    "validation_failed": (400, "Some fields are not valid"),
    "xml_malformed": (400, "The body is not well-formed XML"),
    "xml_doctype_forbidden": (400, "DOCTYPE declarations are not accepted"),
    "xml_too_deep": (400, "The XML is nested too deeply"),
    "xml_too_large": (413, "The XML is too large"),
    "document_malformed": (400, "Not a signed document of this hub"),
    "invalid_token": (401, "The access token is missing, expired or not valid"),
    "invalid_client": (401, "Client authentication failed"),
    "insufficient_scope": (403, "The access token does not allow this operation"),
    "forbidden": (403, "Not allowed"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "not_acceptable": (406, "No acceptable representation"),
    "conflict": (409, "Conflicts with the current state"),
    "gone": (410, "No longer available"),
    "body_too_large": (413, "The body is too large"),
    "unsupported_media_type": (415, "Unsupported content type"),
    "unprocessable": (422, "The request cannot be carried out"),
    "rate_limited": (429, "Too many requests"),
    "otp_invalid": (400, "The OTP is not valid"),
    "otp_expired": (400, "The OTP has expired"),
    "otp_used": (400, "The OTP was already used"),
    "otp_attempts_exhausted": (400, "Too many wrong attempts for this OTP"),
    "otp_locked": (429, "Too many wrong OTPs for this mobile; try later"),
    "otp_send_limit": (429, "Too many OTPs sent to this mobile; try later"),
    "unknown_consumer_number": (422, "Billing does not know this consumer number"),
    "connection_not_yours": (403, "The connection is registered to someone else"),
    "connection_limit": (409, "The account already holds the most connections allowed"),
    "connection_not_linked": (422, "The connection is not linked to this account"),
    "ekyc_refused": (422, "The KYC system refused the e-KYC"),
    "application_open": (409, "An application for this person is already open"),
    "connections_exist": (422, "Billing has connections registered to this Samagra ID"),
    "nothing_to_cover": (422, "The application covers no connection"),
    "application_conflict": (409, "Another application was filed under this single-window id"),
    "application_state_conflict": (409, "The application's current state does not allow this"),
    "form_version_unknown": (400, "The form version is not one this hub accepts"),
    "document_hash_mismatch": (422, "A document does not match its SHA-256"),
    "document_url_not_allowed": (422, "A document URL is outside the hosts the hub fetches from"),
    "document_fetch_failed": (422, "A document could not be fetched from its URL"),
    "document_too_large": (413, "A document is larger than the hub accepts"),
    "payment_bad_signature": (401, "The payment callback's signature is not valid"),
    "payment_stale": (400, "The payment callback is outside the accepted time window"),
    "payment_malformed": (400, "The payment callback is malformed"),
    "payment_reference_unknown": (422, "No demand note carries this payment reference"),
    "payment_amount_mismatch": (422, "The amount paid differs from the demand note"),
    "payment_replayed": (409, "This payment was already recorded"),
    "payment_not_expected": (409, "The application is not waiting for a payment"),
    "consumer_not_found": (404, "Billing does not know this consumer number"),
    "nothing_due": (422, "Nothing is due on this connection"),
    "payment_not_confirmed": (409, "The gateway's status API does not confirm this payment"),
    "payment_conflict": (409, "Another payment was recorded under this channel's transaction id"),
    "meter_notification_forged": (401, "The head-end notification's signature is not valid"),
    "meter_notification_malformed": (400, "The head-end notification is malformed"),
    "meter_notification_stale": (400, "The head-end notification is outside the accepted time window"),
    "meter_notification_replayed": (409, "This head-end notification was already received"),
    "meter_transaction_unknown": (422, "No meter command carries this transaction id"),
    "meter_command_state_conflict": (409, "The meter command's current state does not allow this"),
    "complaint_conflict": (409, "Another complaint was registered under this ticket id"),
    "complaint_state_conflict": (409, "The complaint's current state does not allow this"),
    "reopen_period_over": (422, "The period for reopening this complaint is over"),
    "evidence_invalid": (422, "An evidence file is not a PDF, JPEG or PNG (or is empty, or one too many)"),
    "evidence_too_large": (413, "An evidence file is larger than the hub accepts"),
    "correction_not_a_credit": (422, "The correct amount is not less than the amount billed"),
    "other_office": (403, "The consumer or case belongs to another office"),
    "not_permitted": (403, "The officer's role may not do this"),
    "unknown_complaint": (422, "The consumer has no complaint with this number"),
    "case_file_too_long": (409, "The complaint has more steps than one case file holds"),
    "whatsapp_signature_invalid": (401, "The webhook's X-Hub-Signature-256 is missing or not valid"),
    "whatsapp_webhook_malformed": (400, "The webhook is not a WhatsApp Business Cloud API payload"),
    "whatsapp_verification_failed": (403, "The webhook verification token does not match"),
    "outage_node_unknown": (422, "The network holds no such substation, feeder or DT"),
    "outage_duplicate": (409, "An outage overlapping this one is already recorded on the node"),
    "outage_state_conflict": (409, "The outage's current state does not allow this"),
    "outage_not_started": (409, "The outage has not started; it cannot be restored"),
    "outage_not_open": (409, "No outage is open on this node"),
    "outage_times_invalid": (422, "The outage's times are not consistent"),
    "outage_event_conflict": (409, "This event id was reported before for another node or action"),
    "kyc_purpose_not_allowed": (403, "The client may not receive KYC for this purpose"),
    "kyc_cursor_invalid": (400, "The cursor is not one this hub issued for this listing"),
    "internal_error": (500, "Internal error"),
    "dependency_unavailable": (503, "A system the hub depends on is not answering; try again later"),
    # SOAP (hub.soap): carried in the Fault detail, never as problem+json.
    "soap_envelope_invalid": (400, "The body is not a SOAP envelope the service accepts"),
    "soap_version_mismatch": (400, "The envelope is not of the SOAP version the content type declares"),
    "soap_operation_unknown": (400, "The body names no operation of this service"),
    "soap_action_mismatch": (400, "The SOAP action does not match the operation in the body"),
    "soap_must_understand": (400, "A header marked mustUnderstand is not supported"),
    "wsse_password_digest_required": (401, "Only UsernameTokens with a PasswordDigest are accepted"),
    "wsse_created_out_of_window": (401, "The UsernameToken Created time is outside the accepted window"),
    "wsse_nonce_replayed": (401, "The UsernameToken nonce has been used before"),
    "signing_unavailable": (500, "The response cannot be signed at the moment"),
    "soap_header_too_large": (413, "The SOAP header is too large to read before the caller is known"),
    # No-dues: who the applicant is (the Samagra registry).
    "samagra_unknown": (422, "The Samagra registry has no member with this ID"),
    "samagra_no_mobile": (
        422,
        "The Samagra registry holds no mobile for this person; prove identity by e-KYC",
    ),
    "identity_not_proved": (403, "The applicant has not proved to be the person of this Samagra ID"),
}


@dataclass
class FieldError:
    """One invalid field: ``field`` is a JSON pointer-ish path (``connections/0/consumer_number``)."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class Problem(Exception):
    """Raise anywhere in a REST view to answer with problem+json."""

    code: str
    detail: str | None = None
    status: int | None = None
    errors: Sequence[FieldError] = field(default_factory=tuple)
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown problem code {self.code!r}: add it to hub.errors.CODES")
        _check_extension_members(self.extra)
        Exception.__init__(self, self.code)

    @property
    def http_status(self) -> int:
        return self.status or CODES[self.code][0]


def _check_extension_members(extra: Mapping[str, Any] | None) -> None:
    clashes = sorted(RESERVED_MEMBERS.intersection(extra or ()))
    if clashes:
        raise ValueError(f"problem extension members {clashes} would overwrite standard members")


def request_path(request: Request) -> str | None:
    """The request's path as text, or None when its bytes are not UTF-8 (they are never echoed)."""
    try:
        return str(request.path)
    except UnicodeDecodeError:
        return None


def problem_response(
    request: Request | None,
    code: str,
    detail: str | None = None,
    *,
    status: int | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    http_status, title = CODES[code]
    status = status or http_status
    _check_extension_members(extra)
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    if request is not None:
        path = request_path(request)
        if path is not None:
            body["instance"] = path
        request_id = getattr(request, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    if extra:
        body.update(extra)
    response = Response(
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        status=status,
        content_type=PROBLEM_JSON,
        charset="utf-8",
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _problem_view(exc: Problem, request: Request) -> Response:
    return problem_response(
        request,
        exc.code,
        exc.detail,
        status=exc.status,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def _http_exception_view(exc: HTTPException, request: Request) -> Response:
    if exc.code < 400:
        return exc  # redirects and the like pass through untouched
    status = exc.code
    headers: dict[str, str] = {}
    if status == 404 and request.matched_route is not None:
        # Pyramid answers a known route with no view for this method as 404
        # (PredicateMismatch); HTTP says 405 with the methods that exist.
        allowed = _allowed_methods(request)
        if allowed and request.method not in allowed:
            status = 405
    if isinstance(exc, HTTPMethodNotAllowed) or status == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    return problem_response(request, code, status=status, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Methods that have a view on the matched route: the Allow header of a 405."""
    route = request.matched_route
    if route is None:
        return []
    introspector = request.registry.introspector
    methods: set[str] = set()
    for view in introspector.related(introspector.get("routes", route.name)):
        if view.category_name != "views":
            continue
        declared = view["request_methods"]
        if declared is None:
            continue
        methods.update([declared] if isinstance(declared, str) else declared)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _connector_unavailable_view(exc: ConnectorUnavailable, request: Request) -> Response:
    log.warning("dependency unavailable", extra={"system": exc.system, "error": str(exc)})
    return problem_response(request, "dependency_unavailable", headers={"Retry-After": "30"})


def _form_error_view(exc: FormError, request: Request) -> Response:
    errors = [FieldError(p.field, p.code, p.message) for p in exc.problems]
    code = exc.code if exc.code in CODES else "validation_failed"
    return problem_response(request, code, exc.message, errors=errors)


def _undecodable_view(exc: UnicodeDecodeError, request: Request) -> Response:
    # A query string, form or path that is not UTF-8: the caller's mistake, not ours.
    return problem_response(request, "bad_request", "the request is not valid UTF-8")


def _unexpected_view(exc: Exception, request: Request) -> Response:
    # The stack trace goes to the log with the request id; the caller gets the id only.
    log.exception("unhandled error", extra={"path": request_path(request)})
    return problem_response(request, "internal_error")


def includeme(config: Configurator) -> None:
    config.add_exception_view(_problem_view, context=Problem)
    config.add_exception_view(_http_exception_view, context=HTTPException)
    config.add_exception_view(_connector_unavailable_view, context=ConnectorUnavailable)
    config.add_exception_view(_form_error_view, context=FormError)
    config.add_exception_view(_undecodable_view, context=UnicodeDecodeError)
    config.add_exception_view(_unexpected_view, context=Exception)
