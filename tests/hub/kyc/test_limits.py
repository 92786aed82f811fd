"""KycLimits: ids per minute, the absent-ratio anomaly, exports per minute; windows and Retry-After."""

from __future__ import annotations

from typing import Any

import pytest

from hub.kyc.limits import KycApiSettings, KycLimits
from hub.settings import ConfigurationError, validate


class MemoryCounter:
    """The SharedCounter contract (hub.ratelimit) in a dict: the test controls the clock."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def add(self, bucket: str, window_start: int, amount: int) -> int:
        key = (bucket, window_start)
        self.counts[key] = self.counts.get(key, 0) + amount
        return self.counts[key]


def limits(**overrides: int | float) -> KycLimits:
    return KycLimits(MemoryCounter(), KycApiSettings(**overrides))  # type: ignore[arg-type]


def test_ids_quota_per_minute_and_per_client() -> None:
    kyc = limits(ids_per_minute=2500)
    assert kyc.before_lookup("a", 1000, now=600.0) is None
    assert kyc.before_lookup("a", 1000, now=610.0) is None
    refused = kyc.before_lookup("a", 1000, now=615.5)
    assert refused is not None and refused.retry_after == 45
    assert kyc.before_lookup("b", 1000, now=615.5) is None  # another client has its own quota
    assert kyc.before_lookup("a", 1000, now=660.0) is None  # a new minute


def test_absent_ratio_trips_only_after_a_sample() -> None:
    kyc = limits(absent_min_sample=100, absent_ratio=0.5)
    assert kyc.before_lookup("a", 60, now=0.0) is None
    kyc.after_lookup("a", 60, 60, now=1.0)  # all absent, but too few to judge
    assert kyc.before_lookup("a", 60, now=2.0) is None
    kyc.after_lookup("a", 60, 10, now=3.0)  # 70 of 120 absent: over half
    refused = kyc.before_lookup("a", 1, now=4.0)
    assert refused is not None and "enumeration" in refused.reason and refused.retry_after == 56
    honest = limits(absent_min_sample=100, absent_ratio=0.5)
    honest.after_lookup("h", 1000, 400, now=1.0)  # 40 % absent: a scheme with stale lists, not a scraper
    assert honest.before_lookup("h", 1000, now=2.0) is None


def test_exports_per_minute() -> None:
    kyc = limits(exports_per_minute=2)
    assert kyc.before_export("a", now=0.0) is None
    assert kyc.before_export("a", now=1.0) is None
    assert kyc.before_export("a", now=2.0) is not None
    assert kyc.before_export("a", now=61.0) is None


@pytest.mark.parametrize(
    "settings",
    [
        {"hub.kyc_api.ids_per_minute": "many"},
        {"hub.kyc_api.absent_ratio": "1.5"},
        {"hub.kyc_api.consent_days": "900"},
    ],
)
def test_malformed_settings_are_named(settings: dict[str, str], app_settings: dict[str, Any]) -> None:
    merged = {**app_settings, **settings}
    with pytest.raises(ConfigurationError, match="hub.kyc_api."):
        validate(merged)
        KycApiSettings.from_settings(merged)


def test_settings_defaults_and_overrides(app_settings: dict[str, Any]) -> None:
    merged = {**app_settings, "hub.kyc_api.export_chunk": "500", "hub.kyc_api.absent_ratio": "0.3"}
    validate(merged)
    parsed = KycApiSettings.from_settings(merged)
    assert parsed.export_chunk == 500 and parsed.absent_ratio == 0.3 and parsed.ids_per_minute == 20_000
