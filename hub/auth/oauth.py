"""The token endpoint (Authlib, client-credentials grant) and the JWKS.

Authlib has no Pyramid integration; its framework-neutral AuthorizationServer
needs three adapters (request in, response out, client lookup), written here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import KeySet
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy.orm import Session

from hub.auth.clients import check_secret, find_active_client
from hub.auth.tokens import ALGORITHM, TokenKeyRing
from hub.models import PartnerClient


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: PartnerClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str:
        return ""

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scopes)
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, request: Request) -> None:
        self._request = request

    @property
    def data(self) -> Mapping[str, str]:
        return dict(self._request.POST.items())

    @cached_property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in self._request.POST.items():
            values[k].append(v)
        return values


class _OAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: Request) -> None:
        # Authlib refuses http:// URIs unless told otherwise; TLS ends at the
        # load balancer, so hand it the https form of the URL it only logs.
        super().__init__(
            request.method, request.url.replace("http://", "https://", 1), headers=request.headers
        )
        self._request = request
        self.payload = _Payload(request)

    @property
    def args(self) -> Mapping[str, str]:
        return dict(self._request.GET.items())

    @property
    def form(self) -> Mapping[str, str]:
        return dict(self._request.POST.items())


class _TokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    def __init__(self, keys: TokenKeyRing, issuer: str, audience: str, lifetime: int) -> None:
        super().__init__(issuer=issuer, alg=ALGORITHM, expires_generator=lambda client, grant_type: lifetime)
        self._keys = keys
        self._audience = audience

    def get_jwks(self) -> KeySet:
        return self._keys.signing_keyset()

    def get_audiences(self, client: Any, user: Any, scope: str) -> str:
        return self._audience


class HubAuthorizationServer(_AuthorizationServer):  # type: ignore[misc]
    """One per process; the session comes with each request."""

    def __init__(self, keys: TokenKeyRing, issuer: str, audience: str, lifetime: int) -> None:
        super().__init__()
        self._session: Session | None = None
        self.register_grant(ClientCredentialsGrant)
        self.register_token_generator("client_credentials", _TokenGenerator(keys, issuer, audience, lifetime))

    def query_client(self, client_id: str) -> _Client | None:
        assert self._session is not None
        row = find_active_client(self._session, client_id)
        return _Client(row) if row is not None else None

    def save_token(self, token: Mapping[str, Any], request: OAuth2Request) -> None:
        # JWT access tokens are self-contained: nothing to store.
        return None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: Request) -> OAuth2Request:
        return _OAuth2Request(request)

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        response = Response(status=status, body=json.dumps(body).encode(), content_type="application/json")
        for name, value in headers:
            response.headers[name] = value
        response.headers["Cache-Control"] = "no-store"
        return response

    def token_response(self, request: Request) -> Response:
        self._session = request.dbsession
        try:
            response: Response = self.create_token_response(request)
        finally:
            self._session = None
        return response


def token_view(request: Request) -> Response:
    if request.content_type != "application/x-www-form-urlencoded":
        from hub.errors import problem_response

        return problem_response(request, "unsupported_media_type", "use application/x-www-form-urlencoded")
    server: HubAuthorizationServer = request.registry["oauth_server"]
    return server.token_response(request)


def jwks_view(request: Request) -> dict[str, Any]:
    token_keys: TokenKeyRing = request.registry["token_keys"]
    keys = list(token_keys.jwks()["keys"])
    extra = request.registry.get("document_jwks")
    if extra is not None:
        # The certificate QR keys are published beside the token keys so one
        # URL serves every verifier.
        keys.extend(extra()["keys"])
    # Keys that sign what the hub sends to partners (e.g. JWS on single-window
    # status callbacks), so they verify with this one URL too.
    for connector in request.registry.get("connectors", {}).values():
        signer = getattr(connector, "signer", None)
        public_jwk = getattr(signer, "public_jwk", None)
        if callable(public_jwk):
            keys.append(public_jwk())
    return {"keys": keys}


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    keys: TokenKeyRing = config.registry["token_keys"]
    config.registry["oauth_server"] = HubAuthorizationServer(
        keys,
        issuer=settings["hub.oauth.issuer"],
        audience=settings["hub.oauth.audience"],
        lifetime=settings["hub.oauth.token_lifetime"],
    )
    config.add_route("oauth.token", "/oauth/token")
    config.add_route("jwks", "/.well-known/jwks.json")
    config.add_view(
        token_view,
        route_name="oauth.token",
        request_method="POST",
        public=True,
        operation_id="issueToken",
        openapi={
            "summary": "Client-credentials grant (client_secret_basic); returns an RFC 9068 JWT access token",
            "tags": ["auth"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type"],
                            "properties": {
                                "grant_type": {"const": "client_credentials"},
                                "scope": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "access token"},
                "400": {"description": "OAuth error"},
                "401": {"description": "client authentication failed"},
            },
        },
    )
    config.add_view(
        jwks_view,
        route_name="jwks",
        database=False,
        request_method="GET",
        renderer="json",
        public=True,
        operation_id="getJwks",
        openapi={"summary": "Public keys of access tokens and document QR payloads", "tags": ["auth"]},
    )
