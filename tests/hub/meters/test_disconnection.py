"""Disconnection orders for non-payment: section 56's notice, switching hours, withdrawn when paid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import update

from connectors.headend import RelayState
from hub.meters.service import IST, MeterSettings
from hub.models.meter import MeterCommand
from tests.hub.meters.flow import MeterFlow


def test_disconnection_waits_for_the_notice_then_switches_once(flow: MeterFlow) -> None:
    number, meter, mobile = flow.persona("dues")
    today = datetime.now(IST).date()
    flow.disconnection_ordered(number, 501, today.isoformat())
    flow.disconnection_ordered(number, 501, today.isoformat())  # billing's retry
    flow.drain()
    [command] = flow.commands(number)
    assert command.action == "disconnect" and command.status == "requested"
    assert command.notice_served_on == today
    assert command.next_check_at is not None
    assert command.next_check_at.astimezone(IST).date() == today + timedelta(days=16)
    flow.watch()
    assert flow.headend_commands(meter) == 0  # the notice's clear days have not passed
    flow.time_passes()
    flow.watch()
    assert flow.headend_commands(meter) == 0  # the watcher's clock is not enough: the notice counts
    with flow.engine.begin() as conn:
        conn.execute(update(MeterCommand).values(notice_served_on=today - timedelta(days=16)))
    flow.time_passes()
    flow.watch()
    assert flow.headend_commands(meter) == 1
    [answer] = flow.deliver_notifications()
    assert answer.json["status"] == "executed"
    assert flow.connectors["headend"].meter_state(meter).relay is RelayState.DISCONNECTED
    flow.drain()
    assert flow.sms(mobile) == []


def test_notice_served_long_ago_disconnects_at_once(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("dues")
    flow.disconnection_ordered(number, 502, (datetime.now(IST).date() - timedelta(days=20)).isoformat())
    flow.drain()
    assert flow.commands(number)[0].status == "accepted"
    assert flow.headend_commands(meter) == 1


def test_dues_paid_before_the_disconnection_withdraw_it(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("dues")
    flow.disconnection_ordered(number, 503, datetime.now(IST).date().isoformat())
    flow.drain()
    flow.connectors["billing"].post_payment(
        number, Decimal("4572.50"), "PAY-DC-503", datetime.now(UTC), "counter"
    )
    with flow.engine.begin() as conn:
        conn.execute(update(MeterCommand).values(notice_served_on=date.today() - timedelta(days=30)))
    flow.time_passes()
    flow.watch()
    [command] = flow.commands(number)
    assert command.status == "withdrawn"
    assert flow.headend_commands(meter) == 0


def test_a_disconnected_connection_is_not_ordered_again(flow: MeterFlow) -> None:
    number, meter, _ = flow.persona("disconnected_smart")
    flow.disconnection_ordered(number, 504, "2020-01-01")
    flow.drain()
    assert flow.commands(number) == []


def _settings(hours: tuple[int, int] = (10, 16), days: str = "01234") -> MeterSettings:
    return MeterSettings(
        threshold=Decimal("0"),
        charges=Decimal("0"),
        notification_secret="s",
        window=timedelta(minutes=5),
        max_attempts=3,
        retry_seconds=60,
        watch_interval_seconds=30,
        max_age=timedelta(minutes=5),
        response_url="http://hub.test/n",
        notice_clear_days=15,
        switching_hours=hours,
        switching_days=frozenset(int(d) for d in days),
    )


def test_switching_hours_and_days() -> None:
    settings = _settings()
    served = date(2026, 11, 2)  # a Monday; 15 clear days: the 18th (a Wednesday) is the first allowed day
    early = datetime(2026, 11, 5, 6, tzinfo=UTC)
    assert settings.earliest_disconnection(served, early) == datetime(2026, 11, 18, 10, tzinfo=IST)
    # Wednesday 18th 17:00 IST is after hours: Thursday 10:00.
    evening = datetime(2026, 11, 18, 17, tzinfo=IST).astimezone(UTC)
    assert settings.earliest_disconnection(served, evening) == datetime(2026, 11, 19, 10, tzinfo=IST)
    # Friday 20th 16:30 IST: the next working day is Monday 23rd.
    friday = datetime(2026, 11, 20, 16, 30, tzinfo=IST).astimezone(UTC)
    assert settings.earliest_disconnection(served, friday) == datetime(2026, 11, 23, 10, tzinfo=IST)
    within = datetime(2026, 11, 24, 11, 15, tzinfo=IST).astimezone(UTC)
    assert settings.earliest_disconnection(served, within) == within
