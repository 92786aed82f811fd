"""SMS connector: DLT rules, the reference gateway on SQLite/PostgreSQL, the HTTP client on a fake gateway."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from connectors.errors import ConnectorRejected, ConnectorUnavailable
from connectors.reference_db import set_down
from connectors.sms import (
    DltRegistration,
    ISmsGateway,
    SmsEncoding,
    encoding_of,
    normalise_mobile,
    parts_of,
)
from connectors.sms.client import HttpSms
from connectors.sms.reference import ReferenceSms
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer
from tests.connectors.messaging_fixtures import FAILURE_MODES, http_context, ref_context, ref_engine

__all__ = ["ref_engine"]

DLT = {
    "sender_id": "MPCZED",
    "entity_id": "1101234567890123456",
    "template.otp.id": "1107161234567890123",
    "template.otp.text": "{#var#} आपका ओटीपी है। यह 10 मिनट तक मान्य है। - MPCZ",
    "template.nodues_issued.id": "1107161234567890999",
}
OTP_HI = "482913 आपका ओटीपी है। यह 10 मिनट तक मान्य है। - MPCZ"


# -- DLT rules ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9876543210", "9876543210"),
        ("+91 98765 43210", "9876543210"),
        ("09876543210", "9876543210"),
        ("919876543210", "9876543210"),
    ],
)
def test_mobile_numbers_are_normalised(raw: str, expected: str) -> None:
    assert normalise_mobile(raw) == expected


@pytest.mark.parametrize("raw", ["5876543210", "98765", "98765432101", "+1 9876543210", "९८७६५४३२१०", ""])
def test_not_indian_mobiles_are_refused(raw: str) -> None:
    with pytest.raises(ConnectorRejected) as err:
        normalise_mobile(raw)
    assert err.value.code == "sms_bad_mobile"


def test_devanagari_is_unicode_and_counts_70_then_67() -> None:
    assert encoding_of("Your OTP is 1234") is SmsEncoding.GSM7
    assert encoding_of(OTP_HI) is SmsEncoding.UNICODE
    assert parts_of("क" * 70, SmsEncoding.UNICODE) == 1
    assert parts_of("क" * 71, SmsEncoding.UNICODE) == 2
    assert parts_of("क" * 135, SmsEncoding.UNICODE) == 3
    assert parts_of("a" * 160, SmsEncoding.GSM7) == 1
    assert parts_of("a" * 161, SmsEncoding.GSM7) == 2
    assert parts_of("€" * 80, SmsEncoding.GSM7) == 1  # extension characters take two septets


def test_registration_reads_templates_and_refuses_bad_settings() -> None:
    reg = DltRegistration.from_options(DLT)
    assert reg.template("otp").template_id == "1107161234567890123"
    assert reg.template("otp").matches(OTP_HI)
    assert not reg.template("otp").matches("482913 is your OTP")
    assert reg.template("nodues_issued").matches("anything: no text registered here")
    with pytest.raises(ValueError, match="sender_id"):
        DltRegistration.from_options({**DLT, "sender_id": "MP-CZ"})
    with pytest.raises(ValueError, match="template.otp.id"):
        DltRegistration.from_options({**DLT, "template.otp.id": "abc"})


# -- reference gateway ------------------------------------------------------------------
def test_reference_records_devanagari_and_reads_it_back(ref_engine: Engine) -> None:
    sms = ReferenceSms.from_context(ref_context("sms", ref_engine, **DLT))
    assert ISmsGateway.providedBy(sms)
    message_id = sms.send("+91 98765 43210", OTP_HI, "otp", "otp:1")
    [sent] = sms.messages_to("9876543210")
    assert sent.message_id == message_id
    assert sent.text == OTP_HI
    assert sent.encoding is SmsEncoding.UNICODE and sent.parts == 1
    assert (sent.sender_id, sent.template_id) == ("MPCZED", "1107161234567890123")
    assert sms.messages_to("9876500000") == []


def test_reference_is_idempotent_even_under_concurrent_retries(ref_engine: Engine) -> None:
    sms = ReferenceSms.from_context(ref_context("sms", ref_engine, **DLT))
    ids: list[str] = []

    def send() -> None:
        ids.append(sms.send("9876543210", OTP_HI, "otp", "otp:same"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
    assert len(sms.messages_to("9876543210")) == 1
    with pytest.raises(ConnectorRejected) as err:
        sms.send("9876543210", OTP_HI.replace("482913", "111111"), "otp", "otp:same")
    assert err.value.code == "idempotency_conflict"


def test_reference_refuses_unregistered_or_mismatching_templates(ref_engine: Engine) -> None:
    sms = ReferenceSms.from_context(ref_context("sms", ref_engine, **DLT))
    with pytest.raises(ConnectorRejected) as err:
        sms.send("9876543210", "hello", "promo", "k1")
    assert err.value.code == "sms_template_unregistered"
    with pytest.raises(ConnectorRejected) as err:
        sms.send("9876543210", "Your OTP is 482913", "otp", "k2")
    assert err.value.code == "sms_template_mismatch"
    assert sms.messages_to("9876543210") == []


def test_reference_down_sends_nothing(ref_engine: Engine) -> None:
    sms = ReferenceSms.from_context(ref_context("sms", ref_engine, **DLT))
    set_down(ref_engine, "sms")
    with pytest.raises(ConnectorUnavailable):
        sms.send("9876543210", OTP_HI, "otp", "k1")
    with pytest.raises(ConnectorUnavailable):
        sms.heartbeat()
    set_down(ref_engine, "sms", False)
    sms.heartbeat()
    sms.send("9876543210", OTP_HI, "otp", "k1")
    assert len(sms.messages_to("9876543210")) == 1


# -- HTTP client against a fake gateway --------------------------------------------------
class FakeGateway:
    """Speaks the wire contract in connectors/sms/client.py."""

    def __init__(self) -> None:
        self.by_key: dict[str, dict[str, object]] = {}

    def __call__(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != "Bearer test-key":
            return FakeResponse.json(401, {"error": "unauthorized"})
        if request.method == "GET" and request.path == "/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        if request.method != "POST" or request.path != "/v1/messages":
            return FakeResponse.json(404, {"error": "no_route"})
        body = request.json()
        if not str(body["to"]).startswith("91"):
            return FakeResponse.json(400, {"error": "invalid_mobile"})
        key = request.headers["idempotency-key"]
        if key in self.by_key:
            return FakeResponse.json(
                200, {"message_id": self.by_key[key]["message_id"], "status": "accepted"}
            )
        self.by_key[key] = {"message_id": f"GW{len(self.by_key) + 1:06d}", **body}
        return FakeResponse.json(201, {"message_id": self.by_key[key]["message_id"], "status": "accepted"})


@pytest.fixture
def gateway() -> Iterator[tuple[FakeServer, FakeGateway]]:
    handler = FakeGateway()
    with FakeServer(handler) as server:
        yield server, handler


def client_for(server: FakeServer, **extra: str) -> HttpSms:
    return HttpSms.from_context(http_context("sms", server.url, api_key="test-key", **DLT, **extra))


def test_client_sends_devanagari_as_unicode_with_dlt_ids(gateway: tuple[FakeServer, FakeGateway]) -> None:
    server, handler = gateway
    sms = client_for(server)
    assert ISmsGateway.providedBy(sms)
    assert sms.send("9876543210", OTP_HI, "otp", "otp:42") == "GW000001"
    sent = handler.by_key["otp:42"]
    assert sent["text"] == OTP_HI
    assert sent["to"] == "919876543210"
    assert sent["unicode"] is True
    assert (sent["sender"], sent["dlt_entity_id"], sent["dlt_template_id"]) == (
        "MPCZED",
        "1101234567890123456",
        "1107161234567890123",
    )
    # The worker retries: the gateway answers with the same id and sends nothing new.
    assert sms.send("9876543210", OTP_HI, "otp", "otp:42") == "GW000001"
    assert len(handler.by_key) == 1
    sms.heartbeat()


def test_client_checks_dlt_before_anything_leaves(gateway: tuple[FakeServer, FakeGateway]) -> None:
    server, _ = gateway
    with pytest.raises(ConnectorRejected):
        client_for(server).send("9876543210", "Your OTP is 1", "otp", "k")
    assert server.requests == []


def test_client_maps_partner_refusals(gateway: tuple[FakeServer, FakeGateway]) -> None:
    server, _ = gateway
    with pytest.raises(ConnectorUnavailable):  # our credentials are wrong: nothing will work
        HttpSms.from_context(http_context("sms", server.url, api_key="wrong", **DLT)).send(
            "9876543210", OTP_HI, "otp", "k"
        )
    server.handler = lambda request: FakeResponse.json(400, {"error": "template_mismatch"})
    with pytest.raises(ConnectorRejected) as err:
        client_for(server).send("9876543210", OTP_HI, "otp", "k")
    assert err.value.code == "template_mismatch"
    server.handler = lambda request: FakeResponse.json(400, {"error": "Free text <b>with</b> spaces"})
    with pytest.raises(ConnectorRejected) as err:
        client_for(server).send("9876543210", OTP_HI, "otp", "k")
    assert err.value.code == "connector_rejected"  # partner free text is never used as a code


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_client_failures_are_unavailable(gateway: tuple[FakeServer, FakeGateway], mode: str) -> None:
    server, _ = gateway
    sms = client_for(server)
    if mode == "refused":
        server.down()
    else:
        server.mode = mode
    with pytest.raises(ConnectorUnavailable):
        sms.send("9876543210", OTP_HI, "otp", "k")
    with pytest.raises(ConnectorUnavailable):
        sms.heartbeat()
    server.mode = "ok"
    server.up()
    assert sms.send("9876543210", OTP_HI, "otp", "k").startswith("GW")


def test_client_rejects_an_answer_without_message_id(gateway: tuple[FakeServer, FakeGateway]) -> None:
    server, _ = gateway
    server.handler = lambda request: FakeResponse.json(201, {"status": "accepted", "message_id": 7})
    with pytest.raises(ConnectorUnavailable):
        client_for(server).send("9876543210", OTP_HI, "otp", "k")
