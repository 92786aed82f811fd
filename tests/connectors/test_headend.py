"""Smart-meter head-end: the simulated meters on SQLite/PostgreSQL and the REST client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.headend import (
    MAX_COMMANDS_PER_CALL,
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


def test_reference_takes_many_commands_in_one_call(ref_engine: Engine) -> None:
    hes = reference(ref_engine)
    for meter in ("SM-4410011", "SM-4410012"):
        hes.install_meter(meter, RelayState.DISCONNECTED)
    hes.install_meter("SM-4410013", RelayState.DISCONNECTED, remote_switch=False)
    hes.install_meter("SM-4410014", RelayState.CONNECTED, simulate="ignore")
    hes.initiate(command("SM-4410011", "RC-11.1"))
    refused = hes.initiate_many(
        [
            command("SM-4410012", "RC-12.1"),
            command("SM-4410012", "DC-12.1", CommandAction.DISCONNECT),  # after the connect, in order
            command("SM-4410013", "RC-13.1"),
            command("SM-0000000", "RC-0.1"),
            command("SM-4410011", "RC-11.1", CommandAction.DISCONNECT),
            command("SM-4410011", "RC-11.2", expires_at=datetime.now(UTC) - timedelta(seconds=1)),
            command("SM-4410014", "DC-14.1", CommandAction.DISCONNECT),
        ]
    )
    assert {txn: (type(error), error.code) for txn, error in refused.items()} == {
        "RC-13.1": (ConnectorRejected, "remote_switch_unsupported"),
        "RC-0.1": (NotFound, "unknown_meter"),
        "RC-11.1": (ConnectorRejected, "idempotency_conflict"),
        "RC-11.2": (ConnectorRejected, "expired"),
    }
    assert hes.meter_state("SM-4410012").relay is RelayState.DISCONNECTED
    assert hes.meter_state("SM-4410014").relay is RelayState.CONNECTED  # ignores its commands
    changes = [StateChange.decode(note.body) for note in hes.take_notifications()]
    assert sorted((c.transaction_id, c.outcome, c.relay) for c in changes) == [
        ("DC-12.1", Outcome.EXECUTED, RelayState.DISCONNECTED),
        ("RC-11.1", Outcome.EXECUTED, RelayState.CONNECTED),
        ("RC-12.1", Outcome.EXECUTED, RelayState.DISCONNECTED),  # the relay as it is now
    ]
    assert hes.initiate_many([]) == {}
    set_down(ref_engine, "headend")
    with pytest.raises(ConnectorUnavailable):
        hes.initiate_many([command("SM-4410012", "RC-12.2")])


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
        self.calls = 0

    def command(self, body: dict[str, object]) -> dict[str, object]:
        """One command's result, as the head-end decides it."""
        txn = body["transaction_id"]
        meter = str(body["meter_no"])
        if meter not in self.meters:
            return {"transaction_id": txn, "status": "refused", "error": "unknown_meter"}
        if meter.startswith("SM-CT"):
            return {"transaction_id": txn, "status": "refused", "error": "remote_switch_unsupported"}
        known = self.commands.get(str(txn))
        if known is not None and known["action"] != body["action"]:
            return {"transaction_id": txn, "status": "refused", "error": "idempotency_conflict"}
        self.commands[str(txn)] = body
        return {"transaction_id": txn, "status": "accepted"}

    def __call__(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != "Bearer hes-key":
            return FakeResponse.json(403, {"error": "forbidden"})
        parts = request.path.strip("/").split("/")
        if parts == ["v1", "health"]:
            return FakeResponse.json(200, {"status": "ok"})
        if request.method == "POST" and parts == ["v1", "commands"]:
            self.calls += 1
            return FakeResponse.json(200, {"results": [self.command(c) for c in request.json()["commands"]]})
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


def test_client_sends_many_commands_in_one_call(hes_server: tuple[FakeServer, FakeHes]) -> None:
    server, fake = hes_server
    hes = client_for(server)
    hes.initiate(command("SM-4410001", "RC-0.1"))
    calls = fake.calls
    refused = hes.initiate_many(
        [
            command("SM-4410001", "RC-1.1"),
            command("SM-CT00001", "RC-2.1"),
            command("SM-9999999", "RC-3.1"),
            command("SM-4410001", "RC-0.1", CommandAction.DISCONNECT),
            command("SM-4410001", "RC-0.1.2"),
        ]
    )
    assert fake.calls == calls + 1
    assert set(refused) == {"RC-2.1", "RC-3.1", "RC-0.1"}
    assert isinstance(refused["RC-3.1"], NotFound)
    assert (
        isinstance(refused["RC-2.1"], ConnectorRejected)
        and refused["RC-2.1"].code == "remote_switch_unsupported"
    )
    assert (
        isinstance(refused["RC-0.1"], ConnectorRejected) and refused["RC-0.1"].code == "idempotency_conflict"
    )
    assert {"RC-1.1", "RC-0.1.2"} <= set(fake.commands)
    assert hes.initiate_many([]) == {} and fake.calls == calls + 1


def test_one_call_refuses_duplicates_and_more_than_its_limit(hes_server: tuple[FakeServer, FakeHes]) -> None:
    server, fake = hes_server
    hes = client_for(server)
    with pytest.raises(ValueError):
        hes.initiate_many([command("SM-4410001", "RC-1.1"), command("SM-4410001", "RC-1.1")])
    with pytest.raises(ValueError):
        hes.initiate_many([command("SM-4410001", f"RC-{i}.1") for i in range(MAX_COMMANDS_PER_CALL + 1)])
    assert fake.calls == 0


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
    two = [command("SM-4410001", "RC-1.1"), command("SM-4410001", "RC-2.1")]
    for results in (
        None,
        [],
        [{"transaction_id": "RC-1.1", "status": "accepted"}],  # one result for two commands
        [
            {"transaction_id": "RC-2.1", "status": "accepted"},
            {"transaction_id": "RC-1.1", "status": "accepted"},
        ],
        [
            {"transaction_id": "RC-1.1", "status": "accepted"},
            {"transaction_id": "RC-OTHER", "status": "accepted"},
        ],
        [{"transaction_id": "RC-1.1", "status": "accepted"}, {"transaction_id": "RC-2.1", "status": "maybe"}],
        [
            {"transaction_id": "RC-1.1", "status": "accepted"},
            {"transaction_id": "RC-2.1", "status": "refused"},
        ],
        [{"transaction_id": "RC-1.1", "status": "accepted"}, "accepted"],
    ):
        server.handler = _answering({"results": results})
        with pytest.raises(ConnectorUnavailable):
            client_for(server).initiate_many(two)


def _answering(body: dict[str, object]) -> Callable[[FakeRequest], FakeResponse]:
    return lambda request: FakeResponse.json(200, body)


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
