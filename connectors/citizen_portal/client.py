"""The REST client of the citizen-services portal: the department's daily settlement statement.

Wire contract::

    GET {url}/api/v1/departments/{dept_code}/settlement?date=DD-MM-YYYY&page=N   (X-Api-Key: key)
        200 one page of the statement (connectors.citizen_portal), JSON
        404 {"error": "not_ready"}          before the day is settled
    GET {url}/api/v1/health                 200 {"status": "ok"}

Every page is asked with the connector's timeouts, and the whole statement within
``settlement_timeout`` seconds (default 300), so a portal answering slowly page after page
cannot hold the daily job.

Settings (under ``hub.citizen_portal.``): ``url``, ``dept_code``, ``key``, ``connect_timeout``,
``read_timeout``, ``ca_file``, ``settlement_timeout``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from connectors.base import ConnectorContext
from connectors.citizen_portal import DEFAULT_DEPT_CODE, SYSTEM, read_statement, statement_date
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.rest import JsonHttp


class HttpPortal:
    def __init__(self, http: JsonHttp, dept_code: str, settlement_timeout: float) -> None:
        self.http = http
        self.dept_code = dept_code
        self.settlement_timeout = settlement_timeout

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpPortal:
        return cls(
            JsonHttp.from_context(SYSTEM, context, headers={"X-Api-Key": context.option("key")}),
            context.option("dept_code", DEFAULT_DEPT_CODE),
            context.float_option("settlement_timeout", 300.0),
        )

    def settlement_report(self, day: date) -> Iterator[str]:
        deadline = time.monotonic() + self.settlement_timeout
        path = f"/api/v1/departments/{quote(self.dept_code, safe='')}/settlement"

        def fetch(page: int) -> dict[str, Any]:
            if time.monotonic() > deadline:
                raise ConnectorUnavailable(f"{SYSTEM}: statement too slow", system=SYSTEM)
            query = urlencode({"date": statement_date(day), "page": page})
            try:
                _, body = self.http.call("GET", f"{path}?{query}")
            except NotFound:
                # Not settled yet (or a page the portal itself announced is missing): later.
                raise ConnectorUnavailable(
                    f"{SYSTEM}: settlement of {day} not ready", system=SYSTEM
                ) from None
            return body

        return read_statement(fetch, day, self.dept_code)

    def heartbeat(self) -> None:
        _, body = self.http.call("GET", "/api/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable(f"{SYSTEM}: the portal reports not ok", system=SYSTEM)
