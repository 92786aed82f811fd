"""Small helpers REST views share: the JSON body as a Reader, who is asking, an optional partner token,
a query parameter as an integer."""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.response import Response

from forms.reader import Reader, parse_json_object
from hub.api import authenticate
from hub.auth.tokens import InvalidAccessToken
from hub.errors import FieldError, Problem


def json_reader(request: Request) -> Reader:
    """The JSON object body as a :class:`forms.reader.Reader`; FormError becomes problem+json (hub.errors)."""
    return Reader(parse_json_object(request.body, request.content_type))


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


def int_query(request: Request, name: str, default: int, maximum: int) -> int:
    """Query parameter ``name`` as an integer 1..``maximum`` (``default`` when absent); 400 otherwise."""
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 0 < int(raw) <= maximum:
        raise Problem("validation_failed", errors=[FieldError(name, "range", f"an integer 1-{maximum}")])
    return int(raw)


def download(body: bytes, content_type: str, name: str, extension: str) -> Response:
    """A document to save (a signed PDF or XML): never cached by a shared proxy, named for the
    file system (a document number's slashes become hyphens)."""
    response = Response(body=body, content_type=content_type)
    filename = name.replace("/", "-") + "." + extension
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
