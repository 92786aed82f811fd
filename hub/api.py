"""What every API view declares, enforced in one view deriver.

``config.add_view(..., scopes=[...], operation_id=..., openapi={...})`` or
``public=True``. A routed view that declares neither refuses to register: no
endpoint is reachable by accident. The same declarations feed /openapi.json.
Options:

* ``scopes``: the token must carry all of them (401 without a valid token,
  403 ``insufficient_scope`` without the scope);
* ``public``: no token (health, docs, JWKS, public verification); rate-limited
  per address when ``ratelimit="public"``;
* ``auth="self"``: the view authenticates on its own (SOAP: bearer or
  WS-Security), and is not listed in /openapi.json (its WSDL documents it);
* ``max_body``: body cap in bytes for this view (default ``hub.max_body_bytes``);
* ``database=False``: the view never touches the database, so requests to its
  (fixed) path skip the transaction (hub.db); touching it anyway fails loudly;
* ``operation_id`` / ``openapi``: the OpenAPI operation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid.interfaces import IViewDeriverInfo
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from hub.auth.tokens import AccessToken, AccessTokenValidator, InvalidAccessToken
from hub.db import Database, DatabaseRoutes
from hub.errors import Problem, problem_response
from hub.lookup import process_service, registered
from hub.models import PartnerClient
from hub.observability import content_length
from hub.ratelimit import RateLimiter

View = Callable[[Any, Request], Response]

API_OPTIONS = ("scopes", "public", "auth", "max_body", "operation_id", "openapi", "ratelimit", "database")


class ClientStatus:
    """Which clients are revoked, and per-client limits, refreshed every few seconds.

    Revoking a client takes effect everywhere within ``refresh_seconds``
    without a database read on every request.
    """

    def __init__(self, engine: Engine | Connection, refresh_seconds: float = 5.0) -> None:
        self._source = engine
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._loaded_at = -1e9
        self._inactive: frozenset[str] = frozenset()
        self._limits: dict[str, int] = {}

    def _load(self) -> None:
        source = self._source
        with source.connect() if isinstance(source, Engine) else nullcontext(source) as conn:
            rows = conn.execute(
                select(PartnerClient.client_id, PartnerClient.active, PartnerClient.rate_per_minute)
            ).all()
        self._inactive = frozenset(r.client_id for r in rows if not r.active)
        self._limits = {r.client_id: r.rate_per_minute for r in rows if r.rate_per_minute}
        self._loaded_at = time.monotonic()

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at >= self._refresh:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self._refresh:
                    self._load()

    def is_active(self, client_id: str) -> bool:
        self._fresh()
        return client_id not in self._inactive

    def limit_for(self, client_id: str, default: int) -> int:
        self._fresh()
        return self._limits.get(client_id, default)

    def invalidate(self) -> None:
        self._loaded_at = -1e9

    @contextmanager
    def reading_from(self, source: Engine | Connection) -> Iterator[None]:
        """Read client status from ``source`` for a while (tests: the test's own transaction)."""
        previous, self._source = self._source, source
        self.invalidate()
        try:
            yield
        finally:
            self._source = previous
            self.invalidate()


def bearer_token(request: Request) -> str:
    if "access_token" in request.environ.get("QUERY_STRING", "") and "access_token" in request.GET:
        # RFC 6750 allows it, we do not: query strings end up in logs.
        raise InvalidAccessToken("token in query string")
    header = request.environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidAccessToken("no bearer token")
    return token.strip()


def authenticate(request: Request) -> AccessToken:
    """The partner behind the request's bearer token, or InvalidAccessToken."""
    validator = process_service(request.registry, AccessTokenValidator)
    access = validator.validate(bearer_token(request))
    if not process_service(request.registry, ClientStatus).is_active(access.client_id):
        raise InvalidAccessToken("client revoked")
    return access


def _unauthorized(request: Request) -> Response:
    return problem_response(
        request,
        "invalid_token",
        headers={"WWW-Authenticate": 'Bearer realm="discom-hub", error="invalid_token"'},
    )


def _insufficient_scope(request: Request, scopes: Iterable[str]) -> Response:
    needed = " ".join(scopes)
    return problem_response(
        request,
        "insufficient_scope",
        headers={
            "WWW-Authenticate": f'Bearer realm="discom-hub", error="insufficient_scope", scope="{needed}"'
        },
    )


def _rate_limited(request: Request, retry_after: int) -> Response:
    return problem_response(request, "rate_limited", headers={"Retry-After": str(retry_after)})


def check_rate(request: Request, bucket: str, limit: int) -> None:
    """Raise 429 when ``bucket`` spent its allowance of this minute (for views that limit themselves)."""
    verdict = process_service(request.registry, RateLimiter).hit(bucket, limit)
    if not verdict.allowed:
        raise Problem("rate_limited", headers={"Retry-After": str(verdict.retry_after)})


@dataclass
class ApiOperations:
    """The REST operations the views declare (``operation_id``, scopes, schemas), and the
    OpenAPI document made from them once the first caller asks."""

    operations: list[dict[str, Any]] = field(default_factory=list)
    document: dict[str, Any] | None = None


def api_view_deriver(view: View, info: IViewDeriverInfo) -> View:
    options = info.options
    route_name = options.get("route_name")
    scopes = tuple(options.get("scopes") or ())
    public = bool(options.get("public"))
    self_auth = options.get("auth") == "self"
    if info.exception_only or route_name is None:
        return view
    if not (scopes or public or self_auth):
        raise ConfigurationError(f"view on route {route_name!r} declares neither scopes nor public=True")
    if options.get("operation_id") and not self_auth:
        methods = options.get("request_method") or ("GET",)
        registered(info.registry, ApiOperations).operations.append(
            {
                "route_name": route_name,
                "methods": [methods] if isinstance(methods, str) else list(methods),
                "operation_id": options["operation_id"],
                "scopes": scopes,
                "public": public,
                "openapi": options.get("openapi") or {},
            }
        )
    database = options.get("database", True)
    if database not in (True, False):
        raise ConfigurationError(f"view on route {route_name!r}: database must be True or False")
    routes = registered(info.registry, DatabaseRoutes)
    (routes.with_database if database else routes.without_database).add(route_name)
    settings = info.registry.settings
    max_body = int(options.get("max_body") or settings["hub.max_body_bytes"])
    default_rate = int(settings["hub.ratelimit.default_per_minute"])
    public_rate = int(settings["hub.ratelimit.public_per_minute"])
    public_limited = options.get("ratelimit") == "public"

    # The services of every API request are process-wide: found in the registry
    # (hub.lookup.process_service), not through request.find_service, which builds a service
    # container for each request that calls it.
    def wrapped(context: Any, request: Request) -> Response:
        length = content_length(request.environ)
        if length is not None and length > max_body:
            return problem_response(request, "body_too_large", f"at most {max_body} bytes")
        if public or self_auth:
            if public_limited:
                if "HTTP_AUTHORIZATION" in request.environ and not self_auth:
                    # A partner calling a public endpoint with its token (the
                    # election authority verifying certificates) is counted
                    # against its own quota, not the per-address one meant
                    # for anonymous visitors. A token that is sent must be valid.
                    clients = process_service(request.registry, ClientStatus)
                    try:
                        access = authenticate(request)
                    except InvalidAccessToken:
                        return _unauthorized(request)
                    request.partner = access
                    bucket = "client:" + access.client_id
                    limit = clients.limit_for(access.client_id, default_rate)
                else:
                    bucket, limit = "ip:" + (request.client_addr or "?"), public_rate
                verdict = process_service(request.registry, RateLimiter).hit(bucket, limit)
                if not verdict.allowed:
                    return _rate_limited(request, verdict.retry_after)
            return view(context, request)
        clients = process_service(request.registry, ClientStatus)
        try:
            access = authenticate(request)
        except InvalidAccessToken:
            return _unauthorized(request)
        if not access.scopes.issuperset(scopes):
            return _insufficient_scope(request, scopes)
        limit = clients.limit_for(access.client_id, default_rate)
        verdict = process_service(request.registry, RateLimiter).hit("client:" + access.client_id, limit)
        if not verdict.allowed:
            return _rate_limited(request, verdict.retry_after)
        request.partner = access
        return view(context, request)

    return wrapped


api_view_deriver.options = API_OPTIONS  # type: ignore[attr-defined]


def includeme(config: Configurator) -> None:
    config.register_service(ClientStatus(process_service(config.registry, Database).engine), ClientStatus)
    config.add_view_deriver(api_view_deriver, name="hub_api")
