"""The hub's request class.

Pyramid implements ``add_request_method(..., reify=True)`` by building a new
class for every request, which cost ~40 µs and a sevenfold rise in garbage
collections per request (measured by bench/profile_platform.py). The
request-scoped properties the hub relies on are declared here once instead,
and :func:`adopt_request_properties` removes them from Pyramid's per-request
extensions after the configuration is committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

import pyramid_services
import pyramid_tm
from pyramid.config import Configurator
from pyramid.decorator import reify
from pyramid.interfaces import IRequestExtensions
from pyramid.request import Request
from webob.request import DisconnectionError

from hub.db import dbsession_for
from hub.observability import content_length


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
    # temporary file first (10 KiB by default: a 1,000-item SOAP batch took ~2 ms of disk
    # writes). Bodies are capped before this (hub.max_body_bytes, the SOAP and upload caps),
    # so a copy in memory is bounded by the same caps.
    request_body_tempfile_limit = 2 * 1024 * 1024

    def _read_body(self) -> bytes:
        """``request.body``: a body of known length (under the in-memory cap) read in one call.

        webob reads through a LimitedLengthFile and a BufferedReader in 64 KiB steps,
        then copies the bytes out of the BytesIO it made (~15 µs a small request,
        more from granian's input stream). The bytes are then set as webob would, so
        every later reader (pyramid_retry's replay included) sees the same body.
        """
        environ = self.environ
        if not environ.get("webob.is_body_seekable"):
            length = content_length(environ)
            if length is not None and 0 < length <= self.request_body_tempfile_limit:
                stream = environ["wsgi.input"]
                data = stream.read(length)
                while len(data) < length:
                    more = stream.read(length - len(data))
                    if not more:
                        raise DisconnectionError(
                            f"The client disconnected while sending the body ({length - len(data)} more "
                            "bytes were expected)"
                        )
                    data += more
                Request.body.fset(self, data)
                return data
        body: bytes = Request.body.fget(self)
        return body

    body = property(_read_body, Request.body.fset, Request.body.fdel)

    # pyramid_services' request methods. Pyramid would bind and set both on every request
    # (apply_request_extensions); as methods of the class they cost nothing until called.
    find_service = pyramid_services.find_service
    find_service_factory = pyramid_services.find_service_factory

    @reify
    def tm(self) -> Any:
        return pyramid_tm.create_tm(self)

    @reify
    def services(self) -> Any:
        return pyramid_services.get_services(self)

    @reify
    def dbsession(self) -> Any:
        return dbsession_for(self)

    @property
    def client_addr(self) -> str | None:
        """The client's address (:func:`client_address`), not webob's, which believes
        X-Forwarded-For from anyone."""
        return client_address(self.environ, self.registry.settings.get("hub.trusted_proxies") or ())

    # Set by hub.api for authenticated partner requests.
    partner: Any = None
    request_id: str = "-"


CLASS_PROPERTIES = ("tm", "services", "dbsession")
CLASS_METHODS = ("find_service", "find_service_factory")


def adopt_request_properties(config: Configurator) -> None:
    """Call after ``config.commit()``: let HubRequest's own properties and methods serve these
    names, and fix the paths that need no transaction (hub.db.needs_transaction).

    When no other extension is left, the router is told there are none: it then skips
    applying them to every request.
    """
    from hub.db import transaction_modes

    config.registry["transaction_modes"] = transaction_modes(config)
    extensions = config.registry.queryUtility(IRequestExtensions)
    if extensions is not None:
        for name in CLASS_PROPERTIES:
            extensions.descriptors.pop(name, None)
        for name in CLASS_METHODS:
            extensions.methods.pop(name, None)
        if not extensions.descriptors and not extensions.methods:
            config.registry.unregisterUtility(extensions, IRequestExtensions)
