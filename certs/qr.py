"""The QR payload: a compact JWS anyone holding our JWKS can check on a printout, offline.

Key choice: a dedicated ECDSA P-256 key per signing identity (ES256), not the RSA document key.
An ES256 signature is 64 bytes (86 base64url characters) against 256 bytes (342 characters)
for RSA-2048, which keeps the code at a version a phone camera reads off paper; ES256 is in
every JOSE library, and the key is published in :meth:`certs.keys.KeyRing.public_jwks` under
the identity's ``kid``. JWS over CBOR/COSE would be a little smaller but needs a CBOR stack in
every verifier app; the JWS is already small enough.

Claims use short names because every byte grows the QR:

====  ==========================================================
``n``  certificate number           ``k``  kind
``c``  verification code            ``h``  holder name (as printed)
``iat`` issue time (epoch seconds)  ``exp`` end of validity (epoch seconds)
``d``  base64url SHA-256 of the signed XML bytes
``u``  verification URL
====  ==========================================================

The printout shows all of these already, so the QR reveals no extra personal data.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import ECKey, KeySet

from certs.document import Document
from certs.errors import QrBadSignatureError, QrExpiredError, QrMalformedError, QrUnknownKeyError
from certs.keys import SigningIdentity

ALGORITHM = "ES256"
MAX_TOKEN_CHARS = 2048


@dataclass(frozen=True)
class QrClaims:
    kid: str
    number: str
    kind: str
    verification_code: str
    holder_name: str
    issued_at: dt.datetime
    valid_until: dt.datetime
    xml_sha256: str  # hex, comparable with IssuedDocument.xml_sha256
    verification_url: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class QrSigner:
    """Signs QR payloads with one identity's P-256 key (the joserfc key is imported once)."""

    def __init__(self, identity: SigningIdentity) -> None:
        self.kid = identity.kid
        self._key = ECKey.import_key(identity.qr_key)

    def sign(self, doc: Document, xml_sha256: bytes) -> str:
        claims = {
            "n": doc.number,
            "k": doc.kind,
            "c": doc.verification_code,
            "h": doc.holder.display_name,
            "iat": int(doc.issued_at.timestamp()),
            "exp": int(doc.valid_until.timestamp()),
            "d": _b64url(xml_sha256),
            "u": doc.verification_url,
        }
        payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        token: str = jws.serialize_compact({"alg": ALGORITHM, "kid": self.kid}, payload, self._key)
        return token


def _keyset(jwks: Mapping[str, Any] | KeySet) -> KeySet:
    if isinstance(jwks, KeySet):
        return jwks
    return KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]


def verify_qr_payload(
    token: str,
    jwks: Mapping[str, Any] | KeySet,
    *,
    now: dt.datetime | None = None,
    leeway: dt.timedelta = dt.timedelta(0),
) -> QrClaims:
    """Check a scanned token against a JWKS; raise a :class:`~certs.errors.QrPayloadError` subclass.

    Codes: ``qr_malformed``, ``qr_unknown_kid``, ``qr_bad_signature``, ``qr_expired``.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise QrMalformedError("not a compact JWS")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise QrMalformedError("not a compact JWS") from None
    if header.get("alg") != ALGORITHM:
        raise QrMalformedError("unsupported algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise QrUnknownKeyError("the payload names no key")
    keyset = _keyset(jwks)
    key = next((k for k in keyset.keys if k.kid == kid), None)
    if key is None:
        raise QrUnknownKeyError("the payload was signed with a key that is not published")
    try:
        verified = jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
    except BadSignatureError:
        raise QrBadSignatureError("the payload signature does not verify") from None
    except (JoseError, ValueError):
        raise QrMalformedError("the payload cannot be read") from None
    try:
        claims = json.loads(verified.payload)
        result = QrClaims(
            kid=kid,
            number=str(claims["n"]),
            kind=str(claims["k"]),
            verification_code=str(claims["c"]),
            holder_name=str(claims["h"]),
            issued_at=dt.datetime.fromtimestamp(int(claims["iat"]), dt.UTC),
            valid_until=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
            xml_sha256=base64.urlsafe_b64decode(claims["d"] + "==").hex(),
            verification_url=str(claims["u"]),
        )
    except (ValueError, KeyError, TypeError):
        raise QrMalformedError("the payload claims are incomplete") from None
    if (now or dt.datetime.now(dt.UTC)) > result.valid_until + leeway:
        raise QrExpiredError("the document's validity has ended")
    return result
