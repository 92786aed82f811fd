"""Certificates and the hub's other signed documents: keys, issuing, verification, the REST views.

``config.include("hub.certificates")`` (after hub.db and hub.core) loads the
signing keys (the :class:`~hub.certificates.keys.DocumentKeys` service, reloaded on
rotation: ``request.find_service(DocumentKeys)``, or ``hub.lookup.process_service``
without a request) and adds the
``config.add_revocation_listener`` directive; ``config.include("hub.certificates.views")``
adds the REST routes. Modules:

* :mod:`~hub.certificates.keys`: the key ring and issuer of this process;
* :mod:`~hub.certificates.issuing`: numbers, the registry row, revocation;
* :mod:`~hub.certificates.questions`: reading a verification question (REST and SOAP alike);
* :mod:`~hub.certificates.verification`: one indexed read, the rule, the answer;
* :mod:`~hub.certificates.log`: the verification log, written in the answering transaction;
* :mod:`~hub.certificates.views`: fetch, verify (code, upload, QR, page), revoke.

Nothing here knows how an answer is carried: SOAP services render
:class:`~hub.certificates.verification.VerificationResult` themselves.
"""

from __future__ import annotations

from pyramid.config import Configurator

from hub.auth.oauth import PublishedKeys
from hub.certificates.issuing import add_revocation_listener
from hub.certificates.keys import DocumentKeys


def includeme(config: Configurator) -> None:
    keys = DocumentKeys(config.get_settings())
    config.register_service(keys, DocumentKeys)
    config.add_directive("add_revocation_listener", add_revocation_listener)
    # The certificate QR keys, published beside the token keys (hub.auth.oauth).
    config.register_service(PublishedKeys(keys.public_jwks), PublishedKeys)
