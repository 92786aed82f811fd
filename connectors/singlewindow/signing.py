"""Signing the single-window deliveries (the "why" is in the package docstring).

Signers make the headers for a body; the verifiers are what a receiver
runs (the fake portal in the tests uses them; a state portal may copy them).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

JWS_HEADER = "X-JWS-Signature"
HMAC_HEADER = "X-Hub-Signature"
JWS_ALGORITHMS = ("ES256", "RS256")


class SignatureInvalid(ValueError):
    """A delivery whose signature does not verify (receiver side)."""


class Signer(Protocol):
    def headers(self, body: bytes) -> dict[str, str]: ...


class HmacSigner:
    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("connector singlewindow: 'hmac_secret' must be at least 32 characters")
        self._secret = secret.encode("utf-8")

    def headers(self, body: bytes, now: int | None = None) -> dict[str, str]:
        ts = int(time.time()) if now is None else now
        return {HMAC_HEADER: f"t={ts},v1={_mac(self._secret, ts, body)}"}


def _mac(secret: bytes, ts: int, body: bytes) -> str:
    return hmac.new(secret, str(ts).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


class JwsSigner:
    """Detached compact JWS (RFC 7515 appendix F) over the raw body, with ``kid``."""

    def __init__(self, key: ECKey | RSAKey, kid: str) -> None:
        if not kid:
            raise ValueError("connector singlewindow: 'jws_kid' is required")
        if isinstance(key, ECKey):
            if key.curve_name != "P-256":
                raise ValueError("connector singlewindow: EC keys must be P-256 (ES256)")
            self.alg = "ES256"
        else:
            self.alg = "RS256"
        self.key = key
        self.kid = kid

    @classmethod
    def from_pem_file(cls, path: str, kid: str) -> JwsSigner:
        pem = Path(path).read_bytes()
        key: ECKey | RSAKey
        try:
            key = ECKey.import_key(pem, {"kid": kid})
        except (JoseError, ValueError, TypeError):
            key = RSAKey.import_key(pem, {"kid": kid})
        return cls(key, kid)

    def headers(self, body: bytes) -> dict[str, str]:
        compact = jws.serialize_compact({"alg": self.alg, "kid": self.kid}, body, self.key)
        protected, _, signature = compact.split(".")
        return {JWS_HEADER: f"{protected}..{signature}"}

    def public_jwk(self) -> dict[str, Any]:
        """The public key for the hub's JWKS (``/.well-known/jwks.json``)."""
        jwk: dict[str, Any] = dict(self.key.as_dict(private=False))
        jwk.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return jwk


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify_hmac(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> None:
    value = _header(headers, HMAC_HEADER)
    if value is None:
        raise SignatureInvalid("no HMAC signature")
    parts = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    ts_raw, mac = parts.get("t", ""), parts.get("v1", "")
    if not ts_raw.isascii() or not ts_raw.isdigit() or len(ts_raw) > 12:
        raise SignatureInvalid("bad HMAC timestamp")
    if not hmac.compare_digest(_mac(secret.encode("utf-8"), int(ts_raw), body), mac):
        raise SignatureInvalid("HMAC signature wrong")
    if abs((time.time() if now is None else now) - int(ts_raw)) > tolerance:
        raise SignatureInvalid("HMAC signature too old")


def verify_jws(
    body: bytes, headers: Mapping[str, str], jwks: KeySet, algorithms: Collection[str] = JWS_ALGORITHMS
) -> str:
    """Verify the detached JWS with the sender's published keys; return the ``kid`` used."""
    value = _header(headers, JWS_HEADER)
    if value is None or value.count(".") != 2 or value.split(".")[1] != "":
        raise SignatureInvalid("no detached JWS")
    try:
        result = jws.deserialize_compact(value, jwks, payload=body, algorithms=list(algorithms))
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid(f"JWS does not verify ({type(exc).__name__})") from None
    return str(result.headers().get("kid", ""))
