"""Opaque, signed cursors for the change feed and for resumable exports.

Format: ``base64url(JSON payload) "." base64url(HMAC-SHA256(key, payload)[:16])``
with ``key = HMAC-SHA256(hub.secret_key, "kyc-cursor/v1")``. The payload
names the client, the purpose, the kind ("changes" or "export") and the
position (the last ``kyc_changes.id`` / ``kyc_records.id`` handed out). A
cursor altered in any byte, minted for another client or purpose, or of the
other kind is refused (400 ``kyc_cursor_invalid``): positions are internal
ids, and a client must not steer a scan with them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

_TAG_BYTES = 16
MAX_CURSOR_LENGTH = 400


class CursorInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Position:
    client_id: str
    purpose: str
    kind: str
    after: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorSigner:
    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode("utf-8"), b"kyc-cursor/v1", hashlib.sha256).digest()

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def sign(self, position: Position) -> str:
        payload = json.dumps(
            {"c": position.client_id, "p": position.purpose, "k": position.kind, "a": position.after},
            separators=(",", ":"),
            sort_keys=True,
        ).encode("utf-8")
        return _b64(payload) + "." + _b64(self._tag(payload))

    def verify(self, cursor: str, *, client_id: str, purpose: str, kind: str) -> int:
        """The position ``after`` a cursor this hub issued to this client for this purpose and kind."""
        if not cursor or len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise CursorInvalid("malformed cursor")
        body, tag = cursor.split(".")
        try:
            payload = _unb64(body)
            given = _unb64(tag)
        except (binascii.Error, ValueError):
            raise CursorInvalid("malformed cursor") from None
        # Only the canonical encoding: base64 ignores the spare bits of the last character,
        # and a cursor that can be altered without being refused is not tamper-evident.
        if _b64(payload) != body or _b64(given) != tag:
            raise CursorInvalid("malformed cursor")
        if not hmac.compare_digest(given, self._tag(payload)):
            raise CursorInvalid("cursor signature does not match")
        try:
            data = json.loads(payload)
            position = Position(str(data["c"]), str(data["p"]), str(data["k"]), int(data["a"]))
        except (ValueError, KeyError, TypeError):
            raise CursorInvalid("malformed cursor") from None
        if (position.client_id, position.purpose, position.kind) != (client_id, purpose, kind):
            raise CursorInvalid("cursor was issued for another client, purpose or listing")
        if position.after < 0:
            raise CursorInvalid("malformed cursor")
        return position.after
