"""The e-mail connector: the reference mail server in the reference store, and the SMTP client against a
fake SMTP server on 127.0.0.1 (plain SMTP, answers chosen per test, a silent mode for the timeout)."""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from connectors.email import Mail
from connectors.email.reference import ReferenceEmail
from connectors.email.smtp import SmtpEmail
from connectors.errors import ConnectorRejected, ConnectorUnavailable
from connectors.reference_db import set_down
from tests.connectors.messaging_fixtures import ref_engine

__all__ = ["ref_engine"]

MAIL = Mail(
    "c1234@mail.example", "बिजली बाधित / Power outage: Feeder 7", "बिजली आपूर्ति बाधित।\nSupply interrupted."
)


def test_reference_records_devanagari_once_per_key(ref_engine: Engine) -> None:
    mail = ReferenceEmail(ref_engine)
    first = mail.send(MAIL, "hub-outbox-1")
    assert mail.send(MAIL, "hub-outbox-1") == first
    sent = mail.mails_to(MAIL.to)
    assert [(m.subject, m.body) for m in sent if m.idempotency_key == "hub-outbox-1"] == [
        (MAIL.subject, MAIL.body)
    ]
    with pytest.raises(ConnectorRejected) as exc:
        mail.send(Mail(MAIL.to, "other", "other"), "hub-outbox-1")
    assert exc.value.code == "idempotency_conflict"


@pytest.mark.parametrize(
    "bad",
    [
        Mail("not-an-address", "s", "b"),
        Mail("a@b.example", "two\nlines", "b"),
        Mail("a@b.example", "s", " "),
        Mail("उपभोक्ता@mail.example", "s", "b"),
    ],
)
def test_reference_refuses_what_cannot_be_sent(ref_engine: Engine, bad: Mail) -> None:
    with pytest.raises(ConnectorRejected):
        ReferenceEmail(ref_engine).send(bad, "hub-outbox-bad")


def test_reference_down_sends_nothing(ref_engine: Engine) -> None:
    mail = ReferenceEmail(ref_engine)
    set_down(ref_engine, "email")
    try:
        with pytest.raises(ConnectorUnavailable):
            mail.send(MAIL, "hub-outbox-down")
        with pytest.raises(ConnectorUnavailable):
            mail.heartbeat()
    finally:
        set_down(ref_engine, "email", False)
    assert all(m.idempotency_key != "hub-outbox-down" for m in mail.mails_to(MAIL.to))


class FakeSmtp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpSession)
        self.received: list[dict[str, Any]] = []
        # "ok", "defer" (450 for RCPT), "refuse" (550 for RCPT), "silent" (greets, then never answers)
        self.mode = "ok"


class SmtpSession(socketserver.StreamRequestHandler):
    server: FakeSmtp

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self.reply("220 fake.example ESMTP")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode("ascii", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if self.server.mode == "silent":
                time.sleep(5)
                return
            if verb in ("EHLO", "HELO"):
                self.reply("250-fake.example")
                self.reply("250 8BITMIME")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].split()[0].strip("<>")
                self.reply("250 ok")
            elif verb == "RCPT":
                if self.server.mode == "defer":
                    self.reply("450 mailbox busy")
                elif self.server.mode == "refuse":
                    self.reply("550 no such user")
                else:
                    recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                    self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = b""
                while True:
                    line = self.rfile.readline()
                    if line in (b".\r\n", b""):
                        break
                    data += line
                self.server.received.append({"from": sender, "to": recipients, "data": data})
                self.reply("250 queued")
            elif verb == "NOOP":
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtp]:
    server = FakeSmtp()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client_for(server: FakeSmtp, timeout: float = 2.0) -> SmtpEmail:
    return SmtpEmail(
        "127.0.0.1", server.server_address[1], "notices@discom.example", security="none", timeout=timeout
    )


def test_client_sends_devanagari_with_the_delivery_id_as_message_id(smtp_server: FakeSmtp) -> None:
    message_id = client_for(smtp_server).send(MAIL, "hub-outbox-42")
    assert message_id == "<hub-outbox-42@discom.example>"
    [received] = smtp_server.received
    assert received["from"] == "notices@discom.example" and received["to"] == [MAIL.to]
    parsed = message_from_bytes(received["data"])
    assert parsed["Message-ID"] == message_id
    assert str(make_header(decode_header(parsed["Subject"]))) == MAIL.subject
    payload = parsed.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode("utf-8").replace("\r\n", "\n").strip() == MAIL.body
    client_for(smtp_server).heartbeat()


def test_client_maps_refusals_and_deferrals(smtp_server: FakeSmtp) -> None:
    smtp_server.mode = "refuse"
    with pytest.raises(ConnectorRejected):
        client_for(smtp_server).send(MAIL, "hub-outbox-43")
    smtp_server.mode = "defer"
    with pytest.raises(ConnectorUnavailable):
        client_for(smtp_server).send(MAIL, "hub-outbox-44")
    assert smtp_server.received == []


def test_client_times_out_on_a_silent_server(smtp_server: FakeSmtp) -> None:
    smtp_server.mode = "silent"
    with pytest.raises(ConnectorUnavailable):
        client_for(smtp_server, timeout=0.5).send(MAIL, "hub-outbox-45")


def test_client_down_is_unavailable() -> None:
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as closed:
        port = closed.server_address[1]
    client = SmtpEmail("127.0.0.1", port, "notices@discom.example", security="none", timeout=1)
    with pytest.raises(ConnectorUnavailable):
        client.send(MAIL, "hub-outbox-46")
    with pytest.raises(ConnectorUnavailable):
        client.heartbeat()


def test_client_refuses_bad_settings() -> None:
    with pytest.raises(ValueError):
        SmtpEmail("h", 25, "not-an-address")
    with pytest.raises(ValueError):
        SmtpEmail("h", 25, "a@b.example", security="ssl3")
