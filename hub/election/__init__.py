"""The state election authority's verification service (issue 5): SOAP ``ElectionService`` and REST.

``config.include("hub.election")`` (after hub.documents, hub.outbox, hub.soap
and hub.views.certificates) adds:

* SOAP ``ElectionService`` at ``/soap/election`` (``?wsdl``, ``?singleWsdl``):
  VerifyCertificate, VerifyCertificates (up to 1,000), GetDuesStatus, all signed;
* REST verifyCertificates, getDuesStatus and bulk CSV jobs under ``/api/v1/election``
  (``verifyCertificate`` is hub.views.certificates' operation);
* the outbox handler ``election.job`` that runs CSV jobs in the worker;
* the hook that texts a certificate's holder when an authority verifies it
  (``registry["certificate_verified_hooks"]``, called by REST verifyCertificate too).

Optional settings: ``hub.election.csv_max_bytes`` (2 MiB), ``hub.election.csv_max_rows``
(10,000), ``hub.election.batch_max_body_bytes`` (1 MiB), ``hub.election.soap_max_body_bytes`` (2 MiB).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyramid.config import Configurator
from pyramid.request import Request

from hub.documents import VerificationResult
from hub.election.jobs import JOB_KIND, ElectionJobHandler
from hub.election.verification import notify_holders
from hub.models.meta import utcnow

HOOKS_KEY = "certificate_verified_hooks"


def notify_after_rest_verification(request: Request, results: Sequence[VerificationResult]) -> None:
    """REST verifyCertificate by a partner (an authority): text the holder, as SOAP does."""
    partner = getattr(request, "partner", None)
    if partner is not None:
        notify_holders(request.dbsession, results, partner.client_id, utcnow())


def includeme(config: Configurator) -> None:
    import hub.models.election  # noqa: F401 - the tables on Base.metadata

    config.registry.setdefault(HOOKS_KEY, []).append(notify_after_rest_verification)
    config.add_outbox_handler(JOB_KIND, ElectionJobHandler(config.registry))
    config.include("hub.election.soap")
    config.include("hub.election.rest")
