"""Bill corrections over REST (``/api/v1/corrections...``): the consumer portal reads a
consumer's corrections and each one's history. Corrections are proposed at the office
(the console); the portal only reads. Another consumer's correction answers like a missing one."""

from __future__ import annotations

import re
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from forms.identifiers import CONSUMER_NUMBER
from forms.reader import Reader
from hub.corrections.service import CorrectionService
from hub.errors import Problem
from hub.openapi import text_schema

BASE = "/api/v1/corrections"
CORRECTION_NO = re.compile(r"BC[0-9]{13}")
COMPLAINT_NO = re.compile(r"[0-9]{13,20}")
BILL_PERIOD = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")
READING = re.compile(r"[0-9]{1,9}")
AMOUNT = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")
REASON_MAX = 1000
LIST_MAX = 50


def service_of(request: Request) -> CorrectionService:
    service: CorrectionService = request.find_service(CorrectionService)
    return service


def _consumer_number(request: Request, allowed: tuple[str, ...]) -> str:
    reader = Reader(dict(request.GET.items()))
    for name in reader.data:
        if name not in allowed:
            reader.problem(str(name)[:64], "unknown_field", "is not a parameter of this request")
    number = reader.text("consumer_number", max_length=12, pattern=CONSUMER_NUMBER)
    reader.done()
    assert number is not None
    return number


def list_consumer_corrections(request: Request) -> dict[str, Any]:
    number = _consumer_number(request, ("consumer_number",))
    service = service_of(request)
    session = request.dbsession
    return {
        "consumer_number": number,
        "corrections": [service.describe(session, c) for c in service.of_consumer(session, number, LIST_MAX)],
    }


def get_correction(request: Request) -> dict[str, Any]:
    raw = str(request.matchdict["correction_no"])
    number = _consumer_number(request, ("consumer_number",))
    if not CORRECTION_NO.fullmatch(raw):
        raise Problem("not_found", "no such bill correction")
    service = service_of(request)
    correction = service.by_number(request.dbsession, raw)
    if correction.consumer_number != number:
        raise Problem("not_found", f"no bill correction {raw}")
    return service.describe(request.dbsession, correction)


STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["correction_no", "consumer_number", "status", "credit", "history"],
    "properties": {
        "correction_no": {
            "type": "string",
            "description": "BC, YYMMDD of the proposal (IST), 7-digit serial",
        },
        "consumer_number": {"type": "string"},
        "complaint_no": {"type": ["string", "null"]},
        "bill_period": {"type": "string", "description": "YYYY-MM"},
        "reading_billed": {"type": ["integer", "null"]},
        "reading_correct": {"type": ["integer", "null"]},
        "amount_billed": {"type": "string"},
        "amount_correct": {"type": "string"},
        "credit": {"type": "string", "description": "rupees credited once permitted"},
        "reason": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["proposed", "examination", "returned", "gm_decision", "permitted", "refused"],
        },
        "status_label": {"type": "object"},
        "with_role": {"type": ["string", "null"]},
        "with_label": {"type": ["object", "null"]},
        "due_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "this level's time limit",
        },
        "proposed_at": {"type": "string", "format": "date-time"},
        "decided_at": {"type": ["string", "null"], "format": "date-time"},
        "credited": {"type": "boolean"},
        "posting_receipt": {"type": ["string", "null"]},
        "evidence_files": {"type": "integer"},
        "history": {"type": "array", "items": {"type": "object"}},
    },
}


def includeme(config: Configurator) -> None:
    tags = ["corrections"]
    consumer_param = {
        "name": "consumer_number",
        "in": "query",
        "required": True,
        "schema": text_schema(12, CONSUMER_NUMBER),
    }

    def ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}

    config.add_route("corrections.list", BASE)
    config.add_view(
        list_consumer_corrections,
        route_name="corrections.list",
        request_method="GET",
        renderer="json",
        operation_id="listConsumerBillCorrections",
        scopes=["complaints:consumer"],
        openapi={
            "tags": tags,
            "summary": f"A consumer's bill corrections with their history, newest first (at most {LIST_MAX})",
            "parameters": [consumer_param],
            "responses": ok(
                {
                    "type": "object",
                    "required": ["consumer_number", "corrections"],
                    "properties": {
                        "consumer_number": {"type": "string"},
                        "corrections": {"type": "array", "items": STATUS_SCHEMA},
                    },
                },
                "the consumer's bill corrections",
            ),
        },
    )
    config.add_route("corrections.correction", f"{BASE}/{{correction_no}}")
    config.add_view(
        get_correction,
        route_name="corrections.correction",
        request_method="GET",
        renderer="json",
        operation_id="getBillCorrection",
        scopes=["complaints:consumer"],
        openapi={
            "tags": tags,
            "summary": "One bill correction of the consumer: status, level and every step",
            "parameters": [
                {
                    "name": "correction_no",
                    "in": "path",
                    "required": True,
                    "schema": text_schema(15, CORRECTION_NO),
                },
                consumer_param,
            ],
            "responses": ok(STATUS_SCHEMA, "status and history"),
        },
    )
