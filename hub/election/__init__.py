"""The state election authority's verification service: SOAP ``ElectionService`` and REST.

``config.include("hub.election")`` (after hub.certificates, hub.outbox, hub.soap
and hub.certificates.views) adds:

* SOAP ``ElectionService`` at ``/soap/election`` (``?wsdl``, ``?singleWsdl``):
  VerifyCertificate, VerifyCertificates (up to 1,000), GetDuesStatus, all signed;
* REST verifyCertificates, getDuesStatus and bulk CSV jobs under ``/api/v1/election``
  (``verifyCertificate`` is hub.certificates.views' operation);
* the outbox handler ``election.job`` that runs CSV jobs in the worker;
* the periodic job (hub-worker) that claims the verification log's marked rows
  and texts a certificate's holder when an authority verified it, over SOAP or REST.

Optional settings: ``hub.election.csv_max_bytes`` (2 MiB), ``hub.election.csv_max_rows``
(10,000), ``hub.election.batch_max_body_bytes`` (1 MiB), ``hub.election.soap_max_body_bytes`` (2 MiB).
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator

from hub.db import Database
from hub.election.holder_sms import (
    HOLDER_NOTICES,
    HOLDER_NOTICES_INTERVAL_SECONDS,
    follow_verification_log,
    holder_notices_backlog,
)
from hub.election.jobs import JOB_KIND, ElectionJobHandler
from hub.lookup import process_service
from hub.outbox import submit_after_commit


def includeme(config: Configurator) -> None:
    import hub.models.election  # noqa: F401 - the tables on Base.metadata

    registry = config.registry

    def text_holders() -> int:
        return follow_verification_log(
            process_service(registry, Database).sessions, lambda ids: submit_after_commit(registry, ids)
        )

    config.add_periodic_job(HOLDER_NOTICES, HOLDER_NOTICES_INTERVAL_SECONDS, text_holders)

    def backlog() -> dict[str, Any]:
        # Its own short session: /readyz opens no request transaction.
        with process_service(registry, Database).sessions() as session:
            return holder_notices_backlog(session)

    # Information only: a worker that is down or behind delays SMS, never verification.
    config.add_status_report("holder_sms", backlog)
    config.add_outbox_handler(JOB_KIND, ElectionJobHandler(config.registry))
    config.include("hub.election.soap")
    config.include("hub.election.views")
