"""The platform through the WSGI app: errors, auth, health, OpenAPI."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, cast

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.api import ApiOperations, ClientStatus
from hub.auth.tokens import TokenKeyRing, rotate_signing_key
from hub.crypto import token_key_box
from hub.db import Database
from hub.lookup import process_service, registered
from hub.soap.service import SoapRoutes


def test_liveness_and_readiness(testapp: TestApp) -> None:
    assert testapp.get("/healthz").json == {"status": "ok"}
    ready = testapp.get("/readyz").json
    assert ready["status"] == "ok"
    assert ready["checks"]["database"] == {"status": "ok"}


def test_unknown_route_is_problem_json(testapp: TestApp) -> None:
    response = testapp.get("/no/such/thing", status=404)
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "not_found"
    assert response.json["status"] == 404
    assert response.headers["X-Request-Id"] == response.json["request_id"]


def test_wrong_method_is_405_with_allow(testapp: TestApp) -> None:
    response = testapp.delete("/healthz", status=405)
    assert response.json["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, HEAD"


def test_partner_request_id_is_echoed(testapp: TestApp) -> None:
    response = testapp.get("/healthz", headers={"X-Request-Id": "sw-2026-11-23-000042"})
    assert response.headers["X-Request-Id"] == "sw-2026-11-23-000042"
    # A hostile id is replaced, never echoed.
    response = testapp.get("/healthz", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert "<" not in response.headers["X-Request-Id"]


def test_token_and_protected_call(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["hub:ping"])
    response = testapp.get("/api/v1/ping", headers=client["headers"])
    assert response.json == {"status": "ok", "client_id": client["client_id"]}
    claims = jwt.decode(
        client["token"], process_service(testapp.app.registry, TokenKeyRing).public_keyset()
    ).claims
    assert claims["client_id"] == client["client_id"]
    assert claims["aud"] == "discom-hub"
    assert claims["exp"] - claims["iat"] == 900
    assert (
        jwt.decode(
            client["token"], process_service(testapp.app.registry, TokenKeyRing).public_keyset()
        ).header["typ"]
        == "at+jwt"
    )


def test_token_endpoint_rejects_bad_secret_and_post_auth(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["hub:ping"])
    bad = base64.b64encode(f"{client['client_id']}:wrong".encode()).decode()
    response = testapp.post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + bad},
        status=401,
    )
    assert response.json["error"] == "invalid_client"
    # client_secret_post is not an allowed method for our clients
    response = testapp.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
        status=401,
    )
    assert response.json["error"] == "invalid_client"


def test_token_endpoint_wrong_content_type(testapp: TestApp) -> None:
    response = testapp.post(
        "/oauth/token",
        json.dumps({"grant_type": "client_credentials"}),
        content_type="application/json",
        status=415,
    )
    assert response.json["code"] == "unsupported_media_type"


def test_a_scope_the_client_was_not_granted_is_invalid_scope(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["hub:ping", "certificates:read"])
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()

    def token(scope: str | None, status: int = 200) -> Any:
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
        return testapp.post("/oauth/token", form, headers={"Authorization": "Basic " + basic}, status=status)

    refused = token("hub:ping kyc:export", status=400)
    assert refused.json["error"] == "invalid_scope" and "access_token" not in refused.json
    assert refused.headers["Cache-Control"] == "no-store"
    assert token("kyc:export", status=400).json["error"] == "invalid_scope"
    assert token("hub:ping").json["scope"] == "hub:ping"
    assert token(None).json["scope"] == "certificates:read hub:ping"


def test_wrong_scope_is_403_with_insufficient_scope(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["kyc:read"])
    response = testapp.get("/api/v1/ping", headers=client["headers"], status=403)
    assert response.json["code"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def _forge(claims: dict[str, Any], key: Any, alg: str, header: dict[str, Any] | None = None) -> str:
    return jwt.encode({"alg": alg, "typ": "at+jwt", **(header or {})}, claims, key)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(client_id: str, **override: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "http://hub.test",
        "aud": "discom-hub",
        "client_id": client_id,
        "sub": client_id,
        "iat": now,
        "exp": now + 600,
        "jti": "x1",
        "scope": "hub:ping",
    }
    base.update(override)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "defect",
    [
        "missing",
        "garbage",
        "expired",
        "nbf_future",
        "wrong_audience",
        "wrong_issuer",
        "foreign_key",
        "alg_none",
        "hs256_with_public_key",
        "query_string",
        "basic_scheme",
        "no_jti",
    ],
)
def test_every_token_defect_is_401(testapp: TestApp, make_client: Any, defect: str) -> None:
    client = make_client(["hub:ping"])
    cid = client["client_id"]
    keys = process_service(testapp.app.registry, TokenKeyRing)
    signing = keys.signing_keyset().keys[0]
    kid = signing.kid
    url = "/api/v1/ping"
    headers: dict[str, str] = {}
    if defect == "missing":
        pass
    elif defect == "garbage":
        headers["Authorization"] = "Bearer not.a.jwt"
    elif defect == "expired":
        headers["Authorization"] = "Bearer " + _forge(
            _claims(cid, exp=int(time.time()) - 5), signing, "RS256", {"kid": kid}
        )
    elif defect == "nbf_future":
        headers["Authorization"] = "Bearer " + _forge(
            _claims(cid, nbf=int(time.time()) + 3600), signing, "RS256", {"kid": kid}
        )
    elif defect == "wrong_audience":
        headers["Authorization"] = "Bearer " + _forge(
            _claims(cid, aud="someone-else"), signing, "RS256", {"kid": kid}
        )
    elif defect == "wrong_issuer":
        headers["Authorization"] = "Bearer " + _forge(
            _claims(cid, iss="http://evil.test"), signing, "RS256", {"kid": kid}
        )
    elif defect == "foreign_key":
        foreign = RSAKey.generate_key(2048)
        headers["Authorization"] = "Bearer " + _forge(_claims(cid), foreign, "RS256", {"kid": kid})
    elif defect == "alg_none":
        headers["Authorization"] = (
            "Bearer " + _b64({"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + _b64(_claims(cid)) + "."
        )
    elif defect == "hs256_with_public_key":
        # The classic confusion attack: HMAC keyed with the published RSA key.
        import hashlib
        import hmac

        assert isinstance(signing, (RSAKey, ECKey))
        public_pem = signing.as_pem(private=False)
        head = _b64({"alg": "HS256", "typ": "at+jwt", "kid": kid})
        body = _b64(_claims(cid))
        mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
        headers["Authorization"] = (
            f"Bearer {head}.{body}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        )
    elif defect == "query_string":
        url = "/api/v1/ping?access_token=" + client["token"]
        headers = dict(client["headers"])
    elif defect == "basic_scheme":
        headers["Authorization"] = "Basic " + client["token"]
    elif defect == "no_jti":
        headers["Authorization"] = "Bearer " + _forge(_claims(cid, jti=None), signing, "RS256", {"kid": kid})
    response = testapp.get(url, headers=headers, status=401)
    assert response.json["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_ec_key_of_same_kid_is_rejected(testapp: TestApp, make_client: Any) -> None:
    client = make_client(["hub:ping"])
    kid = process_service(testapp.app.registry, TokenKeyRing).signing_keyset().keys[0].kid
    forged = _forge(_claims(client["client_id"]), ECKey.generate_key("P-256"), "ES256", {"kid": kid})
    testapp.get("/api/v1/ping", headers={"Authorization": "Bearer " + forged}, status=401)


def test_revoked_client_loses_access(testapp: TestApp, make_client: Any, dbsession: Any) -> None:
    from hub.auth.clients import revoke_client

    client = make_client(["hub:ping"])
    testapp.get("/api/v1/ping", headers=client["headers"])
    assert revoke_client(dbsession, client["client_id"])
    dbsession.flush()
    with process_service(testapp.app.registry, ClientStatus).reading_from(dbsession.connection()):
        testapp.get("/api/v1/ping", headers=client["headers"], status=401)


def test_key_rotation_keeps_old_tokens_valid(testapp: TestApp, make_client: Any, dbsession: Any) -> None:
    old = make_client(["hub:ping"])
    registry = testapp.app.registry
    keys = process_service(registry, TokenKeyRing)
    old_kid = keys.signing_keyset().keys[0].kid
    rotate_signing_key(dbsession, token_key_box(registry.settings))
    dbsession.flush()
    keys._session_factory = lambda: cast(Session, _NonClosing(dbsession))
    try:
        keys.reload()
        new_kid = keys.signing_keyset().keys[0].kid
        assert new_kid != old_kid
        published = {k["kid"] for k in testapp.get("/.well-known/jwks.json").json["keys"]}
        assert {old_kid, new_kid} <= published
        testapp.get("/api/v1/ping", headers=old["headers"])
        fresh = make_client(["hub:ping"])
        assert jwt.decode(fresh["token"], keys.public_keyset()).header["kid"] == new_kid
        testapp.get("/api/v1/ping", headers=fresh["headers"])
    finally:
        keys._session_factory = process_service(registry, Database).sessions
        keys._signing = None


class _NonClosing:
    """Hands the test's session to code that opens and closes its own."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __enter__(self) -> Any:
        return self.session

    def __exit__(self, *exc: Any) -> None:
        return None


def test_oversized_body_is_413_before_parsing(testapp: TestApp) -> None:
    big = b"x" * (11 * 1024 * 1024)
    response = testapp.post("/oauth/token", big, content_type="application/x-www-form-urlencoded", status=413)
    assert response.json["code"] == "body_too_large"


def test_rate_limit_gives_429_with_retry_after(testapp: TestApp, make_client: Any, dbsession: Any) -> None:
    client = make_client(["hub:ping"], rate_per_minute=3)
    with process_service(testapp.app.registry, ClientStatus).reading_from(dbsession.connection()):
        codes = [
            testapp.get("/api/v1/ping", headers=client["headers"], expect_errors=True).status_int
            for _ in range(5)
        ]
        response = testapp.get("/api/v1/ping", headers=client["headers"], expect_errors=True)
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    assert response.status_int == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json["code"] == "rate_limited"


def test_openapi_lists_every_route(testapp: TestApp) -> None:
    document = testapp.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    registry = testapp.app.registry
    from pyramid.interfaces import IRoutesMapper

    listed = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    soap_routes = registered(registry, SoapRoutes).names
    for route in registry.queryUtility(IRoutesMapper).get_routes():
        if route.name in soap_routes:
            continue
        ops = [op for op in registered(registry, ApiOperations).operations if op["route_name"] == route.name]
        assert ops, f"route {route.name} has no operation in /openapi.json"
        assert {op["operation_id"] for op in ops} <= listed
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_docs_page_works_offline(testapp: TestApp) -> None:
    page = testapp.get("/docs")
    assert "/openapi.json" in page.text
    assert "http" not in page.text.replace("http://", "").split("<script>")[1].split("</script>")[0]


@pytest.mark.parametrize("path", ['/verify/"},{"admin":true}/प्रमाण\n', '/verify/"},{"admin":true}\\\n\x00'])
def test_access_record_is_one_json_line_even_for_hostile_paths(capsys: Any, path: str, wsgi_app: Any) -> None:
    from urllib.parse import quote

    from pyramid.response import Response

    from hub.observability import configure_logging, current_request_id, log_access
    from hub.request import HubRequest

    configure_logging(json_logs=False)
    request = HubRequest.blank(quote(path), method='P"UT')
    request.registry = wsgi_app.registry
    capsys.readouterr()
    token = current_request_id.set("abc12345")
    try:
        log_access(request, Response(status=404), time.perf_counter())
    finally:
        current_request_id.reset(token)
    line = capsys.readouterr().err
    assert line.endswith("\n") and line.count("\n") == 1
    entry = json.loads(line)
    assert entry["logger"] == "hub.access" and entry["path"] == path and entry["method"] == 'P"UT'
    assert entry["status"] == 404 and entry["request_id"] == "abc12345" and "admin" not in entry
