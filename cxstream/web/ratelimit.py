"""Per-client token buckets for HTTP ingestion, on an injected clock.

Each client identity (a bearer token's or the HMAC key's configured name, so the
number of buckets is bounded by the configuration) has a bucket holding up to
``burst`` events that refills at ``rate_per_s``. A request of ``n`` events takes ``n``
tokens at once, or none: a refused request leaves the bucket as it was and learns
how long to wait (the ``Retry-After`` of the 429 answer).

>>> from cxstream.clock import ManualClock
>>> clock = ManualClock()
>>> limiter = RateLimiter(rate_per_s=10, burst=20, clock=clock)
>>> limiter.acquire("survey", 20).allowed, limiter.acquire("survey", 5).retry_after_s
(True, 0.5)
>>> clock.advance(0.5)
>>> limiter.acquire("survey", 5).allowed
True
"""

from __future__ import annotations

from dataclasses import dataclass

from cxstream.clock import Clock

__all__ = ["Decision", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may go ahead, and otherwise how long to wait before retrying."""

    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter:
    """Token buckets by client identity; ``n`` events cost ``n`` tokens."""

    def __init__(self, *, rate_per_s: float, burst: int, clock: Clock) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be positive and burst at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # identity -> (tokens, at)

    def _level(self, identity: str) -> tuple[float, float]:
        now = self.clock.monotonic()
        tokens, at = self._buckets.get(identity, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate_per_s), now

    def acquire(self, identity: str, n: int) -> Decision:
        """Take ``n`` tokens from ``identity``'s bucket, or none and say how long to wait.

        A request larger than the whole bucket can never pass (the caller refuses it as
        too large instead: see :attr:`burst`).
        """
        tokens, now = self._level(identity)
        if n <= tokens:
            self._buckets[identity] = (tokens - n, now)
            return Decision(True)
        self._buckets[identity] = (tokens, now)
        if n > self.burst:
            return Decision(False, float("inf"))
        return Decision(False, (n - tokens) / self.rate_per_s)

    def refund(self, identity: str, n: int) -> None:
        """Give back ``n`` tokens taken for a request that then failed (e.g. broker down),
        so that its retry is not refused for a request that did nothing."""
        tokens, now = self._level(identity)
        self._buckets[identity] = (min(float(self.burst), tokens + n), now)
