# zope.interface methods have no self and no body:
# mypy: disable-error-code="empty-body,misc"
# ruff: noqa: N805
"""The electrical network behind the meters, as the discom's GIS records it.

Every consumer is supplied from a **distribution transformer** (DT, 11 kV to 415 V),
each DT hangs on an **11 kV feeder**, each feeder leaves a **33/11 kV substation**.
The office that maintains a node is the distribution centre (DC) whose area it is in;
zone, division and circle follow from the office hierarchy billing keeps.

The GIS publishes its records as a **change feed**: every change to a node or to a
consumer's DT gets the next sequence number, and a reader asks for the changes after
the last one it applied. A change carries the record as it stands when read, so applying
a page is idempotent and a record changed twice may appear twice. A consumer the GIS
knows without a DT (surveyed but not yet mapped) comes with ``dt_code`` None: the hub
counts and lists them instead of guessing.

ini::

    hub.network.backend = connectors.network.reference:ReferenceNetwork   # reference store (demo, tests)
    hub.network.backend = connectors.network.rest:RestNetwork             # the GIS's REST API

Every method may raise ConnectorUnavailable (GIS down, slow, garbage answer).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zope.interface import Interface

SYSTEM = "network"
# Node codes: SS-101-1 (substation), FDR-101-1-02 (feeder), DT-101-1-02-007 (transformer).
NODE_CODE = re.compile(r"^[A-Z][A-Z0-9-]{2,39}$")
# The most changes one page may carry; a reader asks for fewer.
MAX_PAGE = 5_000


class NodeKind(StrEnum):
    SUBSTATION = "substation"
    FEEDER = "feeder"
    DT = "dt"

    @property
    def parent_kind(self) -> NodeKind | None:
        """What a node of this kind hangs on (None: a substation is a root of the network)."""
        return {NodeKind.FEEDER: NodeKind.SUBSTATION, NodeKind.DT: NodeKind.FEEDER}.get(self)


@dataclass(frozen=True)
class NetworkNode:
    """A substation, feeder or DT as the GIS records it."""

    code: str
    kind: NodeKind
    # The node it hangs on; None only for a substation.
    parent_code: str | None
    # The distribution centre that maintains it (billing's office code, e.g. DC-101).
    office_code: str
    name_en: str
    name_hi: str
    # The energy meter at the node's input (feeder meter at the substation, DT meter); None if unmetered.
    meter_no: str | None
    # Nameplate rating of a DT in kVA; None for feeders and substations.
    capacity_kva: int | None
    # False once the node is taken out of service (its consumers move elsewhere).
    in_service: bool

    def as_record(self) -> dict[str, Any]:
        """The node as a flat record (the feed's wire form, and a table row)."""
        return {**dataclasses.asdict(self), "kind": self.kind.value}


@dataclass(frozen=True)
class ConsumerLink:
    """Which DT supplies a consumer (``dt_code`` None: the GIS holds no DT for them yet)."""

    consumer_number: str
    dt_code: str | None


@dataclass(frozen=True)
class NetworkChange:
    """One entry of the feed: exactly one of ``node`` and ``link``."""

    seq: int
    node: NetworkNode | None = None
    link: ConsumerLink | None = None


@dataclass(frozen=True)
class ChangePage:
    changes: tuple[NetworkChange, ...]
    # The sequence number to ask after next time (``after`` itself when the page is empty).
    last_seq: int
    # True when more changes wait after ``last_seq``.
    more: bool


class INetwork(Interface):
    """The GIS's network records as the hub sees them."""

    def changes(after: int, limit: int) -> ChangePage:
        """Up to ``limit`` (1..MAX_PAGE) changes with a sequence number above ``after``, in order."""

    def heartbeat() -> None:
        """Return if the GIS answers; raise ConnectorUnavailable if not."""


def check_node(node: NetworkNode) -> None:
    """ValueError naming the field if ``node`` breaks the shape every reader relies on."""
    if not NODE_CODE.fullmatch(node.code):
        raise ValueError("code")
    parent_kind = node.kind.parent_kind
    if (parent_kind is None) != (node.parent_code is None):
        raise ValueError("parent_code")
    if node.parent_code is not None and not NODE_CODE.fullmatch(node.parent_code):
        raise ValueError("parent_code")
    if not re.fullmatch(r"DC-[0-9]{3}", node.office_code):
        raise ValueError("office_code")
    for name in (node.name_en, node.name_hi):
        if not name.strip() or len(name) > 120:
            raise ValueError("name")
    if node.meter_no is not None and not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{3,29}", node.meter_no):
        raise ValueError("meter_no")
    if (node.kind is NodeKind.DT) != (node.capacity_kva is not None):
        raise ValueError("capacity_kva")
    if node.capacity_kva is not None and not 5 <= node.capacity_kva <= 2_500:
        raise ValueError("capacity_kva")
