"""Per-address rate limits in tests: counters live in a Redis every test session shares."""

from __future__ import annotations

import secrets
import time

from hub.ratelimit import WINDOW_SECONDS


def new_address() -> str:
    """An address of the test's own, so no other test (or session) spends its allowance."""
    return "10.{}.{}.{}".format(*secrets.token_bytes(3))


def within_one_window() -> None:
    """Wait for the next minute if this one ends within 5 s: what follows counts in one window."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 5:
        time.sleep(left + 0.1)
