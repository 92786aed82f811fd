"""Smart-meter head-end: the simulated meters on SQLite/PostgreSQL and the REST client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.headend import CommandAction, CommandState, IHeadEnd, RelayState
from connectors.headend.client import HttpHeadEnd
from connectors.headend.reference import ReferenceHeadEnd, RefHesCommand
from connectors.reference_db import set_down
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer
from tests.connectors.messaging_fixtures import FAILURE_MODES, http_context, ref_context, ref_engine

__all__ = ["ref_engine"]


def test_reference_reconnects_a_disconnected_meter_at_once(ref_engine: Engine) -> None:
    hes = ReferenceHeadEnd.from_context(ref_context("headend", ref_engine))
    assert IHeadEnd.providedBy(hes)
    hes.install_meter("SM-4410001", RelayState.DISCONNECTED)
    command = hes.connect("SM-4410001", "payment received RC-1", "reconnect:RC-1")
    assert command.state is CommandState.EXECUTED and command.action is CommandAction.CONNECT
    status = hes.status("SM-4410001")
    assert status.relay is RelayState.CONNECTED and status.last_seen is not None
    # The worker retries after a crash: the same command, nothing switched twice.
    again = hes.connect("SM-4410001", "payment received RC-1", "reconnect:RC-1")
    assert again.command_id == command.command_id
    with pytest.raises(ConnectorRejected) as err:
        hes.disconnect("SM-4410001", "dues", "reconnect:RC-1")
    assert err.value.code == "idempotency_conflict"


def test_reference_commands_are_asynchronous_with_a_delay(ref_engine: Engine) -> None:
    hes = ReferenceHeadEnd.from_context(ref_context("headend", ref_engine, execute_after="600"))
    hes.install_meter("SM-4410002", RelayState.CONNECTED)
    command = hes.disconnect("SM-4410002", "non-payment", "dc:1")
    assert command.state is CommandState.ACCEPTED
    assert hes.command_status(command.command_id).state is CommandState.ACCEPTED
    assert hes.status("SM-4410002").relay is RelayState.CONNECTED
    # Let the simulated ten minutes pass.
    with ref_engine.begin() as conn:
        conn.execute(update(RefHesCommand).values(requested_at=datetime.now(UTC) - timedelta(seconds=601)))
    done = hes.command_status(command.command_id)
    assert done.state is CommandState.EXECUTED and done.executed_at is not None
    assert hes.status("SM-4410002").relay is RelayState.DISCONNECTED


def test_reference_meter_out_of_reach_fails_the_command(ref_engine: Engine) -> None:
    hes = ReferenceHeadEnd.from_context(ref_context("headend", ref_engine))
    hes.install_meter("SM-4410003", RelayState.DISCONNECTED, communicating=False)
    command = hes.connect("SM-4410003", "payment", "rc:3")
    assert command.state is CommandState.FAILED and command.failure_code == "meter_not_communicating"
    assert hes.status("SM-4410003").relay is RelayState.DISCONNECTED
    with pytest.raises(NotFound):
        hes.connect("SM-0000000", "payment", "rc:4")
    with pytest.raises(NotFound):
        hes.status("SM-0000000")
    with pytest.raises(NotFound):
        hes.command_status("cmd_nope")
    with pytest.raises(ValueError):
        hes.status("sm 44")


def test_reference_down(ref_engine: Engine) -> None:
    hes = ReferenceHeadEnd.from_context(ref_context("headend", ref_engine))
    hes.install_meter("SM-4410004")
    set_down(ref_engine, "headend")
    with pytest.raises(ConnectorUnavailable):
        hes.connect("SM-4410004", "payment", "rc:5")
    with pytest.raises(ConnectorUnavailable):
        hes.heartbeat()


# -- REST client ------------------------------------------------------------------------
class FakeHes:
    """A head-end that accepts commands and executes them on the second poll."""

    def __init__(self) -> None:
        self.meters = {"SM-4410001": "disconnected"}
        self.commands: dict[str, dict[str, object]] = {}
        self.polls: dict[str, int] = {}

    def __call__(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != "Bearer hes-key":
            return FakeResponse.json(403, {"error": "forbidden"})
        parts = request.path.strip("/").split("/")
        if parts == ["v1", "health"]:
            return FakeResponse.json(200, {"status": "ok"})
        if request.method == "POST" and len(parts) == 4 and parts[1] == "meters" and parts[3] == "commands":
            if parts[2] not in self.meters:
                return FakeResponse.json(404, {"error": "unknown_meter"})
            body = request.json()
            for command in self.commands.values():
                if command["idempotency_key"] == body["idempotency_key"]:
                    return FakeResponse.json(200, command)
            command_id = f"c{len(self.commands) + 1}"
            self.commands[command_id] = {
                "command_id": command_id,
                "meter_no": parts[2],
                "action": body["action"],
                "state": "accepted",
                "reason": body["reason"],
                "idempotency_key": body["idempotency_key"],
                "requested_at": "2026-11-23T10:00:00+05:30",
                "executed_at": None,
                "failure_code": None,
            }
            return FakeResponse.json(202, self.commands[command_id])
        if request.method == "GET" and parts[:2] == ["v1", "commands"]:
            polled = self.commands.get(parts[2])
            if polled is None:
                return FakeResponse.json(404, {"error": "unknown_command"})
            self.polls[parts[2]] = self.polls.get(parts[2], 0) + 1
            if self.polls[parts[2]] >= 2:
                polled.update(state="executed", executed_at="2026-11-23T10:02:00+05:30")
                self.meters[str(polled["meter_no"])] = (
                    "connected" if polled["action"] == "connect" else "disconnected"
                )
            return FakeResponse.json(200, polled)
        if request.method == "GET" and parts[:2] == ["v1", "meters"]:
            relay = self.meters.get(parts[2])
            if relay is None:
                return FakeResponse.json(404, {"error": "unknown_meter"})
            return FakeResponse.json(
                200,
                {
                    "meter_no": parts[2],
                    "relay": relay,
                    "last_seen": "2026-11-23T09:59:00Z",
                    "communicating": True,
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


def test_client_command_accepted_then_executed(hes_server: tuple[FakeServer, FakeHes]) -> None:
    server, _ = hes_server
    hes = client_for(server)
    assert IHeadEnd.providedBy(hes)
    command = hes.connect("SM-4410001", "भुगतान प्राप्त / payment received", "rc:1")
    assert command.state is CommandState.ACCEPTED and command.reason == "भुगतान प्राप्त / payment received"
    assert command.requested_at == datetime(2026, 11, 23, 4, 30, tzinfo=UTC)
    assert (
        hes.connect("SM-4410001", "भुगतान प्राप्त / payment received", "rc:1").command_id == command.command_id
    )
    assert not hes.command_status(command.command_id).state.final
    done = hes.command_status(command.command_id)
    assert done.state is CommandState.EXECUTED and done.state.final
    status = hes.status("SM-4410001")
    assert status.relay is RelayState.CONNECTED and status.communicating
    assert status.last_seen == datetime(2026, 11, 23, 9, 59, tzinfo=UTC)
    with pytest.raises(NotFound):
        hes.connect("SM-9999999", "payment", "rc:2")
    with pytest.raises(NotFound):
        hes.command_status("c404")
    hes.heartbeat()


def test_client_refuses_an_answer_about_another_meter(hes_server: tuple[FakeServer, FakeHes]) -> None:
    server, _ = hes_server
    server.handler = lambda request: FakeResponse.json(
        200, {"meter_no": "SM-OTHER", "relay": "connected", "last_seen": None, "communicating": True}
    )
    with pytest.raises(ConnectorUnavailable):
        client_for(server).status("SM-4410001")
    server.handler = lambda request: FakeResponse.json(
        200, {"meter_no": "SM-4410001", "relay": "half-open", "last_seen": None, "communicating": True}
    )
    with pytest.raises(ConnectorUnavailable):
        client_for(server).status("SM-4410001")


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
        hes.connect("SM-4410001", "payment", "rc:1")
    with pytest.raises(ConnectorUnavailable):
        hes.heartbeat()
