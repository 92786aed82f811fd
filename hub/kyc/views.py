"""REST views of the KYC API: DBT pulls (kyc:read, kyc:export) and the person's side (kyc:consent).

Object- and property-level authorisation, in this order, for every DBT call:
the token's scope (hub.api), the purpose among the client's registered
purposes and a field policy for it (else 403 ``kyc_purpose_not_allowed``),
then per record: live consent of the person for that purpose, and only the
policy's fields. Person-side calls name the person by Samagra ID *and* the
mobile the portal verified at login; a pair that no KYC record ties together
answers exactly like an unknown person (404).

Identifiers travel in POST bodies, not query strings: query strings end up
in access logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from connectors.billing import is_consumer_number, is_mobile, is_samagra_id
from forms.reader import INT64_MAX, INT64_MIN
from hub.db import Database
from hub.errors import FieldError, Problem, problem_response
from hub.kyc import consent as consents
from hub.kyc.cursor import MAX_CURSOR_LENGTH, CursorInvalid, CursorSigner, Position
from hub.kyc.limits import MAX_BATCH, KycApiSettings, KycLimits, Refusal
from hub.kyc.policy import PURPOSE, FieldPolicy, known_purposes, load_policy
from hub.kyc.release import EXPORT_FORMATS, ExportStream, Requester, changes, disclosures_of, lookup
from hub.kycstore import bank_box
from hub.models.client import PartnerClient
from hub.models.meta import utcnow
from hub.openapi import text_schema
from hub.otp import OtpRefused
from hub.view_helpers import int_query, json_reader

TAGS = ["kyc"]


def _config(request: Request) -> KycApiSettings:
    config: KycApiSettings = request.find_service(KycApiSettings)
    return config


def _limits(request: Request) -> KycLimits:
    limits: KycLimits = request.find_service(KycLimits)
    return limits


def _signer(request: Request) -> CursorSigner:
    signer: CursorSigner = request.find_service(CursorSigner)
    return signer


def _refused(refusal: Refusal) -> Problem:
    return Problem("rate_limited", refusal.reason, headers={"Retry-After": str(refusal.retry_after)})


def _purpose_policy(request: Request, purpose: str | None) -> FieldPolicy:
    """The caller's policy for ``purpose``; 403 when the purpose is not the client's or has no policy."""
    if purpose is None or not PURPOSE.fullmatch(purpose):
        raise Problem(
            "validation_failed", errors=[FieldError("purpose", "format", "a scheme purpose is required")]
        )
    client_id = request.partner.client_id
    purposes = request.dbsession.execute(
        select(PartnerClient.purposes).where(PartnerClient.client_id == client_id)
    ).scalar_one_or_none()
    if not purposes or purpose not in purposes:
        raise Problem("kyc_purpose_not_allowed", "the purpose is not registered for this client")
    policy = load_policy(request.dbsession, client_id, purpose)
    if policy is None:
        raise Problem("kyc_purpose_not_allowed", "no field policy is set for this client and purpose")
    return policy


def _requester(request: Request, purpose: str, operation: str) -> Requester:
    return Requester(request.partner.client_id, purpose, operation, getattr(request, "request_id", None))


def _id_list(data: Mapping[str, Any], name: str, errors: list[FieldError]) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 32 for v in value):
        errors.append(FieldError(name, "type", "must be a list of ids (strings of 1-32 characters)"))
        return []
    return list(value)


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


# -- DBT: kyc:read / kyc:export ---------------------------------------------------------------------


def get_kyc_records(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    purpose = reader.text("purpose", max_length=40, pattern=PURPOSE)
    errors: list[FieldError] = [FieldError(p.field, p.code, p.message) for p in reader.problems]
    numbers = _id_list(reader.data, "consumer_numbers", errors)
    people = _id_list(reader.data, "samagra_ids", errors)
    if len(numbers) + len(people) > MAX_BATCH:
        errors.append(FieldError("consumer_numbers", "too_many", f"at most {MAX_BATCH} ids in all"))
    elif not numbers and not people and not errors:
        errors.append(FieldError("consumer_numbers", "required", "name consumer_numbers or samagra_ids"))
    if errors:
        raise Problem("validation_failed", errors=errors)
    policy = _purpose_policy(request, purpose)
    # Malformed ids are answered "invalid" in place: their shape says nothing about who exists.
    valid_numbers = [n for n in dict.fromkeys(numbers) if is_consumer_number(n)]
    valid_people = [s for s in dict.fromkeys(people) if is_samagra_id(s)]
    limits = _limits(request)
    client_id = request.partner.client_id
    refusal = limits.before_lookup(client_id, len(valid_numbers) + len(valid_people))
    if refusal is not None:
        raise _refused(refusal)
    result = lookup(
        request.dbsession,
        bank_box(),
        policy,
        _requester(request, policy.purpose, "getKycRecords"),
        valid_numbers,
        valid_people,
    )
    limits.after_lookup(client_id, result.asked, result.absent)
    answered = {
        (
            ("consumer_number", i["consumer_number"])
            if "consumer_number" in i
            else ("samagra_id", i["samagra_id"])
        ): i
        for i in result.items
    }
    items = [
        answered.get(("consumer_number", n)) or {"consumer_number": n, "status": "invalid"} for n in numbers
    ]
    items += [answered.get(("samagra_id", s)) or {"samagra_id": s, "status": "invalid"} for s in people]
    _no_store(request.response)
    return {"purpose": policy.purpose, "fields": list(policy.fields), "items": items}


def _position(request: Request, policy: FieldPolicy, kind: str) -> int:
    cursor = request.GET.get("cursor")
    if not cursor:
        return 0
    try:
        return _signer(request).verify(
            cursor, client_id=request.partner.client_id, purpose=policy.purpose, kind=kind
        )
    except CursorInvalid as exc:
        raise Problem("kyc_cursor_invalid", str(exc)) from None


def list_kyc_changes(request: Request) -> dict[str, Any]:
    policy = _purpose_policy(request, request.GET.get("purpose"))
    config = _config(request)
    limit = int_query(request, "limit", 100, config.changes_page_max)
    after = _position(request, policy, "changes")
    page = changes(
        request.dbsession,
        bank_box(),
        policy,
        _requester(request, policy.purpose, "listKycChanges"),
        after,
        limit,
        config.changes_max_scan,
    )
    cursor = _signer(request).sign(Position(request.partner.client_id, policy.purpose, "changes", page.after))
    _no_store(request.response)
    return {
        "purpose": policy.purpose,
        "events": page.events,
        "next_cursor": cursor,
        "has_more": page.has_more,
    }


def export_kyc_records(request: Request) -> Response:
    policy = _purpose_policy(request, request.GET.get("purpose"))
    fmt = request.GET.get("format", "ndjson")
    if fmt not in EXPORT_FORMATS:
        raise Problem("validation_failed", errors=[FieldError("format", "choice", "ndjson or csv")])
    after = _position(request, policy, "export")
    refusal = _limits(request).before_export(request.partner.client_id)
    if refusal is not None:
        raise _refused(refusal)
    stream = ExportStream(
        request.find_service(Database).engine,
        bank_box(),
        policy,
        _requester(request, policy.purpose, "exportKycRecords"),
        _signer(request),
        after=after,
        fmt=fmt,
        chunk_size=_config(request).export_chunk,
    )
    response = Response(
        app_iter=stream,
        content_type="application/x-ndjson" if fmt == "ndjson" else "text/csv",
        charset="utf-8",
    )
    response.headers["Content-Disposition"] = f'attachment; filename="kyc-{policy.purpose}.{fmt}"'
    _no_store(response)
    return response


# -- the person, through the portal: kyc:consent ----------------------------------------------------


def _person(request: Request, *, need_mobile: bool = True) -> tuple[str, str | None, Any]:
    reader = json_reader(request)
    samagra_id = reader.text("samagra_id", max_length=9)
    mobile = reader.text("mobile", max_length=10, required=need_mobile)
    if samagra_id is not None and not is_samagra_id(samagra_id):
        reader.problem("samagra_id", "format", "a Samagra member ID (9 digits)")
    if mobile is not None and not is_mobile(mobile):
        reader.problem("mobile", "format", "a 10-digit mobile number")
    return samagra_id or "", mobile, reader


def _check_person(request: Request, samagra_id: str, mobile: str | None) -> None:
    if mobile is None or not consents.person_matches(request.dbsession, samagra_id, mobile):
        raise Problem("not_found")


def _days(request: Request, reader: Any) -> int:
    raw = reader.data.get("days")
    if raw is None:
        return _config(request).consent_days
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw <= consents.MAX_CONSENT_DAYS:
        reader.problem("days", "range", f"an integer 1-{consents.MAX_CONSENT_DAYS}")
        return 0
    return raw


def request_kyc_consent_otp(request: Request) -> Any:
    samagra_id, _mobile, reader = _person(request, need_mobile=False)
    purpose = reader.text("purpose", max_length=40, pattern=PURPOSE)
    days = _days(request, reader)
    reader.done()
    assert purpose is not None
    try:
        sent = consents.request_consent(
            request.dbsession,
            request.registry.settings["hub.secret_key"],
            samagra_id,
            purpose,
            days,
            request.partner.client_id,
            known_purposes(request.dbsession),
        )
    except consents.ConsentError as exc:
        raise Problem(exc.code, str(exc)) from None
    except OtpRefused as exc:
        return problem_response(request, exc.code, str(exc))
    request.response.status = 202
    return {
        "challenge_id": sent.sent.challenge_id,
        "expires_at": sent.sent.expires_at.isoformat(),
        "sent_to": sent.mobile_masked,
        "purpose": purpose,
        "days": days,
    }


def _consent_json(consent: Any) -> dict[str, Any]:
    return {
        "id": consent.id,
        "purpose": consent.purpose,
        "status": consents.consent_status(consent, utcnow()),
        "given_at": consent.given_at.isoformat(),
        "expires_at": consent.expires_at.isoformat(),
        "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
    }


def give_kyc_consent(request: Request) -> Any:
    samagra_id, _mobile, reader = _person(request, need_mobile=False)
    purpose = reader.text("purpose", max_length=40, pattern=PURPOSE)
    challenge_id = reader.text("challenge_id", max_length=40)
    otp = reader.text("otp", max_length=6)
    days = _days(request, reader)
    reader.done()
    assert purpose is not None and challenge_id is not None and otp is not None
    try:
        consent = consents.confirm_consent(
            request.dbsession,
            request.registry.settings["hub.secret_key"],
            challenge_id,
            otp,
            samagra_id,
            purpose,
            days,
            request.partner.client_id,
        )
    except OtpRefused as exc:
        # Returned, not raised: pyramid_tm commits the failed-attempt counter (hub.otp).
        return problem_response(request, exc.code, str(exc))
    request.response.status = 201
    return _consent_json(consent)


def withdraw_kyc_consent(request: Request) -> dict[str, Any]:
    samagra_id, mobile, reader = _person(request)
    purpose = reader.text("purpose", max_length=40, pattern=PURPOSE)
    reader.done()
    assert purpose is not None
    _check_person(request, samagra_id, mobile)
    count = consents.withdraw_consent(request.dbsession, samagra_id, purpose, request.partner.client_id)
    return {"purpose": purpose, "withdrawn": count}


def list_kyc_consents(request: Request) -> dict[str, Any]:
    samagra_id, mobile, reader = _person(request)
    reader.done()
    _check_person(request, samagra_id, mobile)
    _no_store(request.response)
    return {"consents": [_consent_json(c) for c in consents.list_consents(request.dbsession, samagra_id)]}


def list_disclosures(request: Request) -> dict[str, Any]:
    samagra_id, mobile, reader = _person(request)
    limit = reader.integer("limit", required=False)
    before = reader.integer("before", required=False)
    reader.done()
    _check_person(request, samagra_id, mobile)
    maximum = _config(request).disclosures_page_max
    size = limit if limit is not None and 0 < limit <= maximum else maximum
    entries, next_before = disclosures_of(request.dbsession, samagra_id, before=before, limit=size)
    _no_store(request.response)
    return {"disclosures": entries, "next_before": next_before}


# -- routes and OpenAPI -----------------------------------------------------------------------------

_ITEM = {
    "type": "object",
    "properties": {
        "consumer_number": {"type": "string"},
        "samagra_id": {"type": "string"},
        "status": {"enum": ["found", "unknown", "no_consent", "not_available", "invalid"]},
        "record": {"type": "object", "description": "only the fields of the client's policy"},
        "records": {"type": "array", "items": {"type": "object"}},
    },
}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "required": required, "properties": properties}}
        },
    }


_PERSON = {
    "samagra_id": text_schema(9),
    "mobile": text_schema(10, description="as verified by the portal"),
}
_PURPOSE = text_schema(40, PURPOSE)
_IDS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 32}, "maxItems": MAX_BATCH}


def includeme(config: Configurator) -> None:
    config.add_route("kyc.records", "/api/v1/kyc/records/lookup")
    config.add_route("kyc.changes", "/api/v1/kyc/changes")
    config.add_route("kyc.export", "/api/v1/kyc/export")
    config.add_route("kyc.consent_otp", "/api/v1/kyc/consents/otp")
    config.add_route("kyc.consents", "/api/v1/kyc/consents")
    config.add_route("kyc.withdrawal", "/api/v1/kyc/consents/withdrawal")
    config.add_route("kyc.my_consents", "/api/v1/kyc/my/consents")
    config.add_route("kyc.my_disclosures", "/api/v1/kyc/my/disclosures")
    purpose_q = {"name": "purpose", "in": "query", "required": True, "schema": _PURPOSE}
    cursor_q = {
        "name": "cursor",
        "in": "query",
        "required": False,
        "schema": text_schema(MAX_CURSOR_LENGTH),
        "description": "opaque; from next_cursor / a _checkpoint. Altered or foreign cursors: 400 kyc_cursor_invalid",
    }
    config.add_view(
        get_kyc_records,
        route_name="kyc.records",
        request_method="POST",
        renderer="json",
        scopes=["kyc:read"],
        operation_id="getKycRecords",
        openapi={
            "summary": "KYC of up to 1,000 connections or Samagra IDs for a purpose; each id answered on its own",
            "tags": TAGS,
            "requestBody": _body(
                {
                    "purpose": _PURPOSE,
                    "consumer_numbers": _IDS,
                    "samagra_ids": _IDS,
                },
                ["purpose"],
            ),
            "responses": {
                "200": {
                    "description": "one item per id asked, in order",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"items": {"type": "array", "items": _ITEM}},
                            }
                        }
                    },
                }
            },
        },
    )
    config.add_view(
        list_kyc_changes,
        route_name="kyc.changes",
        request_method="GET",
        renderer="json",
        scopes=["kyc:read"],
        operation_id="listKycChanges",
        openapi={
            "summary": "Change feed for a purpose: kyc_new, kyc_updated, bank_account_changed, consent_given, "
            "consent_withdrawn",
            "tags": TAGS,
            "parameters": [
                purpose_q,
                cursor_q,
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "maximum": 1000},
                },
            ],
        },
    )
    config.add_view(
        export_kyc_records,
        route_name="kyc.export",
        request_method="GET",
        scopes=["kyc:export"],
        operation_id="exportKycRecords",
        openapi={
            "summary": "Every consenting person's records for a purpose, streamed; NDJSON carries "
            '{"_checkpoint": cursor} lines, CSV a _cursor column; resume with ?cursor=',
            "tags": TAGS,
            "parameters": [
                purpose_q,
                cursor_q,
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": list(EXPORT_FORMATS)},
                },
            ],
            "responses": {
                "200": {"description": "stream", "content": {"application/x-ndjson": {}, "text/csv": {}}}
            },
        },
    )
    config.add_view(
        request_kyc_consent_otp,
        route_name="kyc.consent_otp",
        request_method="POST",
        renderer="json",
        scopes=["kyc:consent"],
        operation_id="requestKycConsentOtp",
        openapi={
            "summary": "Send the person an OTP (to the mobile on their KYC record) to consent for a scheme",
            "tags": TAGS,
            "requestBody": _body(
                {"samagra_id": _PERSON["samagra_id"], "purpose": _PURPOSE, "days": {"type": "integer"}},
                ["samagra_id", "purpose"],
            ),
            "responses": {"202": {"description": "OTP queued; challenge_id, expires_at"}},
        },
    )
    config.add_view(
        give_kyc_consent,
        route_name="kyc.consents",
        request_method="POST",
        renderer="json",
        scopes=["kyc:consent"],
        operation_id="giveKycConsent",
        openapi={
            "summary": "Record consent with the OTP the person received",
            "tags": TAGS,
            "requestBody": _body(
                {
                    "samagra_id": _PERSON["samagra_id"],
                    "purpose": _PURPOSE,
                    "days": {"type": "integer"},
                    "challenge_id": text_schema(40),
                    "otp": text_schema(6),
                },
                ["samagra_id", "purpose", "challenge_id", "otp"],
            ),
            "responses": {"201": {"description": "consent recorded"}},
        },
    )
    config.add_view(
        withdraw_kyc_consent,
        route_name="kyc.withdrawal",
        request_method="POST",
        renderer="json",
        scopes=["kyc:consent"],
        operation_id="withdrawKycConsent",
        openapi={
            "summary": "Withdraw consent for a scheme (effective on the scheme's next pull)",
            "tags": TAGS,
            "requestBody": _body({**_PERSON, "purpose": _PURPOSE}, ["samagra_id", "mobile", "purpose"]),
        },
    )
    config.add_view(
        list_kyc_consents,
        route_name="kyc.my_consents",
        request_method="POST",
        renderer="json",
        scopes=["kyc:consent"],
        operation_id="listKycConsents",
        openapi={
            "summary": "The person's consents (live, expired, withdrawn)",
            "tags": TAGS,
            "requestBody": _body(_PERSON, ["samagra_id", "mobile"]),
        },
    )
    config.add_view(
        list_disclosures,
        route_name="kyc.my_disclosures",
        request_method="POST",
        renderer="json",
        scopes=["kyc:consent"],
        operation_id="listDisclosures",
        openapi={
            "summary": "Who received the person's KYC, when, for which purpose, which fields",
            "tags": TAGS,
            "requestBody": _body(
                {
                    **_PERSON,
                    "limit": {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX},
                    "before": {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX},
                },
                ["samagra_id", "mobile"],
            ),
        },
    )
