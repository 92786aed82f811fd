"""The hub's request class and its request-scoped properties.

:class:`HubRequest` carries what Pyramid's ``add_request_method`` cannot: a class-level
body buffer size and webob's ``client_addr`` replaced by one that believes only the hub's
own proxies. Everything request-scoped is added the stock way in :func:`includeme`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from hub.db import dbsession_for


def client_address(
    environ: Mapping[str, Any], trusted_proxies: Sequence[IPv4Network | IPv6Network]
) -> str | None:
    """The address of whoever sent the request: the one answer to "which address is this".

    REMOTE_ADDR, unless it is one of the hub's own proxies (``hub.trusted_proxies``): then
    X-Forwarded-For is read from the right, past every trusted proxy, and the first address
    no proxy of ours vouches for is the client. Anything further left was written by the
    client itself, and anyone can write anything there.
    """
    remote = environ.get("REMOTE_ADDR") or None
    if not trusted_proxies or remote is None or not _is_trusted(remote, trusted_proxies):
        return remote
    nearest = remote
    for hop in reversed(environ.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        try:
            address = ip_address(hop.strip())
        except ValueError:
            # A proxy of ours writes addresses only: the nearest one it vouched for stands.
            return nearest
        nearest = str(address)
        if not any(address in network for network in trusted_proxies):
            return nearest
    return nearest


def _is_trusted(remote: str, trusted_proxies: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        address = ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in trusted_proxies)


class HubRequest(Request):  # type: ignore[misc]
    # pyramid_retry makes every POST body seekable; webob writes bodies over this size to a
    # temporary file first (10 KiB by default, less than one SOAP batch). Bodies are capped
    # before this (hub.max_body_bytes, the SOAP and upload caps), so a copy in memory is
    # bounded by the same caps.
    request_body_tempfile_limit = 2 * 1024 * 1024

    @property
    def client_addr(self) -> str | None:
        """The client's address (:func:`client_address`), not webob's, which believes
        X-Forwarded-For from anyone."""
        return client_address(self.environ, self.registry.settings["hub.trusted_proxies"])

    # Set by hub.api for authenticated partner requests.
    partner: Any = None
    request_id: str = "-"


def includeme(config: Configurator) -> None:
    # The request's session, made on first use (hub.db).
    config.add_request_method(dbsession_for, "dbsession", reify=True)
