"""Partner authentication: OAuth2 client credentials, RFC 9068 access tokens, scopes."""

from __future__ import annotations

from pyramid.config import Configurator

from hub.auth.tokens import AccessTokenValidator, TokenKeyRing
from hub.crypto import SecretBox
from hub.db import session_factory


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    registry = config.registry
    secret = settings["hub.secret_key"]
    registry["secret_box.keys"] = SecretBox(secret, "token-signing-keys")
    registry["secret_box.soap"] = SecretBox(secret, "soap-username-token")
    keys = TokenKeyRing(
        session_factory(registry["db_engine"]),
        registry["secret_box.keys"],
        settings["hub.oauth.token_lifetime"],
    )
    # Create the first signing key at startup, not inside some request.
    keys.reload()
    registry["token_keys"] = keys
    config.register_service(
        AccessTokenValidator(
            keys, issuer=settings["hub.oauth.issuer"], audience=settings["hub.oauth.audience"]
        ),
        AccessTokenValidator,
    )
    config.include("hub.auth.oauth")
