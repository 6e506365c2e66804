"""Retrying with capped exponential backoff, for outages that must delay work, not drop it."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Backoff", "retry_forever"]

T = TypeVar("T")
log = logging.getLogger("cxstream.retry")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays ``initial * 2**attempt`` capped at ``maximum``, with +-``jitter`` spread.

    >>> [round(Backoff(0.1, 1.0, jitter=0).delay(a), 2) for a in range(6)]
    [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    """

    initial: float = 0.2
    maximum: float = 10.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        base: float = min(self.maximum, self.initial * float(2 ** min(attempt, 32)))
        if not self.jitter:
            return base
        spread: float = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1.0 + spread))


async def retry_forever(
    operation: Callable[[], Awaitable[T]],
    backoff: Backoff,
    *,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run ``operation`` until it succeeds, waiting longer after each failure.

    Cancellation (shutdown) propagates; the caller must then not treat the work as done.
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except retry_on as exc:
            wait = backoff.delay(attempt)
            log.warning(
                "%s failed (attempt %d): %s: %s; retrying in %.1fs",
                what,
                attempt + 1,
                type(exc).__name__,
                exc,
                wait,
                extra={"stage": what},
            )
            if on_retry is not None:
                on_retry(attempt, exc)
            attempt += 1
            await sleep(wait)
