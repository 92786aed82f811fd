"""A channel's settlement report: what the hub's daily reconciliation reads of every channel.

Each system that collects the discom's money (the payment gateway, the bill-payment platform,
the state's citizen-services portal) settles a day in its own format; its connector turns that
into one shape, so the reconciliation knows only this one:

    transaction_id,amount,paid_on          the header, then one line per settled payment:
    TXN123,1830.00,2026-11-23              the channel's transaction id, rupees, the India date

``settlement_report(day)`` yields those lines (no line ends). ConnectorUnavailable while the
system cannot answer or has not settled the day yet (a day is settled only after it has ended);
never an empty report in place of "not yet". The iteration may raise part-way (a report cut off,
or one whose own totals do not add up): the caller keeps nothing of a report it could not read to
the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

from connectors.errors import ConnectorUnavailable

SETTLEMENT_HEADER = "transaction_id,amount,paid_on"
IST = timezone(timedelta(hours=5, minutes=30))


class SettlementReport(Protocol):
    """A system whose settlement of a day the daily reconciliation reads (found by system name:
    several systems have one, so it is not a service of its own)."""

    def settlement_report(self, day: date) -> Iterator[str]:
        """``day``'s settlement (India time) as the lines described in :mod:`connectors.settlement`."""


def settlement_line(transaction_id: str, paise: int, paid_on: date) -> str:
    """One line of the report: the id, rupees with two decimals, the India date."""
    return f"{transaction_id},{paise // 100}.{paise % 100:02d},{paid_on.isoformat()}"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The India day ``day`` as [start, end) instants."""
    start = datetime.combine(day, datetime.min.time(), IST)
    return start, start + timedelta(days=1)


def refuse_unsettled(system: str, day: date, delay: timedelta, now: datetime | None = None) -> None:
    """A reference system settles ``day`` only once it is over and ``delay`` more has passed."""
    if (now or datetime.now(UTC)) < day_bounds(day)[1] + delay:
        raise ConnectorUnavailable(f"{system}: settlement of {day} not ready", system=system)
