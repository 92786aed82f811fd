"""hub.ratelimit: leases of a shared counter, spent locally; refusals say when to come back."""

from __future__ import annotations

from hub.ratelimit import WINDOW_SECONDS, RateLimiter


class Counter:
    def __init__(self) -> None:
        self.totals: dict[tuple[str, int], int] = {}
        self.calls = 0

    def add(self, bucket: str, window_start: int, amount: int) -> int:
        self.calls += 1
        key = (bucket, window_start)
        self.totals[key] = self.totals.get(key, 0) + amount
        return self.totals[key]


def test_a_lease_is_spent_locally_and_refusals_carry_retry_after() -> None:
    counter = Counter()
    limiter = RateLimiter(counter)
    start = 1_800_000_000 // WINDOW_SECONDS * WINDOW_SECONDS
    verdicts = [limiter.hit("client:a", 1000, now=start + 10.5) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, True]
    assert counter.calls == 1, "a slice of the allowance, leased once"
    # Another process took the rest of this window's allowance.
    counter.totals[("client:b", start)] = 1000
    refused = limiter.hit("client:b", 1000, now=start + 10.5)
    assert (refused.allowed, refused.retry_after) == (False, 50)
    again = limiter.hit("client:b", 1000, now=start + 59.9)
    assert (again.allowed, again.retry_after) == (False, 1), "refused from the lease, without asking"
    assert limiter.hit("client:b", 1000, now=start + WINDOW_SECONDS).allowed, "a new window"
