"""Process-wide objects built once from settings: secret boxes, token keys, limiter."""

from __future__ import annotations

from pyramid.config import Configurator

from hub.api import ClientStatus
from hub.auth.tokens import AccessTokenValidator, TokenKeyRing
from hub.crypto import SecretBox
from hub.db import session_factory
from hub.ratelimit import RateLimiter, shared_counter


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    registry = config.registry
    engine = registry["db_engine"]
    secret = settings["hub.secret_key"]
    registry["secret_box.keys"] = SecretBox(secret, "token-signing-keys")
    registry["secret_box.soap"] = SecretBox(secret, "soap-username-token")
    keys = TokenKeyRing(
        session_factory(engine), registry["secret_box.keys"], settings["hub.oauth.token_lifetime"]
    )
    # Create the first signing key at startup, not inside some request.
    keys.reload()
    registry["token_keys"] = keys
    registry["token_validator"] = AccessTokenValidator(
        keys, issuer=settings["hub.oauth.issuer"], audience=settings["hub.oauth.audience"]
    )
    registry["client_status"] = ClientStatus(engine)
    registry["shared_counter"] = counter = shared_counter(settings, engine)
    registry["rate_limiter"] = RateLimiter(counter)
