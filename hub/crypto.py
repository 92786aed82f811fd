"""Encryption at rest with a key derived from ``hub.secret_key``.

Used for the token signing keys, SOAP username-token passwords and bank
account numbers. Fernet (AES-128-CBC + HMAC-SHA256) because it is authenticated,
versioned and in ``cryptography`` already; a per-purpose key is derived with
HKDF so one leaked ciphertext class does not help against another.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    def __init__(self, secret_key: str, purpose: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
            secret_key.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("ciphertext does not decrypt with this hub.secret_key") from None


def token_key_box(settings: Mapping[str, Any]) -> SecretBox:
    """Encrypts the token signing keys in the database."""
    return SecretBox(settings["hub.secret_key"], "token-signing-keys")


def soap_password_box(settings: Mapping[str, Any]) -> SecretBox:
    """Encrypts partners' WS-Security UsernameToken passwords."""
    return SecretBox(settings["hub.secret_key"], "soap-username-token")
