"""The election service over REST: verifyCertificates, getDuesStatus and bulk verification by CSV.

``verifyCertificate`` (one question) is hub.certificates.views' operation;
these answer in the same shapes, from the same functions the SOAP
``ElectionService`` calls.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from connectors.billing import MAX_DUES_BATCH
from forms.errors import FieldProblem, FormError
from forms.identifiers import CONSUMER_NUMBER
from hub.certificates.questions import (
    QUESTION_PROPERTIES,
    REF_MAX,
    SAMAGRA,
    CertificateQuestion,
    RejectedQuestion,
    read_batch,
)
from hub.certificates.verification import MAX_BATCH, verify_many
from hub.election.dues import dues_status, read_dues_question
from hub.election.jobs import JobLimits, create_job, job_view
from hub.errors import Problem
from hub.models.election import ElectionVerificationJob
from hub.models.meta import utcnow
from hub.openapi import text_schema
from hub.systems import Connectors
from hub.view_helpers import json_reader

CSV_TYPES = ("text/csv",)
TAGS = ["election"]


def verify_certificates(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    raw = reader.data.get("items")
    items: list[Any] = raw if isinstance(raw, list) else []
    if not items:
        reader.problem("items", "required", "a list of 1 to 1000 questions")
    elif len(items) > MAX_BATCH:
        reader.problem("items", "too_many", f"at most {MAX_BATCH} items")
    for name in reader.data:
        if name != "items":
            reader.problem(name, "unknown", "not a field of this operation")
    reader.done()
    questions: list[CertificateQuestion | RejectedQuestion] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problem = FieldProblem(f"items/{index}", "type", "must be an object")
            questions.append(RejectedQuestion(FormError("validation_failed", problem.message, [problem])))
            continue
        questions += read_batch([item], first_index=index)
    now = utcnow()
    answered = verify_many(request.dbsession, questions, client_id=request.partner.client_id, now=now)
    return {"answered_at": now.isoformat(), "count": len(answered), "items": [i.as_dict() for i in answered]}


def get_dues_status(request: Request) -> dict[str, Any]:
    reader = json_reader(request)
    now = utcnow()
    question = read_dues_question(reader.data, now)
    connectors = request.find_service(Connectors)
    answer = dues_status(connectors.get("billing"), question, connectors.get("samagra"))
    return {"answered_at": now.isoformat(), **answer}


def _links(request: Request, job: ElectionVerificationJob) -> dict[str, str]:
    return {
        "self": request.route_path("election.job", job_id=job.public_id),
        "csv": request.route_path("election.job.csv", job_id=job.public_id),
        "xml": request.route_path("election.job.xml", job_id=job.public_id),
    }


def create_verification_job(request: Request) -> dict[str, Any]:
    if (request.content_type or "").lower() not in CSV_TYPES:
        raise Problem("unsupported_media_type", "upload the candidates as text/csv")
    limits: JobLimits = request.find_service(JobLimits)
    job = create_job(request.dbsession, request.partner.client_id, request.body, limits)
    request.response.status_code = 202
    request.response.headers["Location"] = request.route_path("election.job", job_id=job.public_id)
    return job_view(job, _links(request, job))


def _own_job(request: Request) -> ElectionVerificationJob:
    """The job named in the URL if this client created it; anyone else's is "not found"."""
    job = request.dbsession.execute(
        select(ElectionVerificationJob).where(
            ElectionVerificationJob.public_id == request.matchdict["job_id"],
            ElectionVerificationJob.client_id == request.partner.client_id,
        )
    ).scalar_one_or_none()
    if job is None:
        raise Problem("not_found")
    return job


def get_verification_job(request: Request) -> dict[str, Any]:
    job = _own_job(request)
    return job_view(job, _links(request, job))


def _finished(job: ElectionVerificationJob, body: bytes | None) -> bytes:
    if job.status != "done" or body is None:
        raise Problem("conflict", f"the job is {job.status}; results come when it is done")
    return body


def get_verification_job_csv(request: Request) -> Response:
    job = _own_job(request)
    response = Response(body=_finished(job, job.result_csv), content_type="text/csv", charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{job.public_id}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def get_verification_job_xml(request: Request) -> Response:
    job = _own_job(request)
    response = Response(body=_finished(job, job.result_xml), content_type="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{job.public_id}.xml"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


_ITEM_SCHEMA = {
    "type": "object",
    "required": ["number"],
    "properties": {
        "ref": text_schema(REF_MAX, description="the caller's own reference, echoed back"),
        **QUESTION_PROPERTIES,
    },
}
_DUES_SCHEMA = {
    "type": "object",
    "required": ["answered_at", "as_of", "connections"],
    "properties": {
        "answered_at": {"type": "string", "format": "date-time"},
        "as_of": {"type": "string", "format": "date"},
        "samagra_id": {"type": "string"},
        "clear": {"type": "boolean"},
        "no_connection": {"type": "boolean"},
        "connections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["consumer_number", "status"],
                "properties": {
                    "consumer_number": {"type": "string"},
                    "status": {"type": "string"},
                    "amount": {"type": "string"},
                    "evidence_id": {"type": "string"},
                    "last_bill_date": {"type": "string", "format": "date"},
                },
            },
        },
    },
}
# Job ids are "ej_" and 20 URL-safe characters (hub.election.jobs); anything else is not found.
_JOB_PARAM = [{"name": "job_id", "in": "path", "required": True, "schema": text_schema(64)}]
_JOB_SCHEMA = {
    "type": "object",
    "properties": {
        "job_id": {"type": "string"},
        "status": {"enum": ["queued", "running", "done", "failed"]},
        "total_rows": {"type": "integer"},
        "processed_rows": {"type": "integer"},
        "links": {"type": "object"},
    },
}


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    limits = JobLimits.from_settings(settings)
    config.register_service(limits, JobLimits)
    verify = ["certificates:verify"]
    config.add_route("election.verifications", "/api/v1/election/verifications")
    config.add_route("election.dues", "/api/v1/election/dues")
    config.add_route("election.jobs", "/api/v1/election/jobs")
    config.add_route("election.job.csv", "/api/v1/election/jobs/{job_id}/result.csv")
    config.add_route("election.job.xml", "/api/v1/election/jobs/{job_id}/result.xml")
    config.add_route("election.job", "/api/v1/election/jobs/{job_id}")
    config.add_view(
        verify_certificates,
        route_name="election.verifications",
        request_method="POST",
        renderer="json",
        scopes=verify,
        # 1,000 questions of a few hundred bytes.
        max_body=int(settings["hub.election.batch_max_body_bytes"]),
        operation_id="verifyCertificates",
        openapi={
            "summary": "Verify up to 1,000 certificates; each item is answered on its own",
            "tags": TAGS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["items"],
                            "properties": {
                                "items": {"type": "array", "maxItems": MAX_BATCH, "items": _ITEM_SCHEMA}
                            },
                        }
                    }
                },
            },
        },
    )
    config.add_view(
        get_dues_status,
        route_name="election.dues",
        request_method="POST",
        renderer="json",
        scopes=["dues:read"],
        operation_id="getDuesStatus",
        openapi={
            "summary": "Live dues as of a date for consumer numbers (up to 1,000) or a Samagra ID; "
            "status clear / dues / unknown (a Samagra ID the registry does not know is unknown, never clear)",
            "tags": TAGS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "consumer_numbers": {
                                    "type": "array",
                                    "items": text_schema(12, CONSUMER_NUMBER),
                                    "maxItems": MAX_DUES_BATCH,
                                },
                                "samagra_id": text_schema(9, SAMAGRA),
                                "as_of": {"type": "string", "format": "date"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "the dues, one entry per connection in the order asked",
                    "content": {"application/json": {"schema": _DUES_SCHEMA}},
                },
                "503": {"$ref": "#/components/responses/Problem"},
            },
        },
    )
    config.add_view(
        create_verification_job,
        route_name="election.jobs",
        request_method="POST",
        renderer="json",
        scopes=verify,
        max_body=limits.max_bytes,
        operation_id="createVerificationJob",
        openapi={
            "summary": "Upload a CSV of candidates (number, code / holder_name / samagra_id, ref); 202 + job id",
            "tags": TAGS,
            "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
            "responses": {
                "202": {"description": "job queued", "content": {"application/json": {"schema": _JOB_SCHEMA}}}
            },
        },
    )
    config.add_view(
        get_verification_job,
        route_name="election.job",
        request_method="GET",
        renderer="json",
        scopes=verify,
        operation_id="getVerificationJob",
        openapi={
            "parameters": _JOB_PARAM,
            "summary": "A job's progress (rows processed) and, when done, its result links",
            "tags": TAGS,
        },
    )
    config.add_view(
        get_verification_job_csv,
        route_name="election.job.csv",
        request_method="GET",
        scopes=verify,
        operation_id="getVerificationJobCsv",
        openapi={
            "parameters": _JOB_PARAM,
            "summary": "The job's results as CSV (formula-safe cells)",
            "tags": TAGS,
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}},
        },
    )
    config.add_view(
        get_verification_job_xml,
        route_name="election.job.xml",
        request_method="GET",
        scopes=verify,
        operation_id="getVerificationJobXml",
        openapi={
            "parameters": _JOB_PARAM,
            "summary": "The job's results as XML signed with the hub's evidence key (XML-DSig)",
            "tags": TAGS,
            "responses": {"200": {"description": "signed XML", "content": {"application/xml": {}}}},
        },
    )
