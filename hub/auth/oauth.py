"""The token endpoint (Authlib, client-credentials grant) and the JWKS.

Authlib has no Pyramid integration; its framework-neutral AuthorizationServer
needs three adapters (request in, response out, client authentication), written here.

Client authentication (HTTP Basic) is ours, not Authlib's, for three reasons: wrong
secrets are throttled per client id at an address and per address (hub.throttle:
429 ``slow_down`` with Retry-After); an unknown id pays the same Argon2 check as a
known one and gets the same answer, so neither time nor text tells which ids exist;
and the request's own database session is used, never one kept on the shared server.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Error, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import KeySet
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from hub.auth.clients import check_secret, find_active_client
from hub.auth.tokens import ALGORITHM, TokenKeyRing
from hub.models import PartnerClient
from hub.systems import Connectors
from hub.throttle import SignInKeys, record_failure, record_success, seconds_to_wait


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
        self.pyramid_request = request
        self.payload = _Payload(request)

    @property
    def args(self) -> Mapping[str, str]:
        return dict(self.pyramid_request.GET.items())

    @property
    def form(self) -> Mapping[str, str]:
        return dict(self.pyramid_request.POST.items())


class _SlowDown(OAuth2Error):  # type: ignore[misc]
    """Too many wrong secrets from this address (``slow_down``: the IANA OAuth registry's
    token-endpoint code for "retry later"; RFC 6749 has none)."""

    error = "slow_down"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(description=f"too many failed client authentications; retry after {retry_after} s")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


def _client_secret_basic(query_client: Any, request: _OAuth2Request) -> _Client | None:
    """HTTP Basic client authentication, throttled; None lets Authlib answer ``invalid_client``."""
    client_id, secret = extract_basic_authorization(request.headers)
    if not client_id or not secret:
        return None
    pyramid_request = request.pyramid_request
    session = pyramid_request.dbsession
    keys = SignInKeys.of("client", client_id, pyramid_request.client_addr)
    wait = seconds_to_wait(session, keys)
    if wait:
        raise _SlowDown(wait)
    row = find_active_client(session, client_id)
    # An unknown or revoked id runs the same check (against a stand-in hash) and fails alike.
    if check_secret(row, secret) and row is not None:
        record_success(session, keys)
        return _Client(row)
    record_failure(session, keys)
    return None


class _ClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    def validate_token_request(self) -> None:
        super().validate_token_request()
        # RFC 6749 §5.2: a scope the client was not granted is an error, not a silently smaller token.
        asked = set(scope_to_list(self.request.payload.scope) or ())
        if not asked <= set(self.request.client.row.scopes):
            raise InvalidScopeError()


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
        self.register_grant(_ClientCredentialsGrant)
        self.register_token_generator("client_credentials", _TokenGenerator(keys, issuer, audience, lifetime))
        self.register_client_auth_method("client_secret_basic", _client_secret_basic)

    def query_client(self, client_id: str) -> _Client | None:
        # Authlib wants it to exist; every client authentication goes through _client_secret_basic.
        raise NotImplementedError("clients authenticate through _client_secret_basic")

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
        response: Response = self.create_token_response(request)
        return response


def token_view(request: Request) -> Response:
    if request.content_type != "application/x-www-form-urlencoded":
        from hub.errors import problem_response

        return problem_response(request, "unsupported_media_type", "use application/x-www-form-urlencoded")
    server: HubAuthorizationServer = request.find_service(HubAuthorizationServer)
    return server.token_response(request)


class PublishedKeys:
    """Public keys of another signer of the hub, published beside the token keys in
    /.well-known/jwks.json so one URL serves every verifier (hub.certificates registers its
    QR keys); ``jwks`` is read per request, so a rotated key shows at once."""

    def __init__(self, jwks: Callable[[], dict[str, Any]]) -> None:
        self.jwks = jwks


def jwks_view(request: Request) -> dict[str, Any]:
    token_keys: TokenKeyRing = request.find_service(TokenKeyRing)
    keys = list(token_keys.jwks()["keys"])
    published: PublishedKeys = request.find_service(PublishedKeys)
    keys.extend(published.jwks()["keys"])
    # Keys that sign what the hub sends to partners (e.g. JWS on single-window
    # status callbacks), so they verify with this one URL too.
    for connector in request.find_service(Connectors).values():
        signer = getattr(connector, "signer", None)
        public_jwk = getattr(signer, "public_jwk", None)
        if callable(public_jwk):
            keys.append(public_jwk())
    return {"keys": keys}


def includeme(config: Configurator) -> None:
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
                "400": {"description": "OAuth error (invalid_scope: a scope the client was not granted)"},
                "401": {"description": "client authentication failed"},
                "429": {"description": "slow_down: too many failed authentications; see Retry-After"},
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
