"""RestNetwork: an httpx client for the GIS's change feed.

ini (under ``hub.network.``)::

    hub.network.backend = connectors.network.rest:RestNetwork
    hub.network.url = https://gis.discom.example/api   # required
    hub.network.api_key = ...                          # optional; sent as "Authorization: Bearer"
    hub.network.connect_timeout = 2                    # seconds (default 2)
    hub.network.read_timeout = 10                      # seconds (default 10: a page is up to 5,000 changes)
    hub.network.ca_file = /etc/hub/gis-ca.pem          # optional private CA

JSON contract (version 1; UTF-8; every answer is a JSON object):

``GET /v1/health`` -> ``{"status": "ok"}``

``GET /v1/changes?after=N&limit=M`` -> ``{"changes": [Change, ...], "last_seq": int, "more": bool}``,
the changes with a sequence number above N in ascending order, at most M (1..5,000).

Change is ``{"seq": int, "node": Node}`` or ``{"seq": int, "link": Link}``::

    Node: {"code": "DT-101-1-02-007", "kind": "substation" | "feeder" | "dt",
           "parent_code": "FDR-101-1-02" | null, "office_code": "DC-101",
           "name_en": "...", "name_hi": "...", "meter_no": "DM-101102007" | null,
           "capacity_kva": 100 | null, "in_service": true}
    Link: {"consumer_number": "1010000017", "dt_code": "DT-101-1-02-007" | null}

Unknown fields are ignored and never copied. A page that breaks the contract (sequence
numbers not above ``after`` or not ascending, more changes than asked, a malformed node)
is a garbage answer: ConnectorUnavailable, and nothing of it is applied. Other errors follow
:mod:`connectors.rest`.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing import is_consumer_number
from connectors.errors import ConnectorUnavailable
from connectors.network import (
    MAX_PAGE,
    NODE_CODE,
    SYSTEM,
    ChangePage,
    ConsumerLink,
    INetwork,
    NetworkChange,
    NetworkNode,
    NodeKind,
    check_node,
)
from connectors.rest import JsonHttp, base_url, timeouts


def _text(body: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(key)
    return value


def parse_node(body: Any) -> NetworkNode:
    """A Node of the contract, checked field by field (ValueError naming the field if not)."""
    if not isinstance(body, dict):
        raise ValueError("node")
    try:
        kind = NodeKind(str(body.get("kind")))
    except ValueError:
        raise ValueError("kind") from None
    capacity = body.get("capacity_kva")
    if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool)):
        raise ValueError("capacity_kva")
    in_service = body.get("in_service")
    if not isinstance(in_service, bool):
        raise ValueError("in_service")
    node = NetworkNode(
        code=_text(body, "code") or "",
        kind=kind,
        parent_code=_text(body, "parent_code", optional=True),
        office_code=_text(body, "office_code") or "",
        name_en=_text(body, "name_en") or "",
        name_hi=_text(body, "name_hi") or "",
        meter_no=_text(body, "meter_no", optional=True),
        capacity_kva=capacity,
        in_service=in_service,
    )
    check_node(node)
    return node


def parse_link(body: Any) -> ConsumerLink:
    if not isinstance(body, dict):
        raise ValueError("link")
    number = body.get("consumer_number")
    if not isinstance(number, str) or not is_consumer_number(number):
        raise ValueError("consumer_number")
    dt_code = _text(body, "dt_code", optional=True)
    if dt_code is not None and not NODE_CODE.fullmatch(dt_code):
        raise ValueError("dt_code")
    return ConsumerLink(number, dt_code)


def parse_page(body: dict[str, Any], after: int, limit: int) -> ChangePage:
    """The page of the contract for ``after``/``limit``, checked whole (ValueError if not)."""
    raw = body.get("changes")
    if not isinstance(raw, list) or len(raw) > limit:
        raise ValueError("changes")
    changes: list[NetworkChange] = []
    last = after
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("changes")
        seq = item.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= last:
            raise ValueError("seq")
        last = seq
        if ("node" in item) == ("link" in item):
            raise ValueError("node or link")
        if "node" in item:
            changes.append(NetworkChange(seq, node=parse_node(item["node"])))
        else:
            changes.append(NetworkChange(seq, link=parse_link(item["link"])))
    last_seq = body.get("last_seq")
    more = body.get("more")
    if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq != last:
        raise ValueError("last_seq")
    if not isinstance(more, bool):
        raise ValueError("more")
    return ChangePage(tuple(changes), last_seq, more)


@implementer(INetwork)
class RestNetwork:
    system = SYSTEM

    def __init__(self, http: JsonHttp) -> None:
        self.http = http

    @classmethod
    def from_context(cls, context: ConnectorContext) -> RestNetwork:
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
            )
        )

    def close(self) -> None:
        self.http.close()

    def heartbeat(self) -> None:
        _status, body = self.http.call("GET", "/v1/health")
        if body.get("status") != "ok":
            raise ConnectorUnavailable(f"{self.system}: not healthy", system=self.system)

    def changes(self, after: int, limit: int) -> ChangePage:
        if not 1 <= limit <= MAX_PAGE or after < 0:
            raise ValueError(f"after must be >= 0 and limit 1..{MAX_PAGE}")
        _status, body = self.http.call("GET", f"/v1/changes?after={after}&limit={limit}")
        try:
            return parse_page(body, after, limit)
        except ValueError as exc:
            raise ConnectorUnavailable(f"{self.system}: garbage answer ({exc})", system=self.system) from None
