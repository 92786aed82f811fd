"""The httpx client of a DBT scheme's change webhook (wire format in :mod:`connectors.dbt`)."""

from __future__ import annotations

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.dbt import SYSTEM, IDbtNotifier, KycChangeNotice
from connectors.rest import JsonHttp


@implementer(IDbtNotifier)
class HttpDbt:
    def __init__(self, http: JsonHttp, health_url: str | None = None) -> None:
        self.http = http
        self.health_url = health_url or http.url

    @classmethod
    def from_context(cls, context: ConnectorContext) -> HttpDbt:
        token = context.option("token")
        http = JsonHttp.from_context(SYSTEM, context, headers={"Authorization": f"Bearer {token}"})
        return cls(http, context.options.get("health_url"))

    def notify(self, notice: KycChangeNotice) -> None:
        self.http.call(
            "POST",
            self.http.url,
            json_body=notice.as_json(),
            headers={"Idempotency-Key": notice.notification_id},
            any_2xx_body=True,
        )

    def heartbeat(self) -> None:
        self.http.probe(self.health_url)
