"""A small SOAP stack on lxml: document/literal wrapped services over SOAP 1.1 and 1.2.

``config.include("hub.soap")`` (after hub.db) adds the
``config.add_soap_service(...)`` directive (:func:`hub.soap.service.add_soap_service`),
the WS-Security UsernameToken verifier with its shared nonce store, and the
ingress tween that answers oversized SOAP bodies with a Fault.

Handlers: ``handler(request, payload_element, caller) -> response_element``; raise :class:`SoapFault`,
``hub.errors.Problem`` or ``connectors.errors.ConnectorUnavailable`` to answer
with a Fault.

Settings (hub/settings.py): ``hub.soap.max_body_bytes`` (10 MiB: inline
documents travel in the envelope), ``hub.soap.max_header_bytes`` (32 KiB: all
of an envelope the hub parses before a caller without a bearer token is known),
``hub.soap.clock_skew_seconds`` (300). A sender refused before it was known
(no credentials, a wrong UsernameToken, a broken or oversized header) is
counted per address against ``hub.ratelimit.public_per_minute``; past it, its
envelopes get a 429 Fault before anything is parsed. The nonce
store is Redis when ``hub.redis_url`` is set, else the ``soap_nonces`` table.
``registry["soap_message_signer"]`` (``Callable[[etree._Element], etree._Element]``)
signs the answers of signed operations per WS-Security (certs.wssecurity: the
whole envelope, in its Header); without it they fail closed. It signs with the
hub's document keys (``registry["document_keys"]``, hub.certificates) when they
are loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyramid.config import Configurator
from pyramid.tweens import INGRESS

from forms.errors import FormError
from hub.crypto import soap_password_box
from hub.errors import FieldError, Problem
from hub.shared_state import redis_url
from hub.soap.envelope import SOAP11, SOAP12, SoapFault, SoapVersion
from hub.soap.security import (
    NonceStore,
    RedisNonceStore,
    SoapCaller,
    SqlNonceStore,
    UsernameTokenVerifier,
)
from hub.soap.service import Handler, Signer, add_soap_service

__all__ = [
    "SOAP11",
    "SOAP12",
    "Handler",
    "Signer",
    "SoapCaller",
    "SoapFault",
    "SoapVersion",
    "add_soap_service",
]


@contextmanager
def form_errors_as_faults() -> Iterator[None]:
    """A handler's FormError becomes a Problem: a Fault with each field's error in its detail."""
    try:
        yield
    except FormError as exc:
        raise Problem(
            exc.code, exc.message, errors=[FieldError(p.field, p.code, p.message) for p in exc.problems]
        ) from None


def includeme(config: Configurator) -> None:
    registry = config.registry
    settings = config.get_settings()
    engine = registry.get("db_engine")
    if engine is None:
        from pyramid.exceptions import ConfigurationError

        raise ConfigurationError("include hub.soap after hub.db")
    box = soap_password_box(settings)
    url = redis_url(settings, "nonces")
    store: NonceStore = RedisNonceStore(url) if url is not None else SqlNonceStore(engine)
    skew = int(settings["hub.soap.clock_skew_seconds"])
    config.register_service(UsernameTokenVerifier(store, box, clock_skew_seconds=skew), UsernameTokenVerifier)
    keys = registry.get("document_keys")
    if keys is not None:
        # Answers are evidence signed by the hub's own keys; read per call, so a rotated key signs
        # from the next answer on.
        message_signer: Signer = keys.sign_message
        registry["soap_message_signer"] = message_signer
    registry.setdefault("soap_routes", set())
    registry.setdefault("soap_paths", {})
    config.add_directive("add_soap_service", add_soap_service)
    config.add_tween(
        "hub.soap.tween.soap_ingress_tween_factory",
        under=INGRESS,
        over="hub.observability.request_id_tween_factory",
    )
