"""Certificates over REST: fetch, verify (by code, by upload, by QR), revoke.

Verification is public (no login) and rate-limited per address; fetching a
document needs either its verification code (the SMS link) or a token of the
client that asked for it. A document a caller may not see answers exactly as
a missing one.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from certs.errors import MalformedDocumentError
from forms.reader import parse_json_object
from hub.certificates.issuing import document_files, find_document, notify_revoked, revoke_document
from hub.certificates.keys import DocumentKeys
from hub.certificates.questions import CODE, NUMBER, QUESTION_PROPERTIES, CertificateQuestion, read_question
from hub.certificates.verification import (
    RegistryEntry,
    VerificationResult,
    verify_by_number,
    verify_qr,
    verify_uploaded_xml,
)
from hub.errors import CODES, Problem
from hub.models.document import IssuedDocument
from hub.models.meta import utcnow
from hub.openapi import text_schema
from hub.view_helpers import client_label, download, json_reader, optional_partner

REVOCATION_REASON_MAX = 500
QR_PAYLOAD_MAX = 4000
XML_TYPES = ("application/xml", "text/xml")

VERIFICATION_SCHEMA = {
    "type": "object",
    "required": ["number", "status"],
    "properties": {
        "number": {"type": "string"},
        "status": {"enum": ["valid", "revoked", "expired", "superseded", "unknown", "tampered"]},
        "reason": {"type": "string"},
        "kind": {"type": "string"},
        "holder_name": {"type": "string"},
        "issuer_office": {"type": "string"},
        "connections": {"type": "array", "items": {"type": "object"}},
        "no_connection": {"type": "boolean"},
        "issued_at": {"type": "string", "format": "date-time"},
        "valid_until": {"type": "string", "format": "date-time"},
    },
}


def _json_response(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": {"description": "verification result", "content": {"application/json": {"schema": body}}},
        "429": {"$ref": "#/components/responses/Problem"},
    }


# Besides certificates:read, the scope with which a partner filed what a document answers: the
# single window reads the demand notes and sanction letters of its own applications.
READ_SCOPES = {"demand_note": ("connections:apply",), "sanction_letter": ("connections:apply",)}


def _visible_document(request: Request) -> IssuedDocument:
    """The document named in the URL, if the caller may see it; 404 otherwise."""
    number = request.matchdict["number"]
    record = find_document(request.dbsession, number)
    code = request.GET.get("code")
    if record is not None:
        if code:
            result = verify_by_number(
                request.dbsession,
                CertificateQuestion(number, code=code),
                verifier=client_label(request),
                method="download",
            )
            if result.record is not None:
                return record
        else:
            partner = optional_partner(request, "certificates:read", *READ_SCOPES.get(record.kind, ()))
            if partner is not None and record.requested_by_client == partner.client_id:
                return record
    raise Problem("not_found")


def get_certificate(request: Request) -> dict[str, Any]:
    record = _visible_document(request)
    result = VerificationResult(record.status_at(utcnow()), record.number, RegistryEntry.of(record))
    base = request.route_path("certificate", number=record.number)
    body = result.as_dict()
    body["links"] = {"xml": base + "/xml", "pdf": base + "/pdf"}
    return body


def get_certificate_xml(request: Request) -> Response:
    record = _visible_document(request)
    files = document_files(request.dbsession, record)
    return download(files.xml, "application/xml", record.number, "xml")


def get_certificate_pdf(request: Request) -> Response:
    record = _visible_document(request)
    files = document_files(request.dbsession, record)
    return download(files.pdf, "application/pdf", record.number, "pdf")


def verify_certificate(request: Request) -> dict[str, Any]:
    question = read_question(parse_json_object(request.body, request.content_type))
    # Verifying by name or Samagra ID is for the election authority only:
    # otherwise anyone could test whether a person holds a certificate.
    # A token sent with a code is checked too: the verification is then the authority's.
    partner = optional_partner(request, "certificates:verify")
    if not question.code and partner is None:
        raise Problem(
            "invalid_token",
            "verifying without the code needs a token with certificates:verify",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    # A partner's verification is an authority's: its holder is told (hub.election.holder_sms).
    result = verify_by_number(
        request.dbsession,
        question,
        verifier=client_label(request),
        client_id=partner.client_id if partner is not None else None,
    )
    return result.as_dict()


def verify_certificate_document(request: Request) -> dict[str, Any]:
    if (request.content_type or "").lower() not in XML_TYPES:
        raise Problem("unsupported_media_type", "upload the XML as application/xml")
    keys = request.find_service(DocumentKeys)
    try:
        result = verify_uploaded_xml(request.dbsession, keys, request.body, client_label(request))
    except MalformedDocumentError as exc:
        code = exc.reason if exc.reason in CODES else "document_malformed"
        raise Problem(code, "the upload is not a signed document of this hub") from None
    return result.as_dict()


def verify_certificate_qr(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    payload = reader.text("payload", max_length=QR_PAYLOAD_MAX)
    reader.done()
    assert payload is not None
    keys = request.find_service(DocumentKeys)
    return verify_qr(request.dbsession, keys, payload, client_label(request)).as_dict()


def revoke_certificate(request: Request) -> dict[str, Any]:
    """A partner revokes a certificate issued on its own request; the actor is the client itself.

    The discom's officers revoke through the console (the case's ``revoke`` action, in their
    offices). Another client's certificate answers exactly like a missing one.
    """
    reader = json_reader(request)
    reason = reader.text("reason", max_length=REVOCATION_REASON_MAX)
    if "revoked_by" in reader.data:
        # Who revoked is who authenticated: a free-text name would put anyone in the audit log.
        reader.problem("revoked_by", "not_accepted", "the revoking client is read from the token; use reason")
    reader.done()
    assert reason is not None
    client_id = request.partner.client_id
    record = find_document(request.dbsession, request.matchdict["number"])
    if record is None or record.requested_by_client != client_id:
        raise Problem("not_found")
    by = f"client:{client_id}"
    if not revoke_document(request.dbsession, record, by, reason):
        raise Problem("conflict", f"the document is {record.status}, not valid")
    notify_revoked(request.registry, request.dbsession, record, by, reason)
    return VerificationResult(record.status, record.number, RegistryEntry.of(record)).as_dict()


def signing_certificates(request: Request) -> Response:
    """Every certificate a verifier may meet in our signatures: the CA, the document signers
    (XML, PDF) and the evidence signers (SOAP answers, bulk reports), current and older."""
    keys = request.find_service(DocumentKeys)
    return Response(body=keys.keyring.published_pem(), content_type="application/x-pem-file")


PAGE = """<!doctype html><html lang="hi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>प्रमाण-पत्र सत्यापन / Certificate verification</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
.valid{{color:#0a6b2f}}.bad{{color:#a40000}}label{{display:block;margin-top:.6rem}}
input{{font:inherit;padding:.3rem;width:100%}}table td{{padding:.2rem .6rem .2rem 0}}</style></head><body>
<h1>प्रमाण-पत्र सत्यापन<br><small>Certificate verification</small></h1>
<form method="get" action="/verify">
<label>प्रमाण-पत्र क्रमांक / Certificate number <input name="number" value="{number}" required></label>
<label>सत्यापन कोड / Verification code <input name="code" value="{code}" required></label>
<p><button type="submit">सत्यापित करें / Verify</button></p></form>{result}</body></html>"""

STATUS_TEXT = {
    "valid": ("मान्य", "Valid"),
    "revoked": ("निरस्त", "Revoked"),
    "expired": ("अवधि समाप्त", "Expired"),
    "superseded": ("प्रतिस्थापित", "Superseded by a newer certificate"),
    "unknown": ("नहीं मिला", "Not found: check the number and the code"),
    "tampered": ("छेड़छाड़", "Tampered"),
}


def verify_page(request: Request) -> Response:
    number = request.GET.get("number", "").strip()
    code = request.GET.get("code", "").strip()
    result_html = ""
    if number and code:
        if NUMBER.fullmatch(number) and CODE.fullmatch(code):
            result = verify_by_number(
                request.dbsession,
                CertificateQuestion(number, code=code),
                verifier=client_label(request),
                method="page",
            )
            data = result.as_dict()
        else:
            data = {"status": "unknown", "number": number}
        hi, en = STATUS_TEXT[data["status"]]
        css = "valid" if data["status"] == "valid" else "bad"
        rows = ""
        if "holder_name" in data:
            connections = (
                ", ".join(c["consumer_number"] for c in data["connections"])
                or "कोई कनेक्शन नहीं / no connection"
            )
            for label, value in (
                ("धारक / Holder", data["holder_name"]),
                ("कनेक्शन / Connections", connections),
                ("जारी / Issued", data["issued_at"][:10]),
                ("वैध तक / Valid until", data["valid_until"][:10]),
            ):
                rows += f"<tr><td>{html.escape(label)}</td><td>{html.escape(str(value))}</td></tr>"
        result_html = f'<h2 class="{css}">{hi} / {en}</h2><table>{rows}</table>'
    body = PAGE.format(
        number=html.escape(number, quote=True), code=html.escape(code, quote=True), result=result_html
    )
    response = Response(body, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def certificate_url(number: str) -> str:
    return "/api/v1/certificates/" + quote(number, safe="/")


def includeme(config: Configurator) -> None:
    verify_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["number"],
                    "properties": QUESTION_PROPERTIES,
                }
            }
        },
    }
    number_param = [
        {
            "name": "number",
            "in": "path",
            "required": True,
            "schema": text_schema(64, NUMBER),
            "description": "the certificate number, slashes included",
        }
    ]
    code_param = {
        "name": "code",
        "in": "query",
        "required": False,
        "schema": text_schema(20, CODE),
        "description": "the verification code (or send a certificates:read token)",
    }
    config.add_route("certificates.pem", "/.well-known/hub-certificates.pem")
    config.add_route("verify.page", "/verify")
    config.add_page_headers(
        "/verify",
        {
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
            "X-Frame-Options": "DENY",
        },
    )
    config.add_route("certificate.verify", "/api/v1/certificates/verify")
    config.add_route("certificate.verify_document", "/api/v1/certificates/verify-document")
    config.add_route("certificate.verify_qr", "/api/v1/certificates/verify-qr")
    config.add_route("certificate.xml", "/api/v1/certificates/{number:.+}/xml")
    config.add_route("certificate.pdf", "/api/v1/certificates/{number:.+}/pdf")
    config.add_route("certificate.revocation", "/api/v1/certificates/{number:.+}/revocation")
    config.add_route("certificate", "/api/v1/certificates/{number:.+}")
    tags = ["certificates"]
    config.add_view(
        signing_certificates,
        route_name="certificates.pem",
        request_method="GET",
        public=True,
        operation_id="getSigningCertificates",
        openapi={"summary": "CA and signer certificates that sign our documents (PEM)", "tags": tags},
    )
    config.add_view(
        verify_page,
        route_name="verify.page",
        request_method="GET",
        public=True,
        ratelimit="public",
        operation_id="verifyCertificatePage",
        openapi={
            "summary": "Human verification page (Hindi and English)",
            "tags": tags,
            "parameters": [
                {"name": "number", "in": "query", "schema": text_schema(64, NUMBER)},
                {"name": "code", "in": "query", "schema": text_schema(20, CODE)},
            ],
        },
    )
    config.add_view(
        verify_certificate,
        route_name="certificate.verify",
        request_method="POST",
        renderer="json",
        public=True,
        ratelimit="public",
        operation_id="verifyCertificate",
        openapi={
            "summary": "Verify by number and code (public), or by holder name / Samagra ID "
            "(certificates:verify token)",
            "tags": tags,
            "requestBody": verify_body,
            "responses": _json_response(VERIFICATION_SCHEMA),
        },
    )
    config.add_view(
        verify_certificate_document,
        route_name="certificate.verify_document",
        request_method="POST",
        renderer="json",
        public=True,
        ratelimit="public",
        operation_id="verifyCertificateDocument",
        openapi={
            "summary": "Verify an uploaded signed XML: signature, then registry status",
            "tags": tags,
            "requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string"}}}},
            "responses": _json_response(VERIFICATION_SCHEMA),
        },
    )
    config.add_view(
        verify_certificate_qr,
        route_name="certificate.verify_qr",
        request_method="POST",
        renderer="json",
        public=True,
        ratelimit="public",
        operation_id="verifyCertificateQr",
        openapi={
            "summary": "Verify the payload scanned from a printout's QR code",
            "tags": tags,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["payload"],
                            "properties": {"payload": text_schema(QR_PAYLOAD_MAX)},
                        }
                    }
                },
            },
            "responses": _json_response(VERIFICATION_SCHEMA),
        },
    )
    config.add_view(
        get_certificate_xml,
        route_name="certificate.xml",
        request_method="GET",
        public=True,
        ratelimit="public",
        operation_id="getCertificateXml",
        openapi={
            "summary": "The signed XML (XML-DSig)",
            "tags": tags,
            "parameters": [*number_param, code_param],
            "responses": {"200": {"description": "signed XML", "content": {"application/xml": {}}}},
        },
    )
    config.add_view(
        get_certificate_pdf,
        route_name="certificate.pdf",
        request_method="GET",
        public=True,
        ratelimit="public",
        operation_id="getCertificatePdf",
        openapi={
            "summary": "The signed PDF (PAdES)",
            "tags": tags,
            "parameters": [*number_param, code_param],
            "responses": {"200": {"description": "signed PDF", "content": {"application/pdf": {}}}},
        },
    )
    config.add_view(
        revoke_certificate,
        route_name="certificate.revocation",
        request_method="POST",
        renderer="json",
        scopes=["certificates:revoke"],
        operation_id="revokeCertificate",
        openapi={
            "summary": "Revoke a valid certificate issued on this client's request, with a reason "
            "(another client's certificate: 404)",
            "tags": tags,
            "parameters": number_param,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["reason"],
                            "properties": {
                                "reason": {
                                    **text_schema(REVOCATION_REASON_MAX),
                                    "minLength": 1,
                                    "description": "why, and who asked for it (shown to verifiers)",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "the certificate's registry entry, now revoked",
                    "content": {"application/json": {"schema": VERIFICATION_SCHEMA}},
                },
                "404": {"$ref": "#/components/responses/Problem"},
                "409": {"$ref": "#/components/responses/Problem"},
            },
        },
    )
    config.add_view(
        get_certificate,
        route_name="certificate",
        request_method="GET",
        renderer="json",
        public=True,
        ratelimit="public",
        operation_id="getCertificate",
        openapi={
            "summary": "Registry entry of a certificate: status, summary, links",
            "tags": tags,
            "parameters": [*number_param, code_param],
        },
    )
