"""Retry delays: exponential backoff with jitter, capped."""

from __future__ import annotations


def backoff_seconds(attempts: int, *, base: float, cap: float, jitter: float) -> float:
    """The delay after the `attempts`-th failed attempt (1, 2, …): base * 2^(attempts-1), at
    most `cap`, of which the upper half is scaled by `jitter` in [0, 1] ("equal jitter": never
    less than half the delay, so retries of many events spread without bunching at zero)."""
    if attempts < 1:
        raise ValueError("attempts starts at 1")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError("jitter is a fraction in [0, 1]")
    delay = min(cap, base * 2.0 ** min(attempts - 1, 60))
    return delay / 2 + delay / 2 * jitter
