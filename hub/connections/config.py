"""The deployment's numbers for new connections: timelines, fees, compensation, document hosts, offices.

All of them are settings (``hub.connections.*``, declared in hub.settings so
they are validated at startup and overridable from the environment); none is
code. The defaults are the Electricity (Rights of Consumers) Rules'
(amendment 2024) day counts for a connection without network extension.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub.settings import ConfigurationError

DEFAULT_FEE_SCHEDULE = Path(__file__).with_name("fee_schedule.json")
AREA_CLASSES = ("metro", "other_urban", "rural", "hilly_rural")
# The billing system's tariff category for each form category (MP LT/HT schedules).
BILLING_CATEGORIES = {
    "lt_domestic": "LV1",
    "lt_non_domestic": "LV2",
    "lt_industrial": "LV5",
    "ht_industrial": "HV3",
}


def _pairs(key: str, raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in str(raw).split():
        name, sep, value = word.partition("=")
        if not sep or not name or not value:
            raise ConfigurationError(f"setting {key}: expected NAME=VALUE pairs, got {word!r}")
        out[name] = value
    return out


def origin(url: str) -> str | None:
    """``scheme://host:port`` of a URL (default ports spelt out), or None if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


@dataclass(frozen=True)
class FeeLine:
    name: str
    amount: Decimal


@dataclass(frozen=True)
class FeeSchedule:
    data: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path) -> FeeSchedule:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for category, spec in data["categories"].items():
                if spec["unit"] not in ("kW", "kVA"):
                    raise ValueError(f"{category}: unit must be kW or kVA")
                for slab in spec["slabs"]:
                    Decimal(str(slab["up_to"]))
                    for amount in [*slab.get("fixed", {}).values(), *slab.get("per_unit", {}).values()]:
                        if Decimal(amount) < 0:
                            raise ValueError("negative charge")
        except (OSError, ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise ConfigurationError(f"setting hub.connections.fee_schedule_file: {path}: {exc}") from None
        return cls(data)

    def charges(
        self, category: str, load_kw: Decimal, demand_kva: Decimal | None
    ) -> tuple[list[FeeLine], str]:
        """The demand note's lines for a connection, and the quantity they were computed on."""
        spec = self.data["categories"].get(category)
        if spec is None:
            raise LookupError(f"no fee schedule for {category}")
        quantity = load_kw if spec["unit"] == "kW" else (demand_kva or Decimal(0))
        slab = next((s for s in spec["slabs"] if quantity <= Decimal(str(s["up_to"]))), None)
        if slab is None:
            raise LookupError(f"no fee slab for {quantity} {spec['unit']} in {category}")
        cent = Decimal("0.01")
        lines = [
            FeeLine(name, Decimal(amount).quantize(cent)) for name, amount in slab.get("fixed", {}).items()
        ]
        lines += [
            FeeLine(name, (Decimal(rate) * quantity).quantize(cent))
            for name, rate in slab.get("per_unit", {}).items()
        ]
        return lines, f"{quantity.normalize():f} {spec['unit']}"


@dataclass(frozen=True)
class CompensationRule:
    """Compensation for each started day beyond the statutory date, optionally capped."""

    per_day: Decimal
    maximum: Decimal | None

    def for_delay(self, due: datetime, released: datetime) -> tuple[int, Decimal]:
        late = released - due
        if late <= timedelta(0):
            return 0, Decimal("0.00")
        days = math.ceil(late / timedelta(days=1))
        amount = self.per_day * days
        if self.maximum is not None:
            amount = min(amount, self.maximum)
        return days, amount.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ConnectionSettings:
    timeline_days: Mapping[str, int]
    fees: FeeSchedule
    compensation: CompensationRule
    document_origins: frozenset[str]
    max_document_bytes: int
    fetch_timeout: float
    offices: Mapping[str, str]
    officer_designations: Mapping[str, tuple[str, str]]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ConnectionSettings:
        timelines = _pairs("hub.connections.timeline_days", settings["hub.connections.timeline_days"])
        missing = [a for a in AREA_CLASSES if a not in timelines]
        if missing:
            raise ConfigurationError(
                f"setting hub.connections.timeline_days: no days for {', '.join(missing)}"
            )
        try:
            days = {k: int(v) for k, v in timelines.items()}
        except ValueError:
            raise ConfigurationError(
                "setting hub.connections.timeline_days: days must be whole numbers"
            ) from None
        if any(v <= 0 for v in days.values()):
            raise ConfigurationError("setting hub.connections.timeline_days: days must be positive")
        fee_file = str(settings["hub.connections.fee_schedule_file"]) or str(DEFAULT_FEE_SCHEDULE)
        origins: set[str] = set()
        for url in settings["hub.connections.document_hosts"]:
            found = origin(url)
            if found is None:
                raise ConfigurationError(
                    f"setting hub.connections.document_hosts: {url!r} is not an http(s) origin"
                )
            origins.add(found)
        maximum = Decimal(str(settings["hub.connections.compensation_max"]))
        return cls(
            timeline_days=days,
            fees=FeeSchedule.load(Path(fee_file)),
            compensation=CompensationRule(
                Decimal(str(settings["hub.connections.compensation_per_day"])),
                maximum if maximum > 0 else None,
            ),
            document_origins=frozenset(origins),
            max_document_bytes=int(settings["hub.connections.max_document_bytes"]),
            fetch_timeout=float(settings["hub.connections.fetch_timeout"]),
            offices=_pairs("hub.connections.offices", settings["hub.connections.offices"]),
            officer_designations={
                "dc_office_assistant": ("Office Assistant", "कार्यालय सहायक"),
                "dc_assistant_manager": ("Assistant Manager", "सहायक प्रबंधक"),
                "dc_manager": ("Manager", "प्रबंधक"),
                "dgm": ("Deputy General Manager", "उप महाप्रबंधक"),
                "gm": ("General Manager", "महाप्रबंधक"),
            },
        )
