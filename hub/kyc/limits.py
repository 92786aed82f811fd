"""Settings of the KYC API, and the per-client limits against bulk scraping (OWASP API6).

Besides the platform's request rate (hub.api), a DBT client is held to:

* a quota of ids looked up per minute (``hub.kyc_api.ids_per_minute``): how
  many people it can enumerate, whatever its batch size;
* an anomaly limit on absent answers: once it asked ``absent_min_sample``
  ids in the current minute, more than ``absent_ratio`` of them unknown or
  without consent looks like guessing ids, and it is refused for the rest of
  the minute. (The answers themselves may look alike -- ``uniform_absent`` --
  but the hub knows which were absent.)
* a quota of exports started per minute.

Refusals are 429 with Retry-After. Counters are the platform's shared
counters (hub.ratelimit: Redis, or the database), so every process and
machine enforces one limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.ratelimit import WINDOW_SECONDS, SharedCounter
from hub.settings import ConfigurationError

PREFIX = "hub.kyc_api."
MAX_BATCH = 1000


@dataclass(frozen=True)
class KycApiSettings:
    ids_per_minute: int = 20_000
    absent_ratio: float = 0.5
    absent_min_sample: int = 200
    exports_per_minute: int = 2
    changes_page_max: int = 1000
    changes_max_scan: int = 10_000
    export_chunk: int = 2000
    consent_days: int = 365
    disclosures_page_max: int = 200
    sync_interval_seconds: int = 300
    sync_page: int = 500

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> KycApiSettings:
        """Read ``hub.kyc_api.*`` (declared and checked in hub.settings)."""
        values = {name: settings[PREFIX + name] for name in cls.__dataclass_fields__}
        made = cls(**values)
        if made.consent_days > 730:
            raise ConfigurationError(f"setting {PREFIX}consent_days: at most 730")
        return made


@dataclass(frozen=True)
class Refusal:
    retry_after: int
    reason: str


class KycLimits:
    def __init__(self, counter: SharedCounter, config: KycApiSettings) -> None:
        self._counter = counter
        self._config = config

    @staticmethod
    def _window(now: float) -> tuple[int, int]:
        start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        return start, max(1, math.ceil(start + WINDOW_SECONDS - now))

    def before_lookup(self, client_id: str, ids: int, now: float | None = None) -> Refusal | None:
        """Count ``ids`` against the quota; a Refusal when over quota or flagged as probing."""
        now = time.time() if now is None else now
        window, retry = self._window(now)
        asked = self._counter.add(f"kyc-asked:{client_id}", window, 0)
        absent = self._counter.add(f"kyc-absent:{client_id}", window, 0)
        if asked >= self._config.absent_min_sample and absent > self._config.absent_ratio * asked:
            return Refusal(retry, "too many unknown or unconsented ids: looks like enumeration")
        total = self._counter.add(f"kyc-ids:{client_id}", window, ids)
        if total > self._config.ids_per_minute:
            return Refusal(retry, f"at most {self._config.ids_per_minute} ids per minute")
        return None

    def after_lookup(self, client_id: str, asked: int, absent: int, now: float | None = None) -> None:
        window, _ = self._window(time.time() if now is None else now)
        self._counter.add(f"kyc-asked:{client_id}", window, asked)
        if absent:
            self._counter.add(f"kyc-absent:{client_id}", window, absent)

    def before_export(self, client_id: str, now: float | None = None) -> Refusal | None:
        now = time.time() if now is None else now
        window, retry = self._window(now)
        if self._counter.add(f"kyc-export:{client_id}", window, 1) > self._config.exports_per_minute:
            return Refusal(retry, f"at most {self._config.exports_per_minute} exports started per minute")
        return None
