"""Who is calling a SOAP operation: an OAuth bearer token, or a WS-Security UsernameToken.

UsernameToken follows the OASIS WSS 1.0 UsernameToken Profile with
``PasswordDigest = Base64(SHA-1(nonce + created + password))`` only: a
PasswordText token would put the partner's SOAP password on every request
(and in every log of every TLS-terminating proxy), so it is refused. The
username is the partner's ``client_id``, the password its SOAP password
(stored encrypted, ``PartnerClient.soap_password_encrypted``).

Replay protection: ``Created`` must lie within ``clock_skew`` of the hub's
clock, and a nonce is accepted once per client while its Created is in that
window. Nonces live in a store every process shares (``soap_nonces`` in the
database, or Redis when ``hub.redis_url`` is set), written on their own short
transaction so a request that fails later still burns its nonce.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from lxml import etree
from pyramid.request import Request
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import Executable

from hub.api import ClientStatus, authenticate
from hub.auth.tokens import InvalidAccessToken
from hub.crypto import SecretBox
from hub.db import Database
from hub.lookup import process_service
from hub.models import PartnerClient
from hub.models.soap import SoapNonce
from hub.shared_state import redis_client
from hub.soap.envelope import SoapFault

log = logging.getLogger(__name__)

WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_DIGEST = _PROFILE + "#PasswordDigest"
PASSWORD_TEXT = _PROFILE + "#PasswordText"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

SECURITY_TAG = f"{{{WSSE_NS}}}Security"
_USERNAME_TOKEN = f"{{{WSSE_NS}}}UsernameToken"
_USERNAME = f"{{{WSSE_NS}}}Username"
_PASSWORD = f"{{{WSSE_NS}}}Password"
_NONCE = f"{{{WSSE_NS}}}Nonce"
_CREATED = f"{{{WSU_NS}}}Created"

MIN_NONCE_BYTES = 16
MAX_NONCE_BYTES = 64
# Kept a little past the window so a purge racing a check never frees a live nonce.
_RETENTION_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class SoapCaller:
    """The partner behind a SOAP request, however it authenticated (``request.partner`` too)."""

    client_id: str
    scopes: frozenset[str]
    method: Literal["bearer", "username_token"]


def _invalid() -> SoapFault:
    # One answer for unknown user, wrong password and malformed tokens alike.
    return SoapFault("invalid_token")


# ----------------------------------------------------------------- nonce stores


class NonceStore(Protocol):
    def remember(self, client_id: str, nonce: str, created: datetime, expires_at: datetime) -> bool:
        """Record the nonce; False when it was already recorded (a replay)."""


class SqlNonceStore:
    """``soap_nonces`` with ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite >= 3.24, PostgreSQL).

    Each insert commits on its own connection from the engine, not in the
    request's unit of work. Expired rows are purged by :meth:`purge_expired`,
    called from here at most once a minute per process (and callable from a
    periodic worker job).
    """

    PURGE_EVERY_SECONDS = 60.0

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._last_purge = 0.0
        self._lock = threading.Lock()

    def _insert(self, client_id: str, nonce: str, created: datetime, expires_at: datetime) -> Executable:
        values = {"client_id": client_id, "nonce": nonce, "created_at": created, "expires_at": expires_at}
        if self._dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return (
                pg_insert(SoapNonce)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["client_id", "nonce"])
                .returning(SoapNonce.client_id)
            )
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return (
            sqlite_insert(SoapNonce)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["client_id", "nonce"])
            .returning(SoapNonce.client_id)
        )

    def remember(self, client_id: str, nonce: str, created: datetime, expires_at: datetime) -> bool:
        statement = self._insert(client_id, nonce, created, expires_at)
        with self._engine.begin() as conn:
            # RETURNING, not rowcount: drivers disagree on rowcount after ON CONFLICT.
            inserted = conn.execute(statement).first() is not None
        now = time.monotonic()
        if now - self._last_purge > self.PURGE_EVERY_SECONDS:
            with self._lock:
                if now - self._last_purge > self.PURGE_EVERY_SECONDS:
                    self._last_purge = now
                    self.purge_expired()
        return inserted

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete nonces whose token can no longer pass the Created check; returns how many."""
        statement = delete(SoapNonce).where(SoapNonce.expires_at < (now or datetime.now(UTC)))
        with self._engine.begin() as conn:
            return int(conn.execute(statement).rowcount)


class RedisNonceStore:
    """``SET NX EX``: one round trip, expiry handled by Redis."""

    def __init__(self, url: str, prefix: str = "hub:soap:nonce:") -> None:
        self._redis = redis_client(url)
        self._prefix = prefix

    def remember(self, client_id: str, nonce: str, created: datetime, expires_at: datetime) -> bool:
        ttl = max(1, int((expires_at - datetime.now(UTC)).total_seconds()) + 1)
        key = self._prefix + client_id + ":" + hashlib.sha256(nonce.encode("ascii")).hexdigest()
        return bool(self._redis.set(key, b"1", nx=True, ex=ttl))


# ----------------------------------------------------------------- UsernameToken


def _text(parent: etree._Element, tag: str, max_length: int) -> str:
    found = parent.findall(tag)
    if len(found) != 1:
        raise _invalid()
    value = (found[0].text or "").strip()
    if not value or len(value) > max_length:
        raise _invalid()
    return value


def _parse_created(raw: str) -> datetime:
    try:
        created = datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid() from None
    if created.tzinfo is None:
        # The profile says UTC; a zone-less time is ambiguous, refuse it.
        raise _invalid()
    return created.astimezone(UTC)


def _b64(raw: str) -> bytes:
    try:
        return base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid() from None


class UsernameTokenVerifier:
    def __init__(self, store: NonceStore, box: SecretBox, clock_skew_seconds: int = 300) -> None:
        self.store = store
        self._box = box
        self._skew = timedelta(seconds=clock_skew_seconds)

    def verify(self, request: Request, security: etree._Element, now: datetime | None = None) -> SoapCaller:
        tokens = security.findall(_USERNAME_TOKEN)
        if len(tokens) != 1:
            raise _invalid()
        token = tokens[0]
        username = _text(token, _USERNAME, 64)
        passwords = token.findall(_PASSWORD)
        if len(passwords) != 1:
            raise _invalid()
        # The profile's default Type is PasswordText.
        if passwords[0].get("Type", PASSWORD_TEXT) != PASSWORD_DIGEST:
            raise SoapFault("wsse_password_digest_required")
        digest = _b64(_text(token, _PASSWORD, 64))
        nonce_element = token.findall(_NONCE)
        if len(nonce_element) != 1 or nonce_element[0].get("EncodingType", BASE64_BINARY) != BASE64_BINARY:
            raise _invalid()
        nonce = _b64(_text(token, _NONCE, 128))
        if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
            raise _invalid()
        created_raw = _text(token, _CREATED, 40)
        created = _parse_created(created_raw)
        now = now or datetime.now(UTC)
        if abs(now - created) > self._skew:
            raise SoapFault("wsse_created_out_of_window")

        # On a connection of its own, not request.dbsession: the nonce store commits next, and a
        # SQLite (WAL) transaction that had read before that commit could no longer write.
        with process_service(request.registry, Database).engine.connect() as conn:
            row = conn.execute(
                select(
                    PartnerClient.active, PartnerClient.scopes, PartnerClient.soap_password_encrypted
                ).where(PartnerClient.client_id == username)
            ).first()
        password = ""
        if row is not None and row.soap_password_encrypted:
            try:
                password = self._box.decrypt(row.soap_password_encrypted)
            except ValueError:
                log.error("SOAP password does not decrypt with hub.secret_key", extra={"client_id": username})
        # Computed even for unknown users so both cases cost the same.
        # SHA-1 is what the UsernameToken Profile 1.0 prescribes for the digest.
        expected = hashlib.sha1(  # noqa: S324
            nonce + created_raw.encode("utf-8") + password.encode("utf-8")
        ).digest()
        if not (hmac.compare_digest(expected, digest) and password):
            raise _invalid()
        assert row is not None
        if not row.active or not process_service(request.registry, ClientStatus).is_active(username):
            raise _invalid()
        # Burn the nonce only for a token that proved the password: strangers
        # cannot fill the table, and a failure after this point still burns it.
        canonical = base64.b64encode(nonce).decode("ascii")
        if not self.store.remember(username, canonical, created, created + self._skew + _RETENTION_MARGIN):
            raise SoapFault("wsse_nonce_replayed")
        return SoapCaller(username, frozenset(row.scopes or ()), "username_token")


def bearer_caller(request: Request) -> SoapCaller:
    """The partner behind the HTTP bearer token: judged before the envelope is read."""
    try:
        access = authenticate(request)
    except InvalidAccessToken:
        raise _invalid() from None
    return SoapCaller(access.client_id, access.scopes, "bearer")


def security_headers(request: Request, header: etree._Element | None) -> list[etree._Element]:
    """The envelope's wsse:Security blocks; a Fault if they and the HTTP headers hold more than one credential."""
    securities = header.findall(SECURITY_TAG) if header is not None else []
    if len(securities) > 1 or (securities and "Authorization" in request.headers):
        # Two credentials that might name two clients: refuse rather than pick one.
        raise _invalid()
    return securities


def authenticate_soap(request: Request, header: etree._Element | None) -> SoapCaller:
    """Exactly one credential: a bearer token in HTTP, or a UsernameToken in the SOAP header."""
    securities = security_headers(request, header)
    if securities:
        verifier = process_service(request.registry, UsernameTokenVerifier)
        return verifier.verify(request, securities[0])
    return bearer_caller(request)
