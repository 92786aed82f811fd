"""A disconnected smart meter back on after payment: billing -> outbox -> head-end -> notification -> SMS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from connectors.errors import ConnectorUnavailable
from connectors.headend import SIGNATURE_HEADER, RelayState, sign
from connectors.reference_db import set_down
from hub.audit import verify_chain
from hub.lookup import registered
from hub.models.audit import AuditEntry
from hub.models.meter import CommandStatus
from hub.models.outbox import OutboxMessage
from hub.outbox import OutboxHandlers, deliverer_from_settings
from tests.hub.meters.flow import MeterFlow
from tests.hub.noted import Noted

SECRET = "test-headend-notification-secret"
NOTIFY = "/api/v1/meters/headend/notifications"


def _audit_actions(flow: MeterFlow, subject_id: str) -> list[str]:
    with Session(flow.engine) as session:
        return list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.subject_id == subject_id).order_by(AuditEntry.seq)
            )
        )


def test_payment_of_the_dues_reconnects_the_meter_and_the_consumer_is_told(flow: MeterFlow) -> None:
    number, meter, mobile = flow.persona("disconnected_smart")
    headend = flow.connectors["headend"]
    assert headend.meter_state(meter).relay is RelayState.DISCONNECTED
    flow.pay(number, "1830.00")
    flow.drain()
    [command] = flow.status(number)["commands"]
    assert command["status"] == "accepted" and command["attempts"] == 1
    [answer] = flow.deliver_notifications()
    assert answer.json["status"] == "executed"
    assert headend.meter_state(meter).relay is RelayState.CONNECTED
    [command] = flow.status(number)["commands"]
    assert command["status"] == "executed" and command["executed_at"]
    assert flow.sms(mobile) == []  # sent by the worker, after the commit
    flow.drain()
    [sms] = flow.sms(mobile)
    assert number in sms.text
    assert _audit_actions(flow, command["transaction_id"]) == [
        "meters.command_requested",
        "meters.command_accepted",
        "meters.command_executed",
    ]


def test_the_same_payment_delivered_twice_commands_once(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    payment = flow.pay(number, "1830.00")
    flow.payment_posted(number, payment, "1830.00")  # the bills flow's retry after a crash
    outcomes = flow.drain()
    assert [o.result for o in outcomes] == ["delivered", "delivered"]
    assert len(flow.commands(number)) == 1
    assert flow.headend_commands(meter) == 1


def test_payments_posted_together_are_decided_in_one_pass(flow: MeterFlow) -> None:
    smart, smart_meter, _ = flow.persona("disconnected_smart")
    ct, ct_meter, _ = flow.persona("disconnected_ct_meter")
    dues, _, _ = flow.persona("dues")
    paid = flow.pay(smart, "1830.00")
    flow.pay(ct, "24000.00")
    flow.pay(dues, "100.00")
    flow.payment_posted(smart, paid, "1830.00")  # the bills flow's retry, behind the first
    assert [o.result for o in flow.drain()] == ["delivered"] * 4
    [command] = flow.commands(smart)
    assert command.status == CommandStatus.ACCEPTED.value and command.attempts == 1
    assert flow.headend_commands(smart_meter) == 1
    [field] = flow.commands(ct)
    assert field.status == "field_visit" and field.failure_code == "remote_switch_unsupported"
    assert flow.headend_commands(ct_meter) == 0
    assert flow.commands(dues) == []
    assert _audit_actions(flow, command.transaction_id) == [
        "meters.command_requested",
        "meters.command_accepted",
    ]
    with Session(flow.engine) as session:
        assert verify_chain(session).ok


class CallsCounted:
    """The head-end, counting the calls that hand it commands."""

    def __init__(self, headend: Any) -> None:
        self.headend = headend
        self.calls: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.headend, name)

    def initiate_many(self, requests: Any) -> Any:
        self.calls.append([r.transaction_id for r in requests])
        return self.headend.initiate_many(requests)


def test_reconnections_decided_together_reach_the_headend_in_one_call(flow: MeterFlow) -> None:
    from connectors.demo import generate_demo_data

    # Beside the personas, about one connection in a hundred is a disconnected smart meter.
    generate_demo_data(flow.reference, consumers=800, seed=1, replace=True)
    with flow.reference.connect() as conn:
        owing = conn.execute(
            text(
                "SELECT c.consumer_number, m.meter_number, SUM(l.amount_paise) FROM ref_consumer c "
                "JOIN ref_meter m ON m.consumer_number = c.consumer_number "
                "JOIN ref_hes_meter h ON h.meter_no = m.meter_number "
                "JOIN ref_ledger_entry l ON l.consumer_number = c.consumer_number "
                "WHERE c.connection_status = 'disconnected' AND m.meter_type = 'smart' "
                "AND m.supply = 'disconnected' AND h.remote_switch AND h.communicating "
                "AND h.simulate = 'normal' GROUP BY c.consumer_number, m.meter_number "
                "HAVING SUM(l.amount_paise) > 0 ORDER BY c.consumer_number LIMIT 3"
            )
        ).all()
    assert len(owing) == 3
    for number, _, paise in owing:
        flow.pay(number, f"{paise / 100:.2f}")
    connectors = dict(flow.connectors)
    headend = connectors["headend"] = CallsCounted(connectors["headend"])
    billing = connectors["billing"] = Noted(connectors["billing"])
    worker = deliverer_from_settings(
        flow.registry.settings, flow.engine, connectors, registered(flow.registry, OutboxHandlers)
    )
    with Session(flow.engine) as session:
        messages = session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.kind == "meters.payment_posted")
        ).all()
    assert [o.result for o in worker.deliver(messages)] == ["delivered"] * 3
    # Billing is asked once about the three connections, once for their dues.
    assert billing.calls == ["connections_many", "outstanding_dues_many"]
    [call] = headend.calls
    assert sorted(call) == sorted(f"RC-{number}-{payment}.1" for number, payment in _payments(flow, owing))
    for number, meter, _ in owing:
        [command] = flow.commands(number)
        assert command.status == CommandStatus.ACCEPTED.value and command.attempts == 1
        assert flow.headend_commands(meter) == 1


def _payments(flow: MeterFlow, owing: Any) -> list[tuple[str, int]]:
    return [(number, flow.commands(number)[0].payment_id or 0) for number, _, _ in owing]


class DuesTimeOut:
    """Billing that answers about the connection but times out on the dues."""

    def __init__(self, billing: Any) -> None:
        self.billing = billing

    def __getattr__(self, name: str) -> Any:
        return getattr(self.billing, name)

    def outstanding_dues_many(self, *args: Any) -> Any:
        raise ConnectorUnavailable("billing timed out", system="billing")


def test_dues_unanswered_nothing_decided_until_billing_answers(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    flow.pay(number, "1830.00")
    connectors = dict(flow.connectors)
    connectors["billing"] = DuesTimeOut(connectors["billing"])
    worker = deliverer_from_settings(
        flow.registry.settings, flow.engine, connectors, registered(flow.registry, OutboxHandlers)
    )
    with Session(flow.engine) as session:
        [message] = session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.kind == "meters.payment_posted")
        ).all()
    assert [o.result for o in worker.deliver([message])] == ["retry"]
    assert flow.commands(number) == []
    assert flow.headend_commands(meter) == 0
    with flow.engine.begin() as conn:
        conn.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))
    flow.drain()
    [command] = flow.commands(number)
    assert command.status == CommandStatus.ACCEPTED.value
    assert flow.headend_commands(meter) == 1


def test_dues_remaining_no_command(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    flow.pay(number, "1000.00")
    assert [o.result for o in flow.drain()] == ["delivered"]
    assert flow.commands(number) == []
    assert flow.headend_commands(meter) == 0
    assert "meters.reconnect_withheld" in _audit_actions(flow, number)


def test_active_connection_is_not_commanded(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("dues")
    flow.pay(number, "4572.50")
    flow.drain()
    assert flow.commands(number) == []
    assert flow.headend_commands(meter) == 0


def test_headend_down_nothing_switched_and_the_message_waits(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    set_down(flow.reference, "headend")
    flow.pay(number, "1830.00")
    [outcome] = flow.drain()
    assert outcome.result == "retry"
    [command] = flow.commands(number)
    assert command.status == CommandStatus.REQUESTED.value and command.attempts == 0
    assert flow.headend_commands(meter) == 0
    set_down(flow.reference, "headend", False)
    with flow.engine.begin() as conn:
        conn.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))
    assert [o.result for o in flow.drain()] == ["delivered"]
    [command] = flow.commands(number)
    assert command.status == CommandStatus.ACCEPTED.value
    assert flow.headend_commands(meter) == 1


def test_billing_down_nothing_decided(flow: MeterFlow) -> None:
    number, _, _ = flow.persona("disconnected_smart")
    flow.pay(number, "1830.00")
    set_down(flow.reference, "billing")
    try:
        assert [o.result for o in flow.drain()] == ["retry"]
        assert flow.commands(number) == []
    finally:
        set_down(flow.reference, "billing", False)


def test_failures_retry_then_go_to_the_field_queue(flow: MeterFlow) -> None:
    number, meter, mobile = flow.persona("disconnected_smart")
    flow.connectors["headend"].simulate(meter, communicating=False)
    flow.pay(number, "1830.00")
    flow.drain()
    [answer] = flow.deliver_notifications()
    assert answer.json["status"] == "failed"
    flow.watch()  # the backoff has not run out: nothing sent
    assert flow.headend_commands(meter) == 1
    flow.time_passes()
    flow.watch()
    [command] = flow.commands(number)
    assert command.status == "accepted" and command.attempts == 2
    [answer] = flow.deliver_notifications()
    assert answer.json["status"] == "field_visit"
    assert flow.headend_commands(meter) == 2
    browser = flow.console("dc.manager", [command.dc_code])
    page = browser.get("/console").click(href="/console/meters/field-visits")
    assert number in page.text and meter in page.text
    other = flow.console("other.dc", ["DC-999"])
    assert number not in other.get("/console/meters/field-visits").text
    assert flow.sms(mobile) == []


def test_lost_notification_the_relay_is_queried_after_the_window(flow: MeterFlow) -> None:
    number, meter, mobile = flow.persona("disconnected_smart")
    flow.connectors["headend"].simulate(meter, simulate="lose")
    flow.pay(number, "1830.00")
    flow.drain()
    assert flow.deliver_notifications() == []
    flow.watch()
    assert flow.commands(number)[0].status == "accepted"  # still within the window
    flow.time_passes()
    flow.watch()
    assert flow.commands(number)[0].status == "executed"
    flow.drain()
    assert len(flow.sms(mobile)) == 1


def test_no_confirmation_and_relay_unchanged_expires_and_retries(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    flow.connectors["headend"].simulate(meter, simulate="ignore")
    flow.pay(number, "1830.00")
    flow.drain()
    flow.time_passes()
    flow.watch()
    assert flow.commands(number)[0].status == "expired"
    flow.time_passes()
    flow.watch()
    flow.time_passes()
    flow.watch()
    [command] = flow.commands(number)
    assert command.status == "field_visit" and command.failure_code == "no_confirmation"
    assert flow.headend_commands(meter) == 2


def test_ct_operated_meter_goes_straight_to_the_field_queue(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("disconnected_ct_meter")
    flow.pay(number, "24000.00")
    flow.drain()
    [command] = flow.commands(number)
    assert command.status == "field_visit" and command.failure_code == "remote_switch_unsupported"
    assert flow.headend_commands(meter) == 0


# -- the notification endpoint -------------------------------------------------------------------


def _notification(transaction_id: str, meter: str, outcome: str, **changes: object) -> dict[str, object]:
    return {
        "notification_id": "N-test-" + outcome,
        "transaction_id": transaction_id,
        "meter_no": meter,
        "action": "connect",
        "outcome": outcome,
        "relay": "connected" if outcome == "executed" else "disconnected",
        "failure_code": None,
        "sent_at": datetime.now(UTC).isoformat(),
        **changes,
    }


def _post(flow: MeterFlow, body: dict[str, object], status: int, secret: str = SECRET) -> dict[str, object]:
    raw = json.dumps(body).encode()
    answer = flow.app.post(
        NOTIFY,
        raw,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw)},
        status=status,
    )
    if status >= 400:
        assert answer.content_type == "application/problem+json"
    return dict(answer.json)


def test_forged_replayed_stale_unknown_and_out_of_order_notifications_are_refused(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    flow.pay(number, "1830.00")
    flow.drain()
    [command] = flow.commands(number)
    txn = command.transaction_id + ".1"
    executed = _notification(txn, meter, "executed")
    assert _post(flow, executed, 401, secret="guessed")["code"] == "meter_notification_forged"
    unsigned = flow.app.post(NOTIFY, json.dumps(executed).encode(), status=401)
    assert unsigned.json["code"] == "meter_notification_forged"
    stale = _notification(
        txn, meter, "executed", sent_at=(datetime.now(UTC) - timedelta(hours=2)).isoformat()
    )
    assert _post(flow, stale, 400)["code"] == "meter_notification_stale"
    unknown = _notification("RC-0000000000-1.1", meter, "executed")
    assert _post(flow, unknown, 422)["code"] == "meter_transaction_unknown"
    assert _post(flow, _notification(txn, "SM-OTHER", "executed"), 422)["code"] == "meter_transaction_unknown"
    assert _post(flow, {"transaction_id": 7}, 400)["code"] == "meter_notification_malformed"
    assert flow.commands(number)[0].status == "accepted"
    assert _post(flow, executed, 200)["status"] == "executed"
    assert _post(flow, executed, 409)["code"] == "meter_notification_replayed"
    late = _notification(txn, meter, "accepted", notification_id="N-late")
    assert _post(flow, late, 409)["code"] == "meter_command_state_conflict"
    failed = _notification(txn, meter, "failed", notification_id="N-late-2")
    assert _post(flow, failed, 409)["code"] == "meter_command_state_conflict"
    assert flow.commands(number)[0].status == "executed"


def test_status_needs_its_scope_and_a_consumer_number(flow: MeterFlow) -> None:
    assert flow.app.get("/api/v1/meters/reconnections/1019990067", status=401).json["code"] == "invalid_token"
    answer = flow.app.get("/api/v1/meters/reconnections/12ab", headers=flow.headers, status=404)
    assert answer.content_type == "application/problem+json"
    assert flow.status("1019990067")["commands"] == []


def test_worker_killed_between_sending_and_recording_switches_once(flow: MeterFlow) -> None:
    from hub.models.meter import MeterCommand

    number, meter, mobile = flow.persona("disconnected_smart")
    flow.pay(number, "1830.00")
    flow.drain()
    # The worker died after the head-end took the command and before the hub recorded it:
    # the row still says requested and the message is delivered again.
    with flow.engine.begin() as conn:
        conn.execute(update(MeterCommand).values(status="requested", attempts=0))
        # Never acknowledged: its lease ran out and it is pending again.
        last = conn.execute(select(func.max(OutboxMessage.id))).scalar_one()
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == last, OutboxMessage.kind == "meters.payment_posted")
            .values(status="pending", claimed_until=None, next_attempt_at=datetime.now(UTC))
        )
    assert [o.result for o in flow.drain()] == ["delivered"]
    assert flow.headend_commands(meter) == 1
    [command] = flow.commands(number)
    assert command.status == "accepted" and command.attempts == 1
    flow.deliver_notifications()
    flow.drain()
    assert len(flow.sms(mobile)) == 1
