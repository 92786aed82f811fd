"""Smart-meter head-end: the simulated meters on SQLite/PostgreSQL and the REST client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.headend import (
    SIGNATURE_HEADER,
    CommandAction,
    CommandRequest,
    IHeadEnd,
    Outcome,
    RelayState,
    StateChange,
    signature_ok,
)
from connectors.headend.client import HttpHeadEnd
from connectors.headend.reference import ReferenceHeadEnd, RefHesCommand
from connectors.reference_db import set_down
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer
from tests.connectors.messaging_fixtures import FAILURE_MODES, http_context, ref_context, ref_engine

__all__ = ["ref_engine"]

SECRET = "hes-notification-secret"
CALLBACK = "https://hub.example/api/v1/meters/headend/notifications"


def command(
    meter: str, txn: str, action: CommandAction = CommandAction.CONNECT, **kw: object
) -> CommandRequest:
    fields: dict[str, object] = {
        "meter_no": meter,
        "action": action,
        "reason": "भुगतान प्राप्त / payment received",
        "transaction_id": txn,
        "expires_at": datetime.now(UTC) + timedelta(minutes=5),
        "response_url": CALLBACK,
        **kw,
    }
    return CommandRequest(**fields)  # type: ignore[arg-type]


def reference(engine: Engine, **options: str) -> ReferenceHeadEnd:
    return ReferenceHeadEnd.from_context(
        ref_context("headend", engine, notification_secret=SECRET, **options)
    )


def test_reference_executes_and_owes_a_signed_notification(ref_engine: Engine) -> None:
    hes = reference(ref_engine)
    assert IHeadEnd.providedBy(hes)
    hes.install_meter("SM-4410001", RelayState.DISCONNECTED)
    hes.initiate(command("SM-4410001", "RC-1.1"))
    hes.initiate(command("SM-4410001", "RC-1.1"))  # a retry after a crash: accepted again, once
    assert hes.meter_state("SM-4410001").relay is RelayState.CONNECTED
    [note] = hes.take_notifications()
    assert note.url == CALLBACK
    assert signature_ok(SECRET, note.body, note.headers[SIGNATURE_HEADER])
    assert not signature_ok("other", note.body, note.headers[SIGNATURE_HEADER])
    change = StateChange.decode(note.body)
    assert (change.transaction_id, change.outcome, change.relay) == (
        "RC-1.1",
        Outcome.EXECUTED,
        RelayState.CONNECTED,
    )
    assert hes.take_notifications() == []  # sent once
    with pytest.raises(ConnectorRejected) as err:
        hes.initiate(command("SM-4410001", "RC-1.1", CommandAction.DISCONNECT))
    assert err.value.code == "idempotency_conflict"


def test_reference_delay_loss_and_failure_on_request(ref_engine: Engine) -> None:
    hes = reference(ref_engine, execute_after="600")
    hes.install_meter("SM-4410002", RelayState.CONNECTED)
    hes.initiate(command("SM-4410002", "DC-2.1", CommandAction.DISCONNECT))
    assert hes.take_notifications() == []
    assert hes.meter_state("SM-4410002").relay is RelayState.CONNECTED
    with ref_engine.begin() as conn:
        conn.execute(update(RefHesCommand).values(requested_at=datetime.now(UTC) - timedelta(seconds=601)))
    [note] = hes.take_notifications()
    assert StateChange.decode(note.body).relay is RelayState.DISCONNECTED

    quick = reference(ref_engine)
    quick.install_meter("SM-4410003", RelayState.DISCONNECTED, simulate="lose")
    quick.initiate(command("SM-4410003", "RC-3.1"))
    assert quick.take_notifications() == []  # executed, but the notification is lost
    assert quick.meter_state("SM-4410003").relay is RelayState.CONNECTED

    quick.install_meter("SM-4410004", RelayState.DISCONNECTED, communicating=False)
    quick.initiate(command("SM-4410004", "RC-4.1"))
    [note] = quick.take_notifications()
    failed = StateChange.decode(note.body)
    assert failed.outcome is Outcome.FAILED and failed.failure_code == "meter_not_communicating"


def test_reference_refuses_what_it_cannot_do(ref_engine: Engine) -> None:
    hes = reference(ref_engine)
    hes.install_meter("SM-4410005", RelayState.DISCONNECTED, remote_switch=False)
    with pytest.raises(ConnectorRejected) as err:
        hes.initiate(command("SM-4410005", "RC-5.1"))
    assert err.value.code == "remote_switch_unsupported"
    assert hes.meter_state("SM-4410005").remote_switch is False
    hes.install_meter("SM-4410006")
    with pytest.raises(ConnectorRejected) as err:
        hes.initiate(command("SM-4410006", "RC-6.1", expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert err.value.code == "expired"
    with pytest.raises(NotFound):
        hes.initiate(command("SM-0000000", "RC-7.1"))
    with pytest.raises(NotFound):
        hes.meter_state("SM-0000000")
    with pytest.raises(ValueError):
        hes.meter_state("sm 44")
    with pytest.raises(ValueError):
        hes.initiate(command("SM-4410006", "bad id with spaces"))
    set_down(ref_engine, "headend")
    with pytest.raises(ConnectorUnavailable):
        hes.initiate(command("SM-4410006", "RC-8.1"))
    with pytest.raises(ConnectorUnavailable):
        hes.heartbeat()


def test_notification_decoding_refuses_bad_shapes() -> None:
    good = StateChange(
        "N1",
        "RC-1.1",
        "SM-4410001",
        CommandAction.CONNECT,
        Outcome.EXECUTED,
        RelayState.CONNECTED,
        None,
        datetime.now(UTC),
    )
    assert StateChange.decode(good.encode()) == good
    for bad in (
        b"not json",
        b"[]",
        json.dumps({**good.as_json(), "outcome": "maybe"}).encode(),
        json.dumps({**good.as_json(), "sent_at": "2026-11-23T10:00:00"}).encode(),
        json.dumps({**good.as_json(), "transaction_id": "x" * 65}).encode(),
        json.dumps({**good.as_json(), "meter_no": "sm 1"}).encode(),
    ):
        with pytest.raises(ValueError):
            StateChange.decode(bad)
    assert not signature_ok("", good.encode(), "sha256=00")


# -- REST client ------------------------------------------------------------------------
class FakeHes:
    """A head-end speaking the wire protocol: accepts commands, answers relay state."""

    def __init__(self) -> None:
        self.meters = {"SM-4410001": "disconnected", "SM-CT00001": "disconnected"}
        self.commands: dict[str, dict[str, object]] = {}

    def __call__(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != "Bearer hes-key":
            return FakeResponse.json(403, {"error": "forbidden"})
        parts = request.path.strip("/").split("/")
        if parts == ["v1", "health"]:
            return FakeResponse.json(200, {"status": "ok"})
        if request.method == "POST" and parts == ["v1", "commands"]:
            body = request.json()
            if body["meter_no"] not in self.meters:
                return FakeResponse.json(404, {"error": "unknown_meter"})
            if body["meter_no"].startswith("SM-CT"):
                return FakeResponse.json(422, {"error": "remote_switch_unsupported"})
            known = self.commands.get(body["transaction_id"])
            if known is not None and known["action"] != body["action"]:
                return FakeResponse.json(409, {"error": "idempotency_conflict"})
            self.commands[body["transaction_id"]] = body
            return FakeResponse.json(
                200 if known else 202, {"transaction_id": body["transaction_id"], "status": "accepted"}
            )
        if request.method == "GET" and parts[:2] == ["v1", "meters"]:
            relay = self.meters.get(parts[2])
            if relay is None:
                return FakeResponse.json(404, {"error": "unknown_meter"})
            return FakeResponse.json(
                200,
                {
                    "meter_no": parts[2],
                    "relay": relay,
                    "communicating": True,
                    "remote_switch": not parts[2].startswith("SM-CT"),
                    "last_seen": "2026-11-23T09:59:00+05:30",
                },
            )
        return FakeResponse.json(404, {"error": "no_route"})


@pytest.fixture
def hes_server() -> Iterator[tuple[FakeServer, FakeHes]]:
    handler = FakeHes()
    with FakeServer(handler) as server:
        yield server, handler


def client_for(server: FakeServer) -> HttpHeadEnd:
    return HttpHeadEnd.from_context(http_context("headend", server.url, api_key="hes-key"))


def test_client_initiates_and_queries(hes_server: tuple[FakeServer, FakeHes]) -> None:
    server, fake = hes_server
    hes = client_for(server)
    assert IHeadEnd.providedBy(hes)
    hes.initiate(command("SM-4410001", "RC-1.1"))
    hes.initiate(command("SM-4410001", "RC-1.1"))
    sent = fake.commands["RC-1.1"]
    assert sent["response_url"] == CALLBACK and sent["reason"] == "भुगतान प्राप्त / payment received"
    assert datetime.fromisoformat(str(sent["expires_at"])).tzinfo is not None
    state = hes.meter_state("SM-4410001")
    assert state.relay is RelayState.DISCONNECTED and state.remote_switch
    assert state.last_seen == datetime(2026, 11, 23, 4, 29, tzinfo=UTC)
    assert hes.meter_state("SM-CT00001").remote_switch is False
    with pytest.raises(ConnectorRejected) as err:
        hes.initiate(command("SM-CT00001", "RC-2.1"))
    assert err.value.code == "remote_switch_unsupported"
    with pytest.raises(ConnectorRejected) as err:
        hes.initiate(command("SM-4410001", "RC-1.1", CommandAction.DISCONNECT))
    assert err.value.code == "idempotency_conflict"
    with pytest.raises(NotFound):
        hes.initiate(command("SM-9999999", "RC-3.1"))
    with pytest.raises(NotFound):
        hes.meter_state("SM-9999999")
    hes.heartbeat()


def test_client_refuses_an_answer_about_another_meter_or_command(
    hes_server: tuple[FakeServer, FakeHes],
) -> None:
    server, _ = hes_server
    server.handler = lambda request: FakeResponse.json(
        200,
        {
            "meter_no": "SM-OTHER",
            "relay": "connected",
            "communicating": True,
            "remote_switch": True,
            "last_seen": None,
        },
    )
    with pytest.raises(ConnectorUnavailable):
        client_for(server).meter_state("SM-4410001")
    server.handler = lambda request: FakeResponse.json(
        200,
        {
            "meter_no": "SM-4410001",
            "relay": "half-open",
            "communicating": True,
            "remote_switch": True,
            "last_seen": None,
        },
    )
    with pytest.raises(ConnectorUnavailable):
        client_for(server).meter_state("SM-4410001")
    server.handler = lambda request: FakeResponse.json(
        202, {"transaction_id": "RC-OTHER", "status": "accepted"}
    )
    with pytest.raises(ConnectorUnavailable):
        client_for(server).initiate(command("SM-4410001", "RC-1.1"))


@pytest.mark.parametrize("mode", [*FAILURE_MODES, "bad_key"])
def test_client_failures_are_unavailable(hes_server: tuple[FakeServer, FakeHes], mode: str) -> None:
    server, _ = hes_server
    hes = client_for(server)
    if mode == "refused":
        server.down()
    elif mode == "bad_key":
        hes = HttpHeadEnd.from_context(http_context("headend", server.url, api_key="wrong"))
    else:
        server.mode = mode
    with pytest.raises(ConnectorUnavailable):
        hes.initiate(command("SM-4410001", "RC-1.1"))
    with pytest.raises(ConnectorUnavailable):
        hes.heartbeat()


def test_reference_posts_notifications_and_keeps_the_unacknowledged(ref_engine: Engine) -> None:
    received: list[FakeRequest] = []
    answers = iter([500, 200])

    def hub(request: FakeRequest) -> FakeResponse:
        received.append(request)
        return FakeResponse.json(next(answers), {})

    with FakeServer(hub) as server:
        hes = reference(ref_engine)
        hes.install_meter("SM-4410009", RelayState.DISCONNECTED)
        hes.initiate(command("SM-4410009", "RC-9.1", response_url=server.url + "/notify"))
        assert hes.post_notifications() == 0  # the hub answered 500: offered again
        assert hes.post_notifications() == 1
    assert [r.path for r in received] == ["/notify", "/notify"]
    assert {StateChange.decode(r.body).transaction_id for r in received} == {"RC-9.1"}
    assert signature_ok(SECRET, received[1].body, received[1].headers[SIGNATURE_HEADER.lower()])
