"""Partner authentication: OAuth2 client credentials, RFC 9068 access tokens, scopes."""

from __future__ import annotations

from pyramid.config import Configurator

from hub.auth.oauth import HubAuthorizationServer
from hub.auth.tokens import AccessTokenValidator, TokenKeyRing
from hub.crypto import token_key_box
from hub.db import Database
from hub.lookup import process_service


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    keys = TokenKeyRing(
        process_service(config.registry, Database).sessions,
        token_key_box(settings),
        settings["hub.oauth.token_lifetime"],
    )
    # Create the first signing key at startup, not inside some request.
    keys.reload()
    issuer, audience = settings["hub.oauth.issuer"], settings["hub.oauth.audience"]
    config.register_service(keys, TokenKeyRing)
    config.register_service(
        AccessTokenValidator(keys, issuer=issuer, audience=audience), AccessTokenValidator
    )
    config.register_service(
        HubAuthorizationServer(
            keys, issuer=issuer, audience=audience, lifetime=settings["hub.oauth.token_lifetime"]
        ),
        HubAuthorizationServer,
    )
    config.include("hub.auth.oauth")
