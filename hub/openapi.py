"""The OpenAPI 3.1 document, built from what the views declare (hub.api).

Every routed REST view declares an ``operation_id``; the document is assembled
at startup from those declarations and the route patterns, so it cannot drift
from the routes. ``/docs`` renders it with a small self-contained page (no CDN).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from pyramid.config import Configurator
from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from pyramid.response import Response

from hub.api import ApiOperations
from hub.auth.clients import KNOWN_SCOPES
from hub.lookup import registered

_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "stable machine code (hub.errors.CODES)"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def text_schema(max_length: int, pattern: re.Pattern[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The schema of a string its reader (forms.reader) takes with ``max_length`` and ``pattern``.

    Declared from the same limit and pattern the reader applies, so the document states what is
    checked before anything reaches the database.
    """
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length, **extra}
    if pattern is not None:
        schema["pattern"] = f"^(?:{pattern.pattern})$"
    return schema


def build_document(request: Request) -> dict[str, Any]:
    registry = request.registry
    mapper = registry.queryUtility(IRoutesMapper)
    patterns = {route.name: route.pattern for route in mapper.get_routes()}
    paths: dict[str, dict[str, Any]] = {}
    for op in registered(registry, ApiOperations).operations:
        pattern = patterns[op["route_name"]]
        path = _PLACEHOLDER.sub(r"{\1}", pattern)
        spec = dict(op["openapi"])
        params = list(spec.pop("parameters", []))
        declared = {p["name"] for p in params}
        for name in _PLACEHOLDER.findall(pattern):
            if name not in declared:
                params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
        responses = dict(spec.pop("responses", {"200": {"description": "OK"}}))
        responses.setdefault("default", {"$ref": "#/components/responses/Problem"})
        if not op["public"]:
            responses.setdefault("401", {"$ref": "#/components/responses/Problem"})
            responses.setdefault("403", {"$ref": "#/components/responses/Problem"})
            responses.setdefault("429", {"$ref": "#/components/responses/Problem"})
        for method in op["methods"]:
            operation = {"operationId": op["operation_id"], **spec, "responses": responses}
            if params:
                operation["parameters"] = params
            operation["security"] = [] if op["public"] else [{"oauth2": list(op["scopes"])}]
            paths.setdefault(path, {})[method.lower()] = operation
    settings = registry.settings
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Discom single-window hub",
            "version": "1.0.0",
            "description": "REST API of the discom's integration hub. SOAP services are described by their WSDLs.",
        },
        "servers": [{"url": settings["hub.public_url"]}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": settings["hub.public_url"] + "/oauth/token",
                            "scopes": dict(KNOWN_SCOPES),
                        }
                    },
                }
            },
            "schemas": {"Problem": PROBLEM_SCHEMA},
            "responses": {
                "Problem": {
                    "description": "RFC 9457 problem details",
                    "content": {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                }
            },
        },
    }


def openapi_view(request: Request) -> dict[str, Any]:
    operations = registered(request.registry, ApiOperations)
    if operations.document is None:
        operations.document = build_document(request)
    return operations.document


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Discom hub API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
code{background:#f3f3f3;padding:0 .3em}h2{border-bottom:1px solid #ccc}.op{margin:.4rem 0}
.m{display:inline-block;width:4.5em;font-weight:bold}.s{color:#555}</style></head>
<body><h1>Discom single-window hub API</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. SOAP services: see their WSDLs.</p>
<div id="ops">Loading&hellip;</div>
<script>
fetch('/openapi.json').then(r=>r.json()).then(doc=>{
 const out=document.getElementById('ops');out.textContent='';
 for(const [path,ops] of Object.entries(doc.paths)){for(const [m,op] of Object.entries(ops)){
  const d=document.createElement('div');d.className='op';
  const sc=(op.security&&op.security.length)?' scopes: '+op.security[0].oauth2.join(' '):' public';
  d.innerHTML='<span class="m"></span><code></code> <b></b> <span class="s"></span>';
  d.children[0].textContent=m.toUpperCase();d.children[1].textContent=path;
  d.children[2].textContent=op.operationId;d.children[3].textContent=(op.summary||'')+' ('+sc.trim()+')';
  out.appendChild(d);}}});
</script></body></html>"""


def _docs_policy() -> str:
    # The page's one inline script is allowed by its hash; it may fetch /openapi.json and nothing else.
    script = DOCS_PAGE.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def docs_view(request: Request) -> Response:
    return Response(DOCS_PAGE, content_type="text/html", charset="utf-8")


def includeme(config: Configurator) -> None:
    config.add_route("openapi", "/openapi.json")
    config.add_route("docs", "/docs")
    config.add_page_headers("/docs", {"Content-Security-Policy": _docs_policy(), "X-Frame-Options": "DENY"})
    config.add_view(
        openapi_view,
        route_name="openapi",
        request_method="GET",
        renderer="json",
        public=True,
        operation_id="getOpenApi",
        openapi={"summary": "This document", "tags": ["operations"]},
    )
    config.add_view(
        docs_view,
        route_name="docs",
        request_method="GET",
        public=True,
        operation_id="getDocs",
        openapi={"summary": "Human-readable API index (works offline)", "tags": ["operations"]},
    )
