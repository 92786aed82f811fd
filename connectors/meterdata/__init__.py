# zope.interface methods have no self and no body:
# mypy: disable-error-code="empty-body,misc"
# ruff: noqa: N805
"""The meter data acquisition system (MDAS/AMR): readings of the feeder and DT meters.

The energy audit needs the energy that entered each 11 kV feeder and each distribution
transformer. Those meters (CT-operated, modem-read) are read by the discom's MDAS, not by the
smart-meter head-end (:mod:`connectors.headend` speaks the consumer meters' connect/disconnect
protocol and holds no registers), so readings are their own connector.

A reading is the cumulative import register of a meter at a moment, in whole Wh. The MDAS
takes a **midnight snapshot** (00:00 India time) of every meter each day; the audit reads
the snapshots of the first of the month and of the first of the next month. When a meter is
replaced the MDAS records the old meter's **final** reading and the new meter's **initial**
reading, both against the node, so the energy of a month with a replacement is the two
meters' differences added, never a guess. A reading the MDAS could not take is simply absent;
a register that goes backwards is passed on as read: the reader flags both.

ini::

    hub.meterdata.backend = connectors.meterdata.reference:ReferenceMeterData   # reference store
    hub.meterdata.backend = connectors.meterdata.rest:RestMeterData             # the MDAS's REST API

Every method may raise ConnectorUnavailable (MDAS down, slow, garbage answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from zope.interface import Interface

from connectors.headend import check_meter_no
from connectors.network import NODE_CODE

SYSTEM = "meterdata"
# The most readings one page may carry.
MAX_PAGE = 5_000
# A register beyond this (10^15 Wh, a terawatt-hour a thousand times over) is garbage.
MAX_REGISTER_WH = 10**15


class ReadingKind(StrEnum):
    # The daily midnight snapshot.
    SNAPSHOT = "snapshot"
    # The old meter's last reading when it was taken off the node.
    FINAL = "final"
    # The new meter's first reading when it was put on the node.
    INITIAL = "initial"


@dataclass(frozen=True)
class MeterReading:
    """One register reading of a feeder or DT meter."""

    # The MDAS's id of the reading: readings are paged in this order.
    reading_id: int
    node_code: str
    meter_no: str
    read_at: datetime
    register_wh: int
    kind: ReadingKind


class IMeterData(Interface):
    """The MDAS's readings as the hub sees them."""

    def readings(start: datetime, end: datetime) -> Iterator[MeterReading]:
        """Every reading taken at or after ``start`` and at or before ``end`` (aware datetimes),
        streamed in ``reading_id`` order. Raises ConnectorUnavailable before or during the stream."""

    def heartbeat() -> None:
        """Return if the MDAS answers; raise ConnectorUnavailable if not."""


def check_reading(reading: MeterReading) -> None:
    """ValueError naming the field if ``reading`` breaks the shape every reader relies on."""
    if not NODE_CODE.fullmatch(reading.node_code):
        raise ValueError("node_code")
    try:
        check_meter_no(reading.meter_no)
    except ValueError:
        raise ValueError("meter_no") from None
    if reading.read_at.tzinfo is None:
        raise ValueError("read_at")
    if not 0 <= reading.register_wh <= MAX_REGISTER_WH:
        raise ValueError("register_wh")
