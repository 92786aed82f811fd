"""REST: a consumer's supply (DT, feeder, substation), a node and what hangs on it, the unmapped consumers."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import func, select

from connectors.network import NODE_CODE
from forms.identifiers import CONSUMER_NUMBER
from hub.errors import FieldError, Problem
from hub.models.network import NetworkNode
from hub.network.service import (
    UNMAPPED_REASONS,
    consumers_below,
    node_json,
    supply_of,
    unmapped,
    unmapped_counts,
)
from hub.openapi import text_schema
from hub.view_helpers import int_query

UNMAPPED_PAGE_MAX = 1_000

NODE_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "code": {"type": "string"},
        "kind": {"enum": ["substation", "feeder", "dt"]},
        "parent_code": {"type": ["string", "null"]},
        "office_code": {"type": "string"},
        "name_en": {"type": "string"},
        "name_hi": {"type": "string"},
        "meter_no": {"type": ["string", "null"]},
        "capacity_kva": {"type": ["integer", "null"]},
        "in_service": {"type": "boolean"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def consumer_supply(request: Request) -> dict[str, Any]:
    number = str(request.matchdict["consumer_number"])
    if not CONSUMER_NUMBER.fullmatch(number):
        raise Problem("not_found", "no such consumer number")
    found = supply_of(request.dbsession, number)
    if found is None:
        raise Problem("not_found", "the network holds no such consumer")
    return found


def network_node(request: Request) -> dict[str, Any]:
    code = str(request.matchdict["code"])
    node = request.dbsession.get(NetworkNode, code) if NODE_CODE.fullmatch(code) else None
    if node is None:
        raise Problem("not_found", "no such node in the network")
    session = request.dbsession
    children = session.scalar(select(func.count()).where(NetworkNode.parent_code == code))
    below = consumers_below(code).subquery()
    consumers = session.scalar(select(func.count()).select_from(below))
    return {**node_json(node), "children": int(children or 0), "consumers": int(consumers or 0)}


def unmapped_consumers(request: Request) -> dict[str, Any]:
    reason = request.GET.get("reason") or None
    if reason is not None and reason not in UNMAPPED_REASONS:
        raise Problem(
            "validation_failed", errors=[FieldError("reason", "choice", " | ".join(UNMAPPED_REASONS))]
        )
    after = request.GET.get("after", "")
    if after and not CONSUMER_NUMBER.fullmatch(after):
        raise Problem("validation_failed", errors=[FieldError("after", "format", "a consumer number")])
    limit = int_query(request, "limit", 100, UNMAPPED_PAGE_MAX)
    session = request.dbsession
    rows = unmapped(session, after, limit, reason)
    return {
        "counts": unmapped_counts(session),
        "consumers": rows,
        "next_after": rows[-1]["consumer_number"] if len(rows) == limit else None,
    }


def includeme(config: Configurator) -> None:
    tags = ["network"]
    config.add_route("network.consumer", "/api/v1/network/consumers/{consumer_number}")
    config.add_route("network.node", "/api/v1/network/nodes/{code}")
    config.add_route("network.unmapped", "/api/v1/network/unmapped")
    number = {
        "name": "consumer_number",
        "in": "path",
        "required": True,
        "schema": text_schema(12, CONSUMER_NUMBER),
    }
    config.add_view(
        consumer_supply,
        route_name="network.consumer",
        request_method="GET",
        renderer="json",
        scopes=["network:read"],
        operation_id="getConsumerSupply",
        openapi={
            "summary": "The DT, feeder and substation that supply a consumer, and what is wrong if the chain is broken",
            "tags": tags,
            "parameters": [number],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "consumer_number": {"type": "string"},
                            "dt": NODE_SCHEMA,
                            "feeder": NODE_SCHEMA,
                            "substation": NODE_SCHEMA,
                            "mapped": {"type": "boolean"},
                            "problem": {
                                "enum": [
                                    None,
                                    "no_dt",
                                    "unknown_dt",
                                    "dt_out_of_service",
                                    "out_of_service",
                                    "broken_chain",
                                ]
                            },
                        },
                    },
                    "the supply chain",
                )
            },
        },
    )
    config.add_view(
        network_node,
        route_name="network.node",
        request_method="GET",
        renderer="json",
        scopes=["network:read"],
        operation_id="getNetworkNode",
        openapi={
            "summary": "A substation, feeder or DT, how many nodes hang on it and how many consumers it supplies",
            "tags": tags,
            "parameters": [
                {"name": "code", "in": "path", "required": True, "schema": text_schema(40, NODE_CODE)}
            ],
            "responses": {"200": _json(NODE_SCHEMA, "the node")},
        },
    )
    config.add_view(
        unmapped_consumers,
        route_name="network.unmapped",
        request_method="GET",
        renderer="json",
        scopes=["network:read"],
        operation_id="listUnmappedConsumers",
        openapi={
            "summary": "Consumers the network cannot place on a working DT, counted by reason and listed in pages",
            "tags": tags,
            "parameters": [
                {"name": "reason", "in": "query", "schema": {"enum": list(UNMAPPED_REASONS)}},
                {"name": "after", "in": "query", "schema": text_schema(12, CONSUMER_NUMBER)},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": UNMAPPED_PAGE_MAX},
                },
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "counts": {"type": "object"},
                            "consumers": {"type": "array", "items": {"type": "object"}},
                            "next_after": {"type": ["string", "null"]},
                        },
                    },
                    "counts and one page",
                )
            },
        },
    )
