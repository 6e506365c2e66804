"""Outages delay work with capped exponential backoff; they never drop it or block shutdown.

Covers :class:`Backoff` (doubling, cap, jitter bounds) and :func:`retry_forever` with an
injected sleep: retries until the operation succeeds, waits the backoff's delays, only
retries the configured errors, and lets cancellation through at once.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.retry import Backoff, retry_forever


class RecordingSleep:
    """Stands in for ``asyncio.sleep``: records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Flaky:
    """An operation that fails ``failures`` times with ``error`` and then returns ``value``."""

    def __init__(self, failures: int, error: BaseException, value: str = "done") -> None:
        self.failures = failures
        self.error = error
        self.value = value
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.value


def test_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.2, maximum=3.0, jitter=0)
    assert [backoff.delay(a) for a in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.0, 3.0, 3.0]


@settings(deadline=None)
@given(attempt=st.integers(0, 10**9))
def test_delay_never_exceeds_the_cap_even_after_many_attempts(attempt: int) -> None:
    assert Backoff(initial=0.5, maximum=10.0, jitter=0).delay(attempt) <= 10.0


@settings(deadline=None)
@given(attempt=st.integers(0, 200), seed=st.integers(0, 2**32))
def test_jitter_stays_within_its_spread(attempt: int, seed: int) -> None:
    backoff = Backoff(initial=0.2, maximum=10.0, jitter=0.2)
    base = min(10.0, 0.2 * 2 ** min(attempt, 64))
    delay = backoff.delay(attempt, random.Random(seed))
    assert 0.8 * base - 1e-9 <= delay <= 1.2 * base + 1e-9


def test_jitter_spreads_the_delays() -> None:
    backoff = Backoff(initial=1.0, maximum=10.0, jitter=0.5)
    rng = random.Random(7)
    delays = {round(backoff.delay(2, rng), 6) for _ in range(20)}
    assert len(delays) > 10


async def test_retries_until_the_operation_succeeds() -> None:
    sleep = RecordingSleep()
    operation = Flaky(4, ConnectionError("redis down"), value="written")
    result = await retry_forever(
        operation, Backoff(0.1, 0.5, jitter=0), what="write state", sleep=sleep
    )
    assert result == "written"
    assert operation.calls == 5
    assert sleep.delays == [0.1, 0.2, 0.4, 0.5]


async def test_first_success_does_not_wait() -> None:
    sleep = RecordingSleep()
    operation = Flaky(0, ConnectionError())
    assert await retry_forever(operation, Backoff(), what="x", sleep=sleep) == "done"
    assert sleep.delays == []


async def test_on_retry_sees_every_failure() -> None:
    seen: list[tuple[int, str]] = []
    operation = Flaky(3, TimeoutError("slow"))
    await retry_forever(
        operation,
        Backoff(jitter=0),
        what="load",
        sleep=RecordingSleep(),
        on_retry=lambda attempt, exc: seen.append((attempt, str(exc))),
    )
    assert seen == [(0, "slow"), (1, "slow"), (2, "slow")]


async def test_failures_are_logged_with_what_was_attempted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cxstream.retry")
    await retry_forever(
        Flaky(1, ConnectionError("refused")), Backoff(jitter=0), what="apply batch",
        sleep=RecordingSleep(),
    )  # fmt: skip
    (record,) = caplog.records
    assert "apply batch failed (attempt 1)" in record.getMessage()
    assert "ConnectionError: refused" in record.getMessage()


async def test_errors_not_listed_are_raised_at_once() -> None:
    sleep = RecordingSleep()
    operation = Flaky(1, ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        await retry_forever(
            operation, Backoff(), what="x", retry_on=(ConnectionError,), sleep=sleep
        )
    assert operation.calls == 1
    assert sleep.delays == []


async def test_cancellation_raised_by_the_operation_is_not_retried() -> None:
    sleep = RecordingSleep()
    operation = Flaky(1, asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry_forever(operation, Backoff(), what="x", sleep=sleep)
    assert operation.calls == 1
    assert sleep.delays == []


async def test_cancelling_during_the_wait_stops_retrying() -> None:
    waiting = asyncio.Event()

    async def never_wakes(_: float) -> None:
        waiting.set()
        await asyncio.Future()

    operation = Flaky(10**6, ConnectionError("down"))
    task = asyncio.create_task(retry_forever(operation, Backoff(), what="x", sleep=never_wakes))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert operation.calls == 1
