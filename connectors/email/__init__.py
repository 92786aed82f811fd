"""E-mail to consumers (outage notices and the like): the interface and the message the hub hands it.

The deployment picks the class in the ini::

    hub.email.backend = connectors.email.reference:ReferenceEmail   # development, tests
    hub.email.backend = connectors.email.smtp:SmtpEmail             # production (smtplib)

Every send carries the outbox's delivery id as ``idempotency_key``: the reference store keeps one
mail per key, and the SMTP client puts it in the ``Message-ID`` so a relay (and the consumer's
mail program) can recognise a repeat after a worker crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zope.interface import Interface

from connectors.errors import ConnectorRejected

SYSTEM = "email"
# Deliberately plain: an address billing holds is either this shape or not used.
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+")
MAX_BODY = 20_000


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str

    def checked(self) -> Mail:
        """The same mail, refused (ConnectorRejected) if it cannot be sent as it is."""
        if not ADDRESS.fullmatch(self.to) or len(self.to) > 254:
            raise ConnectorRejected("not an e-mail address", system=SYSTEM, code="email_bad_address")
        if (
            not self.subject.strip()
            or "\n" in self.subject
            or "\r" in self.subject
            or len(self.subject) > 200
        ):
            raise ConnectorRejected(
                "subject empty, multi-line or too long", system=SYSTEM, code="email_bad_subject"
            )
        if not self.body.strip() or len(self.body) > MAX_BODY:
            raise ConnectorRejected("body empty or too long", system=SYSTEM, code="email_bad_body")
        return self


class IEmail(Interface):
    """The discom's outgoing mail (fetched with ``request.find_service(IEmail)``)."""

    def send(mail: Mail, idempotency_key: str) -> str:  # type: ignore[empty-body]  # noqa: N805
        """Send ``mail``; returns the message id. Idempotent on ``idempotency_key``.

        Raises ConnectorRejected (bad address, subject, body: do not retry) or
        ConnectorUnavailable (server down, slow, refusing for now: retry)."""

    def heartbeat() -> None:  # type: ignore[misc]
        """Raise ConnectorUnavailable when mail cannot be sent now."""
