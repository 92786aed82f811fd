"""The REST client of the bill-payment platform's operating unit: the biller's reconciliation file.

Wire contract::

    GET {url}/v1/billers/{biller_id}/recon/{YYYYMMDD}     (HTTP Basic biller_id:key)
        200 text/plain: the reconciliation file (connectors.bbps), streamed
        404 {"error": "recon_not_ready"}                    before the day is settled
    GET {url}/v1/health                                     200 {"status": "ok"}

Settings (under ``hub.bbps.``): ``url``, ``biller_id``, ``key``, ``connect_timeout``,
``read_timeout``, ``ca_file``, ``settlement_timeout`` (seconds for a whole file, default 300).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.parse import quote

from connectors.base import ConnectorContext
from connectors.bbps import DEFAULT_BILLER_ID, SYSTEM, read_recon_file
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.rest import JsonHttp


class HttpBbps:
    def __init__(self, http: JsonHttp, biller_id: str, settlement_timeout: float) -> None:
        self.http = http
        self.biller_id = biller_id
        self.settlement_timeout = settlement_timeout

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpBbps:
        biller_id = context.option("biller_id", DEFAULT_BILLER_ID)
        return cls(
            JsonHttp.from_context(SYSTEM, context, auth=(biller_id, context.option("key"))),
            biller_id,
            context.float_option("settlement_timeout", 300.0),
        )

    def recon_file(self, day: date) -> Iterator[str]:
        path = f"/v1/billers/{quote(self.biller_id, safe='')}/recon/{day.strftime('%Y%m%d')}"
        try:
            yield from self.http.text_lines(path, self.settlement_timeout, content_type="text/plain")
        except NotFound:
            # Not settled yet: come back later, never "the platform settled nothing".
            raise ConnectorUnavailable(f"{SYSTEM}: settlement of {day} not ready", system=SYSTEM) from None

    def settlement_report(self, day: date) -> Iterator[str]:
        return read_recon_file(self.recon_file(day), day, self.biller_id)

    def heartbeat(self) -> None:
        _, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable(f"{SYSTEM}: the platform reports not ok", system=SYSTEM)
