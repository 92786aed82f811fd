"""SMS connector: DLT rules, the reference gateway on SQLite/PostgreSQL, the HTTP client on a fake gateway."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine

from connectors.errors import ConnectorRejected, ConnectorUnavailable
from connectors.reference_db import set_down
from connectors.sms import (
    MAX_MESSAGES_PER_CALL,
    DltRegistration,
    ISmsGateway,
    Sms,
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


def test_reference_takes_many_messages_in_one_call(ref_engine: Engine) -> None:
    sms = ReferenceSms.from_context(ref_context("sms", ref_engine, **DLT))
    first = sms.send("9700000010", OTP_HI, "otp", "batch:1")
    results = sms.send_many(
        [
            Sms("9700000010", OTP_HI, "otp", "batch:1"),
            Sms("9700000011", OTP_HI, "otp", "batch:2"),
            Sms("9700000012", "hello", "promo", "batch:3"),
            Sms("9700000019", OTP_HI, "otp", "batch:1.b"),
        ]
    )
    assert (
        results["batch:1"] == first
        and isinstance(results["batch:2"], str)
        and isinstance(results["batch:1.b"], str)
    )
    assert (
        isinstance(results["batch:3"], ConnectorRejected)
        and results["batch:3"].code == "sms_template_unregistered"
    )
    [conflict] = sms.send_many([Sms("9700000018", OTP_HI, "otp", "batch:2")]).values()
    assert isinstance(conflict, ConnectorRejected) and conflict.code == "idempotency_conflict"
    assert [len(sms.messages_to(m)) for m in ("9700000010", "9700000011", "9700000012", "9700000019")] == [
        1,
        1,
        0,
        1,
    ]

    # Two workers with overlapping batches: each person still gets one SMS.
    batches = [
        [Sms(f"97000000{i:02d}", OTP_HI, "otp", f"batch-race:{i}") for i in range(start, start + 20)]
        for start in (20, 30)
    ]
    threads = [threading.Thread(target=sms.send_many, args=(batch,)) for batch in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [len(sms.messages_to(f"97000000{i:02d}")) for i in range(20, 50)] == [1] * 30


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
        self.calls = 0

    def __call__(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != "Bearer test-key":
            return FakeResponse.json(401, {"error": "unauthorized"})
        if request.method == "GET" and request.path == "/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        if request.method != "POST" or request.path != "/v1/messages":
            return FakeResponse.json(404, {"error": "no_route"})
        self.calls += 1
        return FakeResponse.json(200, {"results": [self.message(m) for m in request.json()["messages"]]})

    def message(self, body: dict[str, object]) -> dict[str, object]:
        key = str(body["client_ref"])
        if not str(body["to"]).startswith("91"):
            return {"client_ref": key, "status": "refused", "error": "invalid_mobile"}
        known = self.by_key.get(key)
        if known is not None and (known["to"], known["text"]) != (body["to"], body["text"]):
            return {"client_ref": key, "status": "refused", "error": "idempotency_conflict"}
        if known is None:
            known = self.by_key[key] = {"message_id": f"GW{len(self.by_key) + 1:06d}", **body}
        return {"client_ref": key, "status": "accepted", "message_id": known["message_id"], "parts": 1}


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
    server.handler = lambda request: FakeResponse.json(
        200, {"results": [{"client_ref": "k", "status": "refused", "error": "template_mismatch"}]}
    )
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
    server.handler = _answering({"results": [{"client_ref": "k", "status": "accepted", "message_id": 7}]})
    with pytest.raises(ConnectorUnavailable):
        client_for(server).send("9876543210", OTP_HI, "otp", "k")


def test_client_sends_many_messages_in_one_call(gateway: tuple[FakeServer, FakeGateway]) -> None:
    server, handler = gateway
    sms = client_for(server)
    sms.send("9876543210", OTP_HI, "otp", "otp:1")
    results = sms.send_many(
        [
            Sms("9876543210", OTP_HI, "otp", "otp:1"),  # asked again: the same id, nothing re-sent
            Sms("9876543211", OTP_HI, "otp", "otp:2"),
            Sms("9876543212", "Your OTP is 1", "otp", "otp:3"),  # refused before it leaves
            Sms("9876543213", OTP_HI, "otp", "otp:4"),
        ]
    )
    assert handler.calls == 2
    assert results == {
        "otp:1": "GW000001",
        "otp:2": "GW000002",
        "otp:3": results["otp:3"],
        "otp:4": "GW000003",
    }
    assert (
        isinstance(results["otp:3"], ConnectorRejected) and results["otp:3"].code == "sms_template_mismatch"
    )
    assert [m["client_ref"] for m in handler.by_key.values()] == ["otp:1", "otp:2", "otp:4"]
    [conflict] = sms.send_many([Sms("9876543219", OTP_HI, "otp", "otp:2")]).values()
    assert isinstance(conflict, ConnectorRejected) and conflict.code == "idempotency_conflict"
    assert handler.calls == 3
    assert sms.send_many([Sms("9876543212", "Your OTP is 1", "otp", "otp:5")]).keys() == {"otp:5"}
    assert handler.calls == 3  # nothing left to send: no call
    with pytest.raises(ValueError):
        sms.send_many([Sms("9876543210", OTP_HI, "otp", "k"), Sms("9876543211", OTP_HI, "otp", "k")])
    with pytest.raises(ValueError):
        sms.send_many([Sms("9876543210", OTP_HI, "otp", f"k{i}") for i in range(MAX_MESSAGES_PER_CALL + 1)])
    assert handler.calls == 3


def test_client_refuses_results_that_do_not_answer_each_message(
    gateway: tuple[FakeServer, FakeGateway],
) -> None:
    server, _ = gateway
    two = [Sms("9876543210", OTP_HI, "otp", "k1"), Sms("9876543211", OTP_HI, "otp", "k2")]
    ok = {"status": "accepted", "message_id": "GW1"}
    for results in (
        None,
        [],
        [{"client_ref": "k1", **ok}],
        [{"client_ref": "k2", **ok}, {"client_ref": "k1", **ok}],
        [{"client_ref": "k1", **ok}, {"client_ref": "k3", **ok}],
        [{"client_ref": "k1", **ok}, {"client_ref": "k2", "status": "queued"}],
        [{"client_ref": "k1", **ok}, {"client_ref": "k2", "status": "refused"}],
        [{"client_ref": "k1", **ok}, {"client_ref": "k2", "status": "accepted", "message_id": ""}],
        [{"client_ref": "k1", **ok}, "accepted"],
    ):
        server.handler = _answering({"results": results})
        with pytest.raises(ConnectorUnavailable):
            client_for(server).send_many(two)


def _answering(body: dict[str, object]) -> Callable[[FakeRequest], FakeResponse]:
    return lambda request: FakeResponse.json(200, body)
