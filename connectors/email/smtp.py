"""The real mail client: SMTP (smtplib) with STARTTLS or implicit TLS, explicit timeouts.

Settings (under ``hub.email.``): ``host``, ``port`` (587), ``security`` (``starttls`` | ``tls`` |
``none``: ``none`` only for a relay on the same machine), ``username``/``password`` (optional),
``sender`` (the From address), ``timeout`` (seconds for connect and each command, default 10),
``ca_file`` (optional).

A reply code 4xx or a broken connection is "try later" (ConnectorUnavailable, the outbox
retries); 5xx for the recipient is final (ConnectorRejected). The outbox's delivery id becomes
the Message-ID, so a mail sent twice after a worker crash carries the same id.
"""

from __future__ import annotations

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.email import ADDRESS, SYSTEM, IEmail, Mail
from connectors.errors import ConnectorRejected, ConnectorUnavailable

SECURITY = ("starttls", "tls", "none")


@implementer(IEmail)
class SmtpEmail:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        timeout: float = 10.0,
        ca_file: str | None = None,
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"connector email: setting 'security' must be one of {', '.join(SECURITY)}")
        if not ADDRESS.fullmatch(sender):
            raise ValueError("connector email: setting 'sender' must be an e-mail address")
        self.host, self.port, self.sender = host, port, sender
        self.security, self.username, self.password = security, username, password
        self.timeout = timeout
        self.ca_file = ca_file

    @classmethod
    def from_context(cls, context: ConnectorContext) -> SmtpEmail:
        return cls(
            context.option("host"),
            int(context.option("port", "587")),
            context.option("sender"),
            security=context.option("security", "starttls"),
            username=context.option("username", ""),
            password=context.option("password", ""),
            timeout=context.float_option("timeout", 10.0),
            ca_file=context.options.get("ca_file") or None,
        )

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.starttls(context=self._tls())
        return smtp

    def send(self, mail: Mail, idempotency_key: str) -> str:
        mail = mail.checked()
        message = EmailMessage()
        message["From"] = Address(addr_spec=self.sender)
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        domain = self.sender.rsplit("@", 1)[1]
        message_id = f"<{idempotency_key}@{domain}>"
        message["Message-ID"] = message_id
        message.set_content(mail.body, charset="utf-8")
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(400 <= code < 500 for code in codes):
                raise ConnectorUnavailable(
                    f"mail server defers the recipient: {codes}", system=SYSTEM
                ) from exc
            raise ConnectorRejected(
                f"mail server refuses the recipient: {codes}", system=SYSTEM, code="email_recipient_refused"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600 and not isinstance(exc, smtplib.SMTPAuthenticationError):
                raise ConnectorRejected(
                    f"mail server refuses the mail: {exc.smtp_code}", system=SYSTEM, code="email_refused"
                ) from exc
            raise ConnectorUnavailable(f"mail server answered {exc.smtp_code}", system=SYSTEM) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise ConnectorUnavailable(f"mail server not reachable: {exc}", system=SYSTEM) from exc
        return message_id

    def heartbeat(self) -> None:
        try:
            with self._connect() as smtp:
                code, _ = smtp.noop()
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectorUnavailable(f"mail server not reachable: {exc}", system=SYSTEM) from exc
        if code != 250:
            raise ConnectorUnavailable(f"mail server answered NOOP with {code}", system=SYSTEM)
