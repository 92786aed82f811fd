"""The body cap of SOAP paths, answered with a Fault before anything reads the body.

The platform's outer cap (hub.observability) answers problem+json; a SOAP
client needs a Fault it can parse. This tween sits above it and looks only at
POSTs to the fixed SOAP paths: a dict lookup for every other request.
"""

from __future__ import annotations

from collections.abc import Callable

from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from hub.lookup import registered
from hub.soap.envelope import SOAP11, SoapFault, fault_response
from hub.soap.service import SoapRoutes, content_version


def soap_ingress_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    paths = registered(registry, SoapRoutes).body_caps

    def tween(request: Request) -> Response:
        # PATH_INFO as the server passed it: the SOAP paths are ASCII, so this is the
        # decoded path for them, without request.path_info's decoding on every request.
        environ = request.environ
        cap = paths.get(environ.get("PATH_INFO", ""))
        if cap is None or environ.get("REQUEST_METHOD") != "POST":
            return handler(request)
        length = request.content_length
        if length is None and request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            # No length to judge by: read at most one byte past the cap.
            data = request.body_file_raw.read(cap + 1)
            if len(data) <= cap:
                request.body = data
                return handler(request)
        elif length is None or length <= cap:
            return handler(request)
        version = content_version(request)[0] or SOAP11
        return fault_response(version, SoapFault("body_too_large"))

    return tween
