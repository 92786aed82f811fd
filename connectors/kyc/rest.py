"""RestKyc: an httpx client for the discom's REST KYC service.

ini (under ``hub.kyc.``)::

    hub.kyc.backend = connectors.kyc.rest:RestKyc
    hub.kyc.url = https://kyc.discom.example      # required
    hub.kyc.api_key = ...                         # optional; sent as "Authorization: Bearer"; from HUB_KYC_API_KEY
    hub.kyc.connect_timeout = 2                   # seconds (default 2)
    hub.kyc.read_timeout = 5                      # seconds (default 5)
    hub.kyc.ca_file = /etc/hub/kyc-ca.pem         # optional private CA

JSON contract (version 1; UTF-8; every answer is a JSON object):

``GET /v1/health`` -> ``{"status": "ok"}``

``GET /v1/kyc/records/{consumer_number}`` -> ``{"record": Record}``;
404 ``{"error": "not_found"}`` when the connection has no KYC record.

``POST /v1/kyc/records/lookup`` ``{"consumer_numbers": [..<=1000]}`` ->
``{"records": [Record, ...]}`` (numbers without a record are simply absent).

``GET /v1/kyc/samagra/{samagra_id}/records`` -> ``{"records": [Record, ...]}``.

``POST /v1/ekyc`` ``{"consumer_number": "...", "samagra_id": "...", "mobile": "..." | null}``
-> ``{"accepted": true, "record": Record}`` or
``{"accepted": false, "reason": "unknown_consumer" | "unknown_samagra" | "samagra_mismatch" | "connection_closed"}``.

``GET /v1/kyc/changes?cursor=<opaque>&limit=<1..1000>`` (no cursor: from the
start) -> ``{"records": [Record, ...], "next_cursor": "<opaque>"}``; 400
``{"error": "invalid_cursor"}``.

Record::

    {"consumer_number": "1019990012", "holder_name_en": "...", "holder_name_hi": "...",
     "samagra_id": "900000011" | null, "mobile": "9999000011" | null,
     "bank_account": "30211456781" | null, "ifsc": "SBIN0030211" | null,
     "status": "complete" | "incomplete" | "pending", "kyc_date": "2026-10-02" | null,
     "source": "ekyc", "updated_at": "2026-10-02T06:30:00+00:00"}

Unknown fields are ignored and never copied (an Aadhaar number sent by
mistake goes nowhere). Errors follow :mod:`connectors.rest`: timeouts,
refused connections, 5xx/401/403/408/429 and answers that are not what this
contract says -> ConnectorUnavailable; 404 -> NotFound; other 4xx ->
ConnectorRejected with the partner's ``error`` code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing import is_consumer_number, is_mobile, is_samagra_id
from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.kyc import (
    MAX_CHANGES_PAGE,
    MAX_KYC_BATCH,
    SYSTEM,
    EkycOutcome,
    EkycRefusal,
    IKyc,
    KycChanges,
    KycRecord,
    KycStatus,
)
from connectors.rest import JsonHttp

_BANK_ACCOUNT = re.compile(r"[0-9]{6,18}")
_IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
_CURSOR = re.compile(r"[A-Za-z0-9._~-]{1,200}")


class _Garbage(Exception):
    pass


def _opt(
    body: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None = None, max_len: int = 120
) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise _Garbage(key)
    if pattern is not None and not pattern.fullmatch(value):
        raise _Garbage(key)
    return value


def _req(body: Mapping[str, Any], key: str, max_len: int = 120) -> str:
    value = _opt(body, key, max_len=max_len)
    if value is None:
        raise _Garbage(key)
    return str(value)


def parse_record(body: Any) -> KycRecord:
    """A Record of the contract, checked field by field (raises _Garbage)."""
    if not isinstance(body, dict):
        raise _Garbage("record")
    number = _req(body, "consumer_number", 12)
    if not is_consumer_number(number):
        raise _Garbage("consumer_number")
    samagra = _opt(body, "samagra_id")
    if samagra is not None and not is_samagra_id(samagra):
        raise _Garbage("samagra_id")
    mobile = _opt(body, "mobile")
    if mobile is not None and not is_mobile(mobile):
        raise _Garbage("mobile")
    kyc_date = _opt(body, "kyc_date", max_len=10)
    updated_at = datetime.fromisoformat(_req(body, "updated_at", 40))
    if updated_at.tzinfo is None:
        raise _Garbage("updated_at")
    return KycRecord(
        consumer_number=number,
        holder_name_en=_req(body, "holder_name_en"),
        holder_name_hi=_req(body, "holder_name_hi"),
        samagra_id=samagra,
        mobile=mobile,
        bank_account=_opt(body, "bank_account", _BANK_ACCOUNT),
        ifsc=_opt(body, "ifsc", _IFSC),
        status=KycStatus(_req(body, "status", 12)),
        kyc_date=date.fromisoformat(kyc_date) if kyc_date else None,
        source=_req(body, "source", 16),
        updated_at=updated_at,
    )


def _records(body: Mapping[str, Any]) -> list[KycRecord]:
    items = body.get("records")
    if not isinstance(items, list):
        raise _Garbage("records")
    return [parse_record(item) for item in items]


@implementer(IKyc)
class RestKyc:
    system = SYSTEM

    def __init__(self, http: JsonHttp) -> None:
        self.http = http

    @classmethod
    def from_context(cls, context: ConnectorContext) -> RestKyc:
        api_key = context.options.get("api_key")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        return cls(JsonHttp.from_context(SYSTEM, context, headers=headers))

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, json_body: Any = None) -> dict[str, Any]:
        _status, body = self.http.call(method, path, json_body=json_body)
        return body

    def _garbage(self, exc: Exception) -> ConnectorUnavailable:
        return ConnectorUnavailable(f"{self.system}: garbage answer ({exc})", system=self.system)

    def heartbeat(self) -> None:
        body = self._call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable(f"{self.system}: not healthy", system=self.system)

    def get_record(self, consumer_number: str) -> KycRecord:
        if not is_consumer_number(consumer_number):
            raise NotFound(f"{self.system}: no record", system=self.system)
        body = self._call("GET", f"/v1/kyc/records/{consumer_number}")
        try:
            record = parse_record(body.get("record"))
        except (_Garbage, ValueError) as exc:
            raise self._garbage(exc) from None
        if record.consumer_number != consumer_number:
            raise self._garbage(_Garbage("record of another connection"))
        return record

    def get_records(self, consumer_numbers: Sequence[str]) -> Mapping[str, KycRecord]:
        if len(consumer_numbers) > MAX_KYC_BATCH:
            raise ConnectorRejected(
                f"{self.system}: at most {MAX_KYC_BATCH} records per call", system=self.system
            )
        wanted = [n for n in dict.fromkeys(consumer_numbers) if is_consumer_number(n)]
        if not wanted:
            return {}
        body = self._call("POST", "/v1/kyc/records/lookup", {"consumer_numbers": wanted})
        try:
            records = _records(body)
        except (_Garbage, ValueError) as exc:
            raise self._garbage(exc) from None
        result = {r.consumer_number: r for r in records}
        if not set(result) <= set(wanted) or len(result) != len(records):
            raise self._garbage(_Garbage("records not asked for"))
        return result

    def records_by_samagra(self, samagra_id: str) -> list[KycRecord]:
        if not is_samagra_id(samagra_id):
            return []
        body = self._call("GET", f"/v1/kyc/samagra/{samagra_id}/records")
        try:
            records = _records(body)
        except (_Garbage, ValueError) as exc:
            raise self._garbage(exc) from None
        if any(r.samagra_id != samagra_id for r in records):
            raise self._garbage(_Garbage("record of another Samagra ID"))
        return records

    def submit_ekyc(self, consumer_number: str, samagra_id: str, mobile: str | None = None) -> EkycOutcome:
        if mobile is not None and not is_mobile(mobile):
            raise ConnectorRejected(
                f"{self.system}: malformed mobile", system=self.system, code="invalid_request"
            )
        if not is_consumer_number(consumer_number):
            return EkycOutcome(False, None, EkycRefusal.UNKNOWN_CONSUMER)
        if not is_samagra_id(samagra_id):
            return EkycOutcome(False, None, EkycRefusal.UNKNOWN_SAMAGRA)
        body = self._call(
            "POST",
            "/v1/ekyc",
            {"consumer_number": consumer_number, "samagra_id": samagra_id, "mobile": mobile},
        )
        try:
            accepted = body.get("accepted")
            if accepted is True:
                record = parse_record(body.get("record"))
                if record.consumer_number != consumer_number:
                    raise _Garbage("record of another connection")
                return EkycOutcome(True, record, None)
            if accepted is False:
                return EkycOutcome(False, None, EkycRefusal(_req(body, "reason", 40)))
            raise _Garbage("accepted")
        except (_Garbage, ValueError) as exc:
            raise self._garbage(exc) from None

    def changes_since(self, cursor: str | None, limit: int = 500) -> KycChanges:
        limit = max(1, min(limit, MAX_CHANGES_PAGE))
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            if not _CURSOR.fullmatch(cursor):
                raise ConnectorRejected(
                    f"{self.system}: malformed cursor", system=self.system, code="invalid_cursor"
                )
            params["cursor"] = cursor
        body = self._call("GET", "/v1/kyc/changes?" + urlencode(params))
        try:
            records = _records(body)
            next_cursor = _req(body, "next_cursor", 200)
            if not _CURSOR.fullmatch(next_cursor) or len(records) > limit:
                raise _Garbage("next_cursor")
        except (_Garbage, ValueError) as exc:
            raise self._garbage(exc) from None
        return KycChanges(records=tuple(records), next_cursor=next_cursor)
