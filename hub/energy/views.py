"""REST: the energy audit's months, and a node's month with the nodes one level down and its flags."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from hub.energy.service import (
    DISCOM,
    FLAGS,
    LEVELS,
    EnergyAuditResult,
    audited_periods,
    children,
    flags_of,
    measures,
    result,
)
from hub.errors import FieldError, Problem
from hub.openapi import text_schema

PERIOD = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")
NODE = re.compile(r"[A-Z][A-Z0-9-]{2,39}")

NUMBER = {"type": ["string", "null"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
MEASURES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "period": {"type": "string"},
        "level": {"enum": list(LEVELS)},
        "code": {"type": "string"},
        "parent_code": {"type": ["string", "null"]},
        "consumers": {"type": "integer"},
        "input_kwh": {**NUMBER, "description": "energy into the node; null when no reading can be trusted"},
        "billed_kwh": NUMBER,
        "audited_billed_kwh": {**NUMBER, "description": "billed below the nodes whose input is known"},
        "loss_kwh": NUMBER,
        "loss": {**NUMBER, "description": "technical + commercial loss, a fraction of input"},
        "billed_amount": NUMBER,
        "collected_amount": NUMBER,
        "billing_efficiency": NUMBER,
        "collection_efficiency": NUMBER,
        "atc_loss": {**NUMBER, "description": "1 - billing efficiency x collection efficiency"},
        "nodes": {"type": "integer"},
        "nodes_with_input": {"type": "integer"},
        "flags": {"type": "integer"},
    },
}


def measures_json(row: EnergyAuditResult) -> dict[str, Any]:
    """Decimals as strings: kWh, rupees and ratios cross the wire exactly."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in measures(row).items()}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def checked_node(period: str, level: str, code: str) -> None:
    """400 naming the field for a malformed period, level or node code."""
    errors = []
    if not PERIOD.fullmatch(period):
        errors.append(FieldError("period", "format", "YYYY-MM"))
    if level not in LEVELS:
        errors.append(FieldError("level", "choice", " | ".join(LEVELS)))
    if not NODE.fullmatch(code):
        errors.append(FieldError("code", "format", "a node or office code"))
    if errors:
        raise Problem("validation_failed", errors=errors)


def list_audits(request: Request) -> dict[str, Any]:
    return {
        "audits": [
            {
                "period": a.period,
                "state": a.state,
                "computed_at": a.computed_at.isoformat() if a.computed_at else None,
                "readings": a.readings,
                "consumers": a.consumers,
                "last_error": a.last_error,
            }
            for a in audited_periods(request.dbsession)
        ]
    }


def audit_node(request: Request) -> dict[str, Any]:
    period, level, code = (str(request.matchdict[k]) for k in ("period", "level", "code"))
    checked_node(period, level, code)
    session = request.dbsession
    row = result(session, period, level, code)
    if row is None:
        raise Problem("not_found", "no such node in the audit of this month")
    return {
        **measures_json(row),
        "flag_list": [
            {"flag": f.flag, "count": f.count, "label_en": FLAGS[f.flag][1], "label_hi": FLAGS[f.flag][0]}
            for f in flags_of(session, period, code)
        ],
        "children": [measures_json(c) for c in children(session, period, level, code)],
    }


def includeme(config: Configurator) -> None:
    tags = ["energy"]
    config.add_route("energy.audits", "/api/v1/energy/audits")
    config.add_route("energy.node", "/api/v1/energy/audits/{period}/{level}/{code}")
    config.add_view(
        list_audits,
        route_name="energy.audits",
        request_method="GET",
        renderer="json",
        scopes=["energy:read"],
        operation_id="listEnergyAudits",
        openapi={
            "summary": "The months of the energy audit: computed, or waiting for hub-worker",
            "tags": tags,
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"audits": {"type": "array", "items": {"type": "object"}}},
                    },
                    "the months, latest first",
                )
            },
        },
    )
    config.add_view(
        audit_node,
        route_name="energy.node",
        request_method="GET",
        renderer="json",
        scopes=["energy:read"],
        operation_id="getEnergyAuditNode",
        openapi={
            "summary": (
                "A node's month (discom, circle, division, DC, feeder or DT): input, billing, collection, "
                f"losses and AT&C loss, its flags, and the nodes one level down (the discom's code is {DISCOM})"
            ),
            "tags": tags,
            "parameters": [
                {"name": "period", "in": "path", "required": True, "schema": text_schema(7, PERIOD)},
                {"name": "level", "in": "path", "required": True, "schema": {"enum": list(LEVELS)}},
                {"name": "code", "in": "path", "required": True, "schema": text_schema(40, NODE)},
            ],
            "responses": {
                "200": _json(
                    {
                        **MEASURES_SCHEMA,
                        "properties": {
                            **MEASURES_SCHEMA["properties"],
                            "flag_list": {"type": "array", "items": {"type": "object"}},
                            "children": {"type": "array", "items": MEASURES_SCHEMA},
                        },
                    },
                    "the node's month",
                )
            },
        },
    )
