"""Partner authentication: OAuth2 client credentials, RFC 9068 access tokens, scopes."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include("hub.auth.oauth")
