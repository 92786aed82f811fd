"""Typed look-up of the process's services for code that has no request, and for the layers every request passes.

Packages register what a view may look up, and a deployment may swap, with
``config.register_service(instance, Type)`` in their ``includeme``; views find it with
``request.find_service(Type)``. The worker, ``hub-admin`` commands, ``includeme`` functions
of the flows (the platform is committed before them, hub/__init__.py) and tests use
:func:`process_service`; so do the layers every request passes (hub.api's view deriver,
the SOAP stack's authentication and rate limit): ``request.find_service`` builds a service
container for each request that calls it, and what those layers find is process-wide anyway.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TypeVar, cast

from pyramid.registry import Registry
from pyramid_services import find_service_factory
from zope.interface.interface import InterfaceClass

T = TypeVar("T")


def registered(registry: Registry, kind: type[T]) -> T:
    """The process's one ``kind``: what a package's configuration directives collect (its SOAP
    services, its heartbeats, ...), made empty on first use and kept in the registry under its
    type, never under a name another package could reuse."""
    found = registry.get(kind)
    if found is None:
        found = registry[kind] = kind()
    return cast(T, found)


def process_service(registry: Registry, kind: type[T]) -> T:
    """The process-wide service registered for ``kind`` (``config.register_service``), for code
    that has no request (the worker, commands, tests) and the layers every request passes.
    Views use ``request.find_service(kind)``."""
    factory = find_service_factory(SimpleNamespace(registry=registry), kind)
    service = factory(None, None)
    provided = kind.providedBy(service) if isinstance(kind, InterfaceClass) else isinstance(service, kind)
    if not provided:
        raise LookupError(f"{kind.__name__} is registered as a per-request factory")
    return cast(T, service)
