"""REST operations of the no-dues flow (``/api/v1/nodues/...``).

Every operation acts for one person on behalf of one calling client: accounts
and applications belong to the client that opened them, and anyone else's
answer exactly like missing ones (404). Consent is an OTP the hub sends to
the mobile billing or KYC registers, relayed by the caller. A wrong OTP is
*returned* as problem+json, not raised, so the failed attempt is committed
(hub.otp).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from certs.document import mask_mobile
from connectors.billing import IBilling
from connectors.samagra import ISamagra
from forms.identifiers import CONSUMER_NUMBER, MOBILE
from forms.reader import Reader
from hub.errors import Problem, problem_response
from hub.models.meta import IST, utcnow
from hub.models.nodues import ConsumerAccount, NoDuesApplication
from hub.models.otp import OtpChallenge
from hub.nodues import accounts as acc
from hub.nodues.accounts import Billing
from hub.nodues.names import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CHALLENGE_ID,
    OTP_CODE,
    SAMAGRA_ID,
    read_name,
)
from hub.nodues.service import (
    ELECTIONS,
    Filing,
    application_json,
    file_application,
    find_application,
    has_open_application,
    person_connections,
)
from hub.openapi import text_schema
from hub.otp import OtpRefused, consume_otp
from hub.view_helpers import json_reader
from hub.workflow import WorkflowRegistry

OTP_PURPOSES = ("account", "link", "ekyc", "apply")

View = Callable[[Request], Any]


def _client(request: Request) -> str:
    return str(request.partner.client_id)


def _secret(request: Request) -> str:
    return str(request.registry.settings["hub.secret_key"])


def _actor(request: Request) -> str:
    return f"client:{_client(request)}"


def _path(request: Request, name: str, pattern: Any) -> str:
    value = str(request.matchdict[name])
    if not pattern.fullmatch(value):
        reader = Reader({})
        reader.problem(name, "format", "has the wrong format")
        reader.done()
    return value


def _account(request: Request) -> ConsumerAccount:
    return acc.find_account(request.dbsession, _client(request), _path(request, "account_id", ACCOUNT_ID))


def _read_otp(reader: Reader) -> tuple[str | None, str | None]:
    challenge = reader.text("challenge_id", pattern=CHALLENGE_ID, max_length=60)
    code = reader.text("otp", pattern=OTP_CODE, max_length=6)
    return challenge, code


def _consume(request: Request, challenge_id: str, code: str, purpose: str) -> OtpChallenge | Response:
    try:
        return consume_otp(request.dbsession, _secret(request), challenge_id, code, purpose, _client(request))
    except OtpRefused as refused:
        # Returned, not raised: pyramid_tm commits the counted attempt (and nothing else was written).
        return problem_response(request, refused.code, str(refused))


# -- sendOtp ----------------------------------------------------------------------------------


def send_otp(request: Request) -> Response | dict[str, Any]:
    reader = json_reader(request)
    purpose = reader.choice("purpose", OTP_PURPOSES)
    mobile = reader.text("mobile", required=purpose == "account", pattern=MOBILE, max_length=10)
    account_id = reader.text("account_id", required=purpose in ("link", "ekyc", "apply"), pattern=ACCOUNT_ID)
    number = reader.text(
        "consumer_number", required=purpose in ("link", "ekyc"), pattern=CONSUMER_NUMBER, max_length=12
    )
    samagra_id = reader.text("samagra_id", required=False, pattern=SAMAGRA_ID, max_length=9)
    reader.done()
    session = request.dbsession
    if purpose == "account":
        assert mobile is not None
        to, otp_purpose = mobile, acc.account_purpose()
    else:
        assert account_id is not None
        account = acc.find_account(session, _client(request), account_id)
        if purpose == "apply":
            # The OTP goes where it proves the applicant is the person applied for (see apply()).
            samagra_id = samagra_id or account.samagra_id
            if samagra_id is None:
                _field_error("samagra_id", "required", "the Samagra ID of the person applying")
            assert samagra_id is not None
            person = acc.registry_person(request.find_service(ISamagra), samagra_id)
            to, _proof = acc.apply_otp_target(account, person)
            otp_purpose = acc.apply_purpose(account, samagra_id)
        else:
            assert number is not None
            billing: Billing = request.find_service(IBilling)
            if purpose == "link":
                if acc.find_link(session, account, number) is None:
                    acc.check_room(session, account)
                to, otp_purpose = (
                    acc.billing_consumer(billing, number).mobile,
                    acc.link_purpose(account, number),
                )
            else:
                if acc.find_link(session, account, number) is None:
                    raise Problem("connection_not_linked", f"link {number} before its e-KYC")
                to, otp_purpose = (
                    acc.billing_consumer(billing, number).mobile,
                    acc.ekyc_purpose(account, number),
                )
    try:
        sent = acc.send_otp(session, _secret(request), _client(request), to, otp_purpose)
    except OtpRefused as refused:
        return problem_response(request, refused.code, str(refused))
    request.response.status = 202
    return {
        "challenge_id": sent.challenge_id,
        "expires_at": sent.expires_at.isoformat(),
        "sent_to": mask_mobile(to),
    }


# -- accounts and connections ---------------------------------------------------------------------


def open_account(request: Request) -> Response | dict[str, Any]:
    reader = json_reader(request)
    mobile = reader.text("mobile", pattern=MOBILE, max_length=10)
    challenge_id, code = _read_otp(reader)
    reader.done()
    assert mobile and challenge_id and code
    consumed = _consume(request, challenge_id, code, acc.account_purpose())
    if isinstance(consumed, Response):
        return consumed
    if consumed.mobile != mobile:
        raise Problem("otp_invalid", "the OTP was not sent to this mobile")
    billing: Billing = request.find_service(IBilling)
    account, created = acc.open_account(request.dbsession, billing, _client(request), mobile)
    request.response.status = 201 if created else 200
    return acc.account_json(request.dbsession, account)


def list_connections(request: Request) -> dict[str, Any]:
    return acc.account_json(request.dbsession, _account(request))


def link_connection(request: Request) -> Response | dict[str, Any]:
    account = _account(request)
    reader = json_reader(request)
    number = reader.text("consumer_number", pattern=CONSUMER_NUMBER, max_length=12)
    challenge_id = reader.text("challenge_id", required=False, pattern=CHALLENGE_ID, max_length=60)
    code = reader.text("otp", required=challenge_id is not None, pattern=OTP_CODE, max_length=6)
    reader.done()
    assert number is not None
    session = request.dbsession
    existing = acc.find_link(session, account, number)
    if existing is not None:
        return acc.link_json(existing)
    acc.check_room(session, account)
    billing: Billing = request.find_service(IBilling)
    consumer = acc.billing_consumer(billing, number)
    if challenge_id and code:
        consumed = _consume(request, challenge_id, code, acc.link_purpose(account, number))
        if isinstance(consumed, Response):
            return consumed
        if consumed.mobile != consumer.mobile:
            raise Problem("otp_invalid", "the connection's registered mobile changed; ask for a new OTP")
        proof: str | None = "mobile_otp"
    else:
        proof = acc.proof_without_otp(account, consumer)
    if proof is None:
        raise Problem(
            "connection_not_yours",
            "this connection is registered to another mobile and Samagra ID: prove it with an OTP to its "
            "registered mobile (sendOtp purpose=link)",
        )
    link = acc.link_connection(session, account, consumer, proof, _actor(request))
    request.response.status = 201
    return acc.link_json(link)


def unlink_connection(request: Request) -> Response:
    account = _account(request)
    number = _path(request, "consumer_number", CONSUMER_NUMBER)
    acc.unlink_connection(request.dbsession, account, number, _actor(request))
    return Response(status=204)


def submit_ekyc(request: Request) -> Response | dict[str, Any]:
    account = _account(request)
    number = _path(request, "consumer_number", CONSUMER_NUMBER)
    reader = json_reader(request)
    samagra_id = reader.text("samagra_id", pattern=SAMAGRA_ID, max_length=9)
    challenge_id, code = _read_otp(reader)
    reader.done()
    assert samagra_id and challenge_id and code
    session = request.dbsession
    link = acc.find_link(session, account, number)
    if link is None:
        raise Problem("connection_not_linked", f"link {number} before its e-KYC")
    consumed = _consume(request, challenge_id, code, acc.ekyc_purpose(account, number))
    if isinstance(consumed, Response):
        return consumed
    acc.queue_ekyc(session, account, link, samagra_id, consumed.mobile, _actor(request))
    request.response.status = 202
    return acc.link_json(link)


# -- applications -----------------------------------------------------------------------------------


def apply(request: Request) -> Response | dict[str, Any]:
    reader = json_reader(request)
    account_id = reader.text("account_id", pattern=ACCOUNT_ID, max_length=40)
    name_deva = read_name(reader, "name_deva", "deva")
    name_latin = read_name(reader, "name_latin", "latin")
    if not (name_deva or name_latin) and not any(
        p.field in ("name_deva", "name_latin") for p in reader.problems
    ):
        reader.problem("name_deva", "required", "give the applicant's name in Devanagari and/or Latin script")
    samagra_id = reader.text("samagra_id", pattern=SAMAGRA_ID, max_length=9)
    mobile = reader.text("mobile", required=False, pattern=MOBILE, max_length=10)
    connections = reader.text_list(
        "connections", required=False, max_items=acc.MAX_CONNECTIONS, max_length=12, pattern=CONSUMER_NUMBER
    )
    no_connection = bool(reader.boolean("no_connection", required=False))
    purpose_raw = reader.data.get("purpose")
    purpose_reader = Reader(purpose_raw if isinstance(purpose_raw, dict) else {}, prefix="purpose/")
    election = purpose_reader.choice("election", ELECTIONS)
    body = purpose_reader.text("body", max_length=120)
    ward = purpose_reader.text("ward", required=False, max_length=60)
    if purpose_raw is not None and not isinstance(purpose_raw, dict):
        reader.problem("purpose", "type", "must be an object with election, body and ward")
    else:
        reader.problems.extend(purpose_reader.problems)
    dues_as_of = reader.day("dues_as_of", required=False)
    today = utcnow().astimezone(IST).date()
    if dues_as_of is not None and dues_as_of > today:
        reader.problem("dues_as_of", "range", "must not be in the future")
    if dues_as_of is not None and dues_as_of < today - timedelta(days=366):
        reader.problem("dues_as_of", "range", "must be within the last year")
    if no_connection and connections:
        reader.problem("connections", "conflict", "leave connections out when declaring no connection")
    challenge_id, code = _read_otp(reader)
    reader.done()
    assert account_id and samagra_id and challenge_id and code
    session = request.dbsession
    account = acc.find_account(session, _client(request), account_id)
    if mobile is not None and mobile != account.mobile:
        _field_error("mobile", "mismatch", "must be the account's verified mobile")
    if account.samagra_id is not None and account.samagra_id != samagra_id:
        _field_error("samagra_id", "mismatch", "differs from the Samagra ID verified by this account's e-KYC")
    # Who the Samagra ID is, and the mobile where the applicant must show they are that person.
    person = acc.registry_person(request.find_service(ISamagra), samagra_id)
    proof_mobile, identity_proof = acc.apply_otp_target(account, person)
    links = {link.consumer_number: link for link in acc.linked(session, account)}
    settings = request.registry.settings
    if no_connection:
        covered: list[str] = []
        office = str(settings["hub.nodues.default_office"])
        billing: Billing = request.find_service(IBilling)
        found = person_connections(billing, samagra_id, list(links))
        if found:
            raise Problem(
                "connections_exist",
                f"{len(found)} connection(s) are registered to this Samagra ID in billing or linked to this "
                "account; apply for them",
                extra={"count": len(found)},
            )
    else:
        covered = list(dict.fromkeys(connections)) if connections else list(links)
        if not covered:
            raise Problem("nothing_to_cover", "link a connection first, or declare no_connection")
        missing = [n for n in covered if n not in links]
        if missing:
            raise Problem(
                "connection_not_linked",
                "apply only for connections linked to this account: " + ", ".join(missing),
                extra={"consumer_numbers": missing},
            )
        office = links[covered[0]].division_code
    if has_open_application(session, samagra_id):
        raise Problem("application_open", "this person already has an application being processed")
    consumed = _consume(request, challenge_id, code, acc.apply_purpose(account, samagra_id))
    if isinstance(consumed, Response):
        return consumed
    if consumed.mobile != proof_mobile:
        raise Problem(
            "identity_not_proved",
            "the OTP was not sent to the mobile the Samagra registry holds for this person; ask for a new one",
        )
    app = file_application(
        session,
        request.find_service(WorkflowRegistry),
        Filing(
            account=account,
            client_id=_client(request),
            name_deva=name_deva or "",
            name_latin=name_latin or "",
            person=person,
            identity_proof=identity_proof,
            samagra_id=samagra_id,
            mobile=account.mobile,
            connections=tuple(covered),
            no_connection=no_connection,
            purpose={"election": election or "", "body": body or "", "ward": ward or ""},
            dues_as_of=dues_as_of,
            office_code=office,
        ),
    )
    request.response.status = 202
    request.response.headers["Location"] = request.route_path(
        "nodues.application", application_id=app.public_id
    )
    return application_json(session, request.find_service(WorkflowRegistry), app)


def _field_error(field: str, code: str, message: str) -> None:
    reader = Reader({})
    reader.problem(field, code, message)
    reader.done()


def get_application(request: Request) -> dict[str, Any]:
    public_id = _path(request, "application_id", APPLICATION_ID)
    app = find_application(request.dbsession, _client(request), public_id)
    return application_json(request.dbsession, request.find_service(WorkflowRegistry), app)


def list_applications(request: Request) -> dict[str, Any]:
    query = (
        select(NoDuesApplication)
        .where(NoDuesApplication.client_id == _client(request))
        .order_by(NoDuesApplication.id.desc())
        .limit(100)
    )
    status = request.GET.get("status")
    if status:
        query = query.where(NoDuesApplication.status == status[:30])
    samagra = request.GET.get("samagra_id")
    if samagra:
        if not SAMAGRA_ID.fullmatch(samagra):
            _field_error("samagra_id", "format", "has the wrong format")
        query = query.where(NoDuesApplication.samagra_id == samagra)
    workflows = request.find_service(WorkflowRegistry)
    apps = request.dbsession.execute(query).scalars()
    return {"applications": [application_json(request.dbsession, workflows, a, full=False) for a in apps]}


# -- wiring -------------------------------------------------------------------------------------------

_OTP_FIELDS = {
    "challenge_id": text_schema(60, CHALLENGE_ID, description="from sendOtp"),
    "otp": text_schema(6, OTP_CODE, description="what the person typed"),
}


def _path_params(**patterns: Any) -> list[dict[str, Any]]:
    """Path parameters as ``_path`` checks them (wrong format: 400)."""
    return [
        {"name": name, "in": "path", "required": True, "schema": text_schema(64, pattern)}
        for name, pattern in patterns.items()
    ]


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "required": required, "properties": properties}}
        },
    }


def includeme(config: Configurator) -> None:
    tags = ["no-dues"]
    prefix = "/api/v1/nodues"
    config.add_route("nodues.otp", prefix + "/otp")
    config.add_route("nodues.accounts", prefix + "/accounts")
    config.add_route("nodues.connections", prefix + "/accounts/{account_id}/connections")
    config.add_route("nodues.connection", prefix + "/accounts/{account_id}/connections/{consumer_number}")
    config.add_route("nodues.ekyc", prefix + "/accounts/{account_id}/connections/{consumer_number}/ekyc")
    config.add_route("nodues.applications", prefix + "/applications")
    config.add_route("nodues.application", prefix + "/applications/{application_id}")
    apply_scope = ["nodues:apply"]
    read_scope = ["nodues:read"]
    config.add_view(
        send_otp,
        route_name="nodues.otp",
        request_method="POST",
        renderer="json",
        scopes=apply_scope,
        operation_id="sendOtp",
        openapi={
            "summary": "Send an OTP: to the mobile given (account); to the connection's registered "
            "mobile in billing (link, ekyc); for apply, to the mobile the Samagra registry holds for the "
            "person of samagra_id (the account's own mobile once its e-KYC carries that Samagra ID)",
            "tags": tags,
            "requestBody": _body(
                {
                    "purpose": {"enum": list(OTP_PURPOSES)},
                    "mobile": text_schema(10, MOBILE),
                    "account_id": text_schema(200, ACCOUNT_ID),
                    "consumer_number": text_schema(12, CONSUMER_NUMBER),
                    "samagra_id": {
                        **text_schema(9, SAMAGRA_ID),
                        "description": "apply: the person applying (default: the account's e-KYC Samagra ID)",
                    },
                },
                ["purpose"],
            ),
            "responses": {"202": {"description": "OTP queued; challenge_id, expires_at, sent_to (masked)"}},
        },
    )
    config.add_view(
        open_account,
        route_name="nodues.accounts",
        request_method="POST",
        renderer="json",
        scopes=apply_scope,
        operation_id="openConsumerAccount",
        openapi={
            "summary": "Open (or re-verify) the consumer account of a mobile proved by OTP; links the "
            "connections billing registers to that mobile",
            "tags": tags,
            "requestBody": _body(
                {"mobile": text_schema(10, MOBILE), **_OTP_FIELDS}, ["mobile", "challenge_id", "otp"]
            ),
            "responses": {
                "201": {"description": "account opened"},
                "200": {"description": "account verified"},
            },
        },
    )
    config.add_view(
        list_connections,
        route_name="nodues.connections",
        request_method="GET",
        renderer="json",
        scopes=read_scope,
        operation_id="listConnections",
        openapi={
            "summary": "The account's linked connections with their e-KYC status",
            "tags": tags,
            "parameters": _path_params(account_id=ACCOUNT_ID),
        },
    )
    config.add_view(
        link_connection,
        route_name="nodues.connections",
        request_method="POST",
        renderer="json",
        scopes=apply_scope,
        operation_id="linkConnection",
        openapi={
            "summary": "Link a connection (up to 25): proved by an OTP to its registered mobile, or by "
            "billing's Samagra ID matching the account's e-KYC one",
            "tags": tags,
            "parameters": _path_params(account_id=ACCOUNT_ID),
            "requestBody": _body(
                {"consumer_number": text_schema(12, CONSUMER_NUMBER), **_OTP_FIELDS}, ["consumer_number"]
            ),
            "responses": {"201": {"description": "linked"}, "200": {"description": "already linked"}},
        },
    )
    config.add_view(
        unlink_connection,
        route_name="nodues.connection",
        request_method="DELETE",
        scopes=apply_scope,
        operation_id="unlinkConnection",
        openapi={
            "summary": "Unlink a connection",
            "tags": tags,
            "parameters": _path_params(account_id=ACCOUNT_ID, consumer_number=CONSUMER_NUMBER),
            "responses": {"204": {"description": "unlinked"}},
        },
    )
    config.add_view(
        submit_ekyc,
        route_name="nodues.ekyc",
        request_method="POST",
        renderer="json",
        scopes=apply_scope,
        operation_id="submitEkyc",
        openapi={
            "summary": "e-KYC of a linked connection: Samagra ID + OTP to its registered mobile. The KYC "
            "system is asked after the commit; follow ekyc_status with listConnections",
            "tags": tags,
            "parameters": _path_params(account_id=ACCOUNT_ID, consumer_number=CONSUMER_NUMBER),
            "requestBody": _body(
                {"samagra_id": text_schema(9, SAMAGRA_ID), **_OTP_FIELDS},
                ["samagra_id", "challenge_id", "otp"],
            ),
            "responses": {"202": {"description": "e-KYC queued; the link with its ekyc_status"}},
        },
    )
    config.add_view(
        apply,
        route_name="nodues.applications",
        request_method="POST",
        renderer="json",
        scopes=apply_scope,
        operation_id="applyNoDues",
        openapi={
            "summary": "Apply for a no-dues certificate for the person of samagra_id, proved by the OTP "
            "of sendOtp purpose=apply; the certificate names the person as the Samagra registry does (the "
            "names typed are compared and shown to the officer). Checks run in the background, follow "
            "with getNoDuesApplication",
            "tags": tags,
            "requestBody": _body(
                {
                    "account_id": text_schema(40, ACCOUNT_ID),
                    "name_deva": text_schema(120, description="applicant's name in Devanagari"),
                    "name_latin": text_schema(120, description="applicant's name in Latin letters"),
                    "samagra_id": text_schema(9, SAMAGRA_ID),
                    "mobile": text_schema(10, MOBILE, description="optional; must be the account's mobile"),
                    "connections": {
                        "type": "array",
                        "items": text_schema(12, CONSUMER_NUMBER),
                        "maxItems": acc.MAX_CONNECTIONS,
                        "description": "default: every linked connection",
                    },
                    "no_connection": {
                        "type": "boolean",
                        "description": "declare no connection in one's name",
                    },
                    "purpose": {
                        "type": "object",
                        "required": ["election", "body"],
                        "properties": {
                            "election": {"enum": list(ELECTIONS)},
                            "body": text_schema(120),
                            "ward": text_schema(60),
                        },
                    },
                    "dues_as_of": {"type": "string", "format": "date"},
                    **_OTP_FIELDS,
                },
                ["account_id", "samagra_id", "purpose", "challenge_id", "otp"],
            ),
            "responses": {"202": {"description": "filed; status checks_pending"}},
        },
    )
    config.add_view(
        list_applications,
        route_name="nodues.applications",
        request_method="GET",
        renderer="json",
        scopes=read_scope,
        operation_id="listNoDuesApplications",
        openapi={
            "summary": "The caller's own applications, newest first (at most 100)",
            "tags": tags,
            "parameters": [
                {"name": "status", "in": "query", "schema": text_schema(30)},
                {"name": "samagra_id", "in": "query", "schema": text_schema(9, SAMAGRA_ID)},
            ],
        },
    )
    config.add_view(
        get_application,
        route_name="nodues.application",
        request_method="GET",
        renderer="json",
        scopes=read_scope,
        operation_id="getNoDuesApplication",
        openapi={
            "summary": "An application: status, checks with evidence, reasons, certificate, status history",
            "tags": tags,
            "parameters": _path_params(application_id=APPLICATION_ID),
        },
    )
