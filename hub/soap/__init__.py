"""A small SOAP stack on lxml: document/literal wrapped services over SOAP 1.1 and 1.2.

``config.include("hub.soap")`` (after hub.db) adds the
``config.add_soap_service(...)`` directive (:func:`hub.soap.service.add_soap_service`),
the WS-Security UsernameToken verifier with its shared nonce store, and the
ingress tween that answers oversized SOAP bodies with a Fault.

Handlers: ``handler(request, payload_element, caller) -> response_element``; raise :class:`SoapFault`,
``hub.errors.Problem``, ``forms.errors.FormError`` (its code and field errors) or
``connectors.errors.ConnectorUnavailable`` to answer with a Fault.

Settings (hub/settings.py): ``hub.soap.max_body_bytes`` (10 MiB: inline
documents travel in the envelope), ``hub.soap.max_header_bytes`` (32 KiB: all
of an envelope the hub parses before a caller without a bearer token is known),
``hub.soap.clock_skew_seconds`` (300). A sender refused before it was known
(no credentials, a wrong UsernameToken, a broken or oversized header) is
counted per address against ``hub.ratelimit.public_per_minute``; past it, its
envelopes get a 429 Fault before anything is parsed. The nonce
store is Redis when ``hub.redis_url`` is set, else the ``soap_nonces`` table.
The :class:`~hub.soap.service.MessageSigner` service signs the answers of signed
operations per WS-Security (certs.wssecurity: the whole envelope, in its Header);
without it they fail closed. This package registers one that signs with the hub's
document keys (the DocumentKeys service, hub.certificates), found per answer so that a
rotated key signs from the next answer on.
"""

from __future__ import annotations

from lxml import etree
from pyramid.config import Configurator
from pyramid.tweens import INGRESS

from hub.certificates.keys import DocumentKeys
from hub.crypto import soap_password_box
from hub.db import Database
from hub.lookup import process_service
from hub.shared_state import redis_url
from hub.soap.envelope import SOAP11, SOAP12, SoapFault, SoapVersion, child_texts
from hub.soap.security import (
    NonceStore,
    RedisNonceStore,
    SoapCaller,
    SqlNonceStore,
    UsernameTokenVerifier,
)
from hub.soap.service import Handler, MessageSigner, Signer, add_soap_service

__all__ = [
    "SOAP11",
    "SOAP12",
    "Handler",
    "MessageSigner",
    "Signer",
    "SoapCaller",
    "SoapFault",
    "SoapVersion",
    "add_soap_service",
    "child_texts",
]


def includeme(config: Configurator) -> None:
    registry = config.registry
    settings = config.get_settings()
    engine = process_service(registry, Database).engine
    box = soap_password_box(settings)
    url = redis_url(settings, "nonces")
    store: NonceStore = RedisNonceStore(url) if url is not None else SqlNonceStore(engine)
    skew = int(settings["hub.soap.clock_skew_seconds"])
    config.register_service(UsernameTokenVerifier(store, box, clock_skew_seconds=skew), UsernameTokenVerifier)

    # Answers are evidence signed by the hub's own keys. Found per answer: DocumentKeys is
    # registered in the same commit as this service, and a rotated key signs the next answer.
    def sign_with_document_keys(envelope: etree._Element) -> etree._Element:
        return process_service(registry, DocumentKeys).sign_message(envelope)

    config.register_service(MessageSigner(sign_with_document_keys), MessageSigner)
    config.add_directive("add_soap_service", add_soap_service)
    config.add_tween(
        "hub.soap.tween.soap_ingress_tween_factory",
        under=INGRESS,
        over="hub.observability.request_id_tween_factory",
    )
