"""RestSamagra: an httpx client for the Samagra registry's REST API.

ini (under ``hub.samagra.``)::

    hub.samagra.backend = connectors.samagra.rest:RestSamagra
    hub.samagra.url = https://samagra.mp.example   # required
    hub.samagra.api_key = ...                      # optional; sent as "Authorization: Bearer"; from HUB_SAMAGRA_API_KEY
    hub.samagra.connect_timeout = 2                # seconds (default 2)
    hub.samagra.read_timeout = 5                   # seconds (default 5)
    hub.samagra.ca_file = /etc/hub/samagra-ca.pem  # optional private CA

JSON contract (version 1; UTF-8; every answer is a JSON object):

``GET /v1/health`` -> ``{"status": "ok"}``

``GET /v1/members/{samagra_id}`` -> ``{"member": Member}``; 404
``{"error": "not_found"}`` when there is no such member.

Member::

    {"samagra_id": "900000011", "family_id": "90000001",
     "name_hi": "रमेश कुमार शर्मा", "name_en": "Ramesh Kumar Sharma",
     "mobile": "9999000011" | null}

Unknown fields are ignored and never copied. Errors follow
:mod:`connectors.rest`: timeouts, refused connections, 5xx/401/403/408/429
and answers that break this contract (a member of another ID, a malformed
mobile...) -> ConnectorUnavailable; 404 -> NotFound.
"""

from __future__ import annotations

import re
from typing import Any

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing import is_mobile, is_samagra_id
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.rest import JsonHttp
from connectors.samagra import SYSTEM, ISamagra, SamagraPerson

_FAMILY_ID = re.compile(r"[0-9]{8}")


def _name(member: dict[str, Any], key: str) -> str:
    value = member.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 120:
        raise ValueError(key)
    return value


def parse_member(body: Any, samagra_id: str) -> SamagraPerson:
    """The Member of the contract for ``samagra_id``, checked field by field (ValueError if not)."""
    if not isinstance(body, dict):
        raise ValueError("member")
    if body.get("samagra_id") != samagra_id:
        raise ValueError("member of another Samagra ID")
    family_id = body.get("family_id")
    if not isinstance(family_id, str) or not _FAMILY_ID.fullmatch(family_id):
        raise ValueError("family_id")
    mobile = body.get("mobile")
    if mobile is not None and not is_mobile(mobile):
        raise ValueError("mobile")
    return SamagraPerson(samagra_id, family_id, _name(body, "name_hi"), _name(body, "name_en"), mobile)


@implementer(ISamagra)
class RestSamagra:
    system = SYSTEM

    def __init__(self, http: JsonHttp) -> None:
        self.http = http

    @classmethod
    def from_context(cls, context: ConnectorContext) -> RestSamagra:
        api_key = context.options.get("api_key")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        return cls(JsonHttp.from_context(SYSTEM, context, headers=headers))

    def close(self) -> None:
        self.http.close()

    def heartbeat(self) -> None:
        _status, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable(f"{self.system}: not healthy", system=self.system)

    def get_person(self, samagra_id: str) -> SamagraPerson:
        if not is_samagra_id(samagra_id):
            raise NotFound(f"{self.system}: no such member", system=self.system)
        _status, body = self.http.call("GET", f"/v1/members/{samagra_id}")
        try:
            return parse_member(body.get("member"), samagra_id)
        except ValueError as exc:
            raise ConnectorUnavailable(f"{self.system}: garbage answer ({exc})", system=self.system) from None
