"""Small helpers every REST view uses to read its input."""

from __future__ import annotations

import json
from collections.abc import Mapping
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from pyramid.request import Request
from pyramid.response import Response

from forms.reader import Reader, parse_json_object
from hub.api import authenticate
from hub.auth.tokens import InvalidAccessToken
from hub.errors import Problem


def json_reader(request: Request) -> Reader:
    """The JSON object body as a :class:`forms.reader.Reader`; FormError becomes problem+json (hub.errors)."""
    return Reader(parse_json_object(request.body, request.content_type))


# One encoder for every json_response: json.dumps(value, **options) builds a new one per call,
# and JSONEncoder.encode builds its C encoder on every call too (~1.3 µs of a 3 µs encode):
# build that once. No cycle check: bodies are trees the hub builds itself.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_C_ENCODER = (
    c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None
    else None
)


def _encode(body: Mapping[str, Any]) -> str:
    if _C_ENCODER is None:
        return _ENCODER.encode(body)
    return "".join(_C_ENCODER(body, 0))


def json_response(body: Mapping[str, Any]) -> Response:
    """A JSON answer written straight into a Response, for the hub's hottest answers.

    The "json" renderer answers the same bytes' worth of JSON, but Pyramid's
    renderer machinery (system values, BeforeRender, the lazily made
    request.response, its charset rules) costs ~60 µs per answer: on
    certificate verification, a fifth of the request. ``body`` holds only
    JSON types (no adapters are consulted).
    """
    data = _encode(body).encode()
    return Response(
        body=data,
        headerlist=[("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))],
    )


def client_label(request: Request) -> str:
    """Who is asking, for logs and verification records: the partner client, or the address."""
    partner = getattr(request, "partner", None)
    if partner is not None:
        return f"client:{partner.client_id}"
    return f"ip:{request.client_addr or '?'}"


def optional_partner(request: Request, scope: str, *alternatives: str) -> Any:
    """The partner behind a bearer token if one is sent and carries ``scope`` (or one of the
    ``alternatives``), else None.

    For public endpoints that give more to authenticated partners.
    """
    # hub.api authenticated the token already on a public view that is rate-limited per client.
    access = getattr(request, "partner", None)
    if access is None:
        if "HTTP_AUTHORIZATION" not in request.environ:
            return None
        try:
            access = authenticate(request)
        except InvalidAccessToken:
            raise Problem(
                "invalid_token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
    if scope not in access.scopes and not any(a in access.scopes for a in alternatives):
        raise Problem(
            "insufficient_scope",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
    request.partner = access
    return access
