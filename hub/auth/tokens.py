"""Access tokens: RFC 9068 JWTs signed with a rotating RSA key kept in the database.

RS256 because verification is what every request pays for and RSA-2048
verification is several times cheaper than ECDSA P-256 with ``cryptography``;
signing (the token endpoint) is rare. Keys are stored encrypted with
``hub.secret_key`` so every process and machine signs and verifies with the
same set; after a rotation older keys stay published until the last token they
signed has expired.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hub.crypto import SecretBox
from hub.models import TokenSigningKey, utcnow

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"


def create_signing_key(session: Session, box: SecretBox) -> TokenSigningKey:
    key = RSAKey.generate_key(2048, auto_kid=True)
    row = TokenSigningKey(
        kid=key.kid,
        algorithm=ALGORITHM,
        private_jwk_encrypted=box.encrypt(_json(key.as_dict(private=True))),
        public_jwk={**key.as_dict(private=False), "alg": ALGORITHM, "use": "sig"},
    )
    session.add(row)
    session.flush()
    return row


def rotate_signing_key(session: Session, box: SecretBox) -> TokenSigningKey:
    """Make a new key current; the old ones are retired but stay published."""
    now = utcnow()
    for row in session.execute(select(TokenSigningKey).where(TokenSigningKey.retired_at.is_(None))).scalars():
        row.retired_at = now
    return create_signing_key(session, box)


def _json(data: object) -> str:
    import json

    return json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: int
    jti: str


class InvalidAccessToken(Exception):
    """Any defect in a bearer token: the caller answers 401 and says no more."""


class TokenKeyRing:
    """The signing key and the published verification keys, cached per process.

    Reloaded from the database every ``refresh_seconds`` and at once (at most
    once a second) when a token names a kid we have not seen, so a rotation on
    one machine is honoured everywhere without restarts.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        box: SecretBox,
        token_lifetime: int,
        refresh_seconds: float = 30.0,
    ) -> None:
        self._session_factory = session_factory
        self._box = box
        self._lifetime = token_lifetime
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._signing: RSAKey | None = None
        self._public = KeySet([])
        self._public_dicts: list[dict[str, str]] = []

    def _load(self, attempts: int = 5) -> None:
        with self._session_factory() as session:
            rows = list(session.execute(select(TokenSigningKey).order_by(TokenSigningKey.id)).scalars())
            current = [r for r in rows if r.retired_at is None]
            if not current:
                # Several processes may start on an empty database at once: one
                # creates the first key, the others find it on their next read.
                try:
                    current = [create_signing_key(session, self._box)]
                    session.commit()
                except (OperationalError, IntegrityError):
                    session.rollback()
                    if attempts <= 1:
                        raise
                    time.sleep(0.05 + random.random() * 0.2)
                    return self._load(attempts - 1)
                rows.extend(current)
        cutoff = utcnow() - timedelta(seconds=self._lifetime + 60)
        published = [r for r in rows if r.retired_at is None or r.retired_at > cutoff]
        newest = current[-1]
        self._signing = RSAKey.import_key(_loads(self._box.decrypt(newest.private_jwk_encrypted)))
        self._public_dicts = [dict(r.public_jwk) for r in published]
        self._public = KeySet([RSAKey.import_key(dict(d)) for d in self._public_dicts])
        self._loaded_at = time.monotonic()

    def _ensure(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self._signing is not None and now - self._loaded_at < self._refresh:
            return
        with self._lock:
            if force and now - self._loaded_at < 1.0 and self._signing is not None:
                return
            if force or self._signing is None or now - self._loaded_at >= self._refresh:
                self._load()

    def signing_keyset(self) -> KeySet:
        self._ensure()
        assert self._signing is not None
        return KeySet([self._signing])

    def public_keyset(self, kid: str | None = None) -> KeySet:
        self._ensure()
        if kid is not None and not any(d.get("kid") == kid for d in self._public_dicts):
            self._ensure(force=True)
        return self._public

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        self._ensure()
        return {"keys": list(self._public_dicts)}

    def reload(self) -> None:
        """Read the keys from the database now (startup, after a rotation)."""
        with self._lock:
            self._load()


def _loads(text: str) -> dict[str, str | list[str]]:
    import json

    data: dict[str, str | list[str]] = json.loads(text)
    return data


class AccessTokenValidator:
    """Checks a bearer token; caches the verdict for valid tokens until they expire.

    The cache holds only what a signature check already proved about an
    immutable string, so it is safe per process; it is bounded and swept.
    """

    MAX_CACHED = 20_000

    def __init__(self, keys: TokenKeyRing, issuer: str, audience: str) -> None:
        self._keys = keys
        self._registry = JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
            client_id={"essential": True},
            jti={"essential": True},
        )
        self._cache: dict[str, AccessToken] = {}

    def validate(self, token: str) -> AccessToken:
        now = int(time.time())
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > now:
                return cached
            self._cache.pop(token, None)
            raise InvalidAccessToken("expired")
        try:
            kid = extract_compact(token.encode("ascii")).headers().get("kid")
            decoded = jwt.decode(token, self._keys.public_keyset(kid), algorithms=[ALGORITHM])
            if str(decoded.header.get("typ", "")).lower() not in {TOKEN_TYPE, "application/" + TOKEN_TYPE}:
                raise InvalidAccessToken("not an access token")
            self._registry.validate(decoded.claims)
        except (JoseError, ValueError, KeyError, TypeError, UnicodeError) as exc:
            raise InvalidAccessToken(type(exc).__name__) from None
        claims = decoded.claims
        scope = claims.get("scope") or ""
        if not isinstance(scope, str):
            raise InvalidAccessToken("scope")
        access = AccessToken(
            client_id=str(claims["client_id"]),
            scopes=frozenset(scope.split()),
            expires_at=int(claims["exp"]),
            jti=str(claims["jti"]),
        )
        if len(self._cache) >= self.MAX_CACHED:
            self._cache = {t: a for t, a in self._cache.items() if a.expires_at > now}
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
        self._cache[token] = access
        return access
