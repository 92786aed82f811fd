"""RestMeterData: an httpx client for the MDAS's readings API.

ini (under ``hub.meterdata.``)::

    hub.meterdata.backend = connectors.meterdata.rest:RestMeterData
    hub.meterdata.url = https://mdas.discom.example/api   # required
    hub.meterdata.api_key = ...                          # optional; sent as "Authorization: Bearer"
    hub.meterdata.connect_timeout = 2                    # seconds (default 2)
    hub.meterdata.read_timeout = 10                      # seconds (default 10: a page is up to 5,000 readings)
    hub.meterdata.ca_file = /etc/hub/mdas-ca.pem         # optional private CA

JSON contract (version 1; UTF-8; every answer is a JSON object):

``GET /v1/health`` -> ``{"status": "ok"}``

``GET /v1/readings?from=T1&to=T2&after=N&limit=M`` (T1, T2 ISO-8601 with zone, URL-encoded) ->
``{"readings": [Reading, ...], "more": bool}``: the readings taken from T1 to T2 inclusive with
an id above N, ascending by id, at most M (1..5,000)::

    Reading: {"id": 8812, "node_code": "DT-101-1-02-007", "meter_no": "DM-101102007",
              "read_at": "2026-09-30T18:30:00+00:00", "register_wh": 48211950,
              "kind": "snapshot" | "final" | "initial"}

Unknown fields are ignored. A page that breaks the contract (ids not above N or not ascending,
more readings than asked, a reading outside T1..T2, a malformed field) is a garbage answer:
ConnectorUnavailable, and the reader stops (the audit then imports nothing of the run).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.errors import ConnectorUnavailable
from connectors.meterdata import MAX_PAGE, SYSTEM, IMeterData, MeterReading, ReadingKind, check_reading
from connectors.rest import JsonHttp, base_url, timeouts


def parse_reading(body: Any, start: datetime, end: datetime) -> MeterReading:
    """A Reading of the contract (ValueError naming the field if not)."""
    if not isinstance(body, dict):
        raise ValueError("reading")
    values: dict[str, Any] = {}
    for key, kind in (
        ("id", int),
        ("node_code", str),
        ("meter_no", str),
        ("read_at", str),
        ("register_wh", int),
    ):
        value = body.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(key)
        values[key] = value
    try:
        read_at = datetime.fromisoformat(values["read_at"])
        kind_value = ReadingKind(str(body.get("kind")))
    except ValueError:
        raise ValueError("read_at or kind") from None
    if read_at.tzinfo is None or not start <= read_at <= end:
        raise ValueError("read_at")
    reading = MeterReading(
        values["id"], values["node_code"], values["meter_no"], read_at, values["register_wh"], kind_value
    )
    check_reading(reading)
    return reading


@implementer(IMeterData)
class RestMeterData:
    system = SYSTEM

    def __init__(self, http: JsonHttp, page_size: int = MAX_PAGE) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"connector meterdata: page_size must be 1..{MAX_PAGE}")
        self.http = http
        self.page_size = page_size

    @classmethod
    def from_context(cls, context: ConnectorContext) -> RestMeterData:
        api_key = context.options.get("api_key")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        ca_file = context.options.get("ca_file")
        return cls(
            JsonHttp(
                SYSTEM,
                base_url(context),
                timeouts(context, read=10.0),
                headers=headers,
                verify=ca_file if ca_file else True,
            ),
            int(context.float_option("page_size", float(MAX_PAGE))),
        )

    def close(self) -> None:
        self.http.close()

    def heartbeat(self) -> None:
        _status, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable(f"{self.system}: not healthy", system=self.system)

    def readings(self, start: datetime, end: datetime) -> Iterator[MeterReading]:
        if start.tzinfo is None or end.tzinfo is None or end < start:
            raise ValueError("start and end must be aware datetimes, start first")
        after = 0
        while True:
            query = urlencode(
                {"from": start.isoformat(), "to": end.isoformat(), "after": after, "limit": self.page_size}
            )
            _status, body = self.http.call("GET", f"/v1/readings?{query}")
            try:
                page, more = self._page(body, after, start, end)
            except ValueError as exc:
                raise ConnectorUnavailable(
                    f"{self.system}: garbage answer ({exc})", system=self.system
                ) from None
            yield from page
            if not more:
                return
            after = page[-1].reading_id

    def _page(
        self, body: dict[str, Any], after: int, start: datetime, end: datetime
    ) -> tuple[list[MeterReading], bool]:
        raw = body.get("readings")
        more = body.get("more")
        if not isinstance(raw, list) or len(raw) > self.page_size:
            raise ValueError("readings")
        if not isinstance(more, bool) or (more and not raw):
            raise ValueError("more")
        page: list[MeterReading] = []
        last = after
        for item in raw:
            reading = parse_reading(item, start, end)
            if reading.reading_id <= last:
                raise ValueError("id")
            last = reading.reading_id
            page.append(reading)
        return page, more
