"""Liveness and readiness: ``GET /healthz`` and ``GET /readyz``.

``/healthz`` only says the process answers. ``/readyz`` runs every injected
:class:`ReadinessCheck` concurrently, each bounded by a timeout, and answers 200 when
all pass, else 503 naming the failing ones. The worker passes checks for the broker
(metadata request), Redis (``PING``) and the rule set; any object with a ``name`` and
an ``async check()`` will do (:class:`CallableCheck` wraps a coroutine function).

A check returns ``True`` when healthy; ``False`` or a string (the reason) when not. An
exception or a timeout counts as failed, with its text as the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, Field

__all__ = [
    "CallableCheck",
    "CheckResult",
    "Liveness",
    "Readiness",
    "ReadinessCheck",
    "run_checks",
]


class ReadinessCheck(Protocol):
    """A dependency the worker needs to do its job."""

    @property
    def name(self) -> str: ...

    async def check(self) -> bool | str:
        """``True`` when healthy; ``False`` or the reason (a string) when not."""
        ...


@dataclass(frozen=True, slots=True)
class CallableCheck:
    """A :class:`ReadinessCheck` from a name and a coroutine function.

    The function's result counts as healthy when it is ``True`` or any other value that is
    not ``False``, ``None`` or a string (e.g. Redis's ``PING`` answers ``True``, a metadata
    request returns an object); a string is the reason it is not.
    """

    name: str
    probe: Callable[[], Awaitable[object]]

    async def check(self) -> bool | str:
        result = await self.probe()
        if isinstance(result, str):
            return result
        return result is not None and result is not False


class CheckResult(BaseModel):
    """The outcome of one readiness check."""

    ok: bool
    detail: str | None = Field(None, description="why it failed")
    seconds: float = Field(description="how long the check took")


class Readiness(BaseModel):
    """The body of ``/readyz``."""

    status: Literal["ready", "not ready"]
    failing: list[str] = Field(default_factory=list, description="names of the failing checks")
    checks: dict[str, CheckResult]


class Liveness(BaseModel):
    """The body of ``/healthz``."""

    status: Literal["ok"] = "ok"


async def _run_one(check: ReadinessCheck, timeout_s: float) -> CheckResult:
    loop = asyncio.get_running_loop()
    start = loop.time()
    detail: str | None
    try:
        async with asyncio.timeout(timeout_s):
            outcome = await check.check()
    except TimeoutError:
        ok, detail = False, f"timed out after {timeout_s:g}s"
    except Exception as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
    else:
        if isinstance(outcome, str):
            ok, detail = False, outcome
        else:
            ok, detail = outcome is True, None if outcome is True else "check failed"
    return CheckResult(ok=ok, detail=detail, seconds=round(loop.time() - start, 4))


async def run_checks(checks: Sequence[ReadinessCheck], timeout_s: float) -> Readiness:
    """Run ``checks`` concurrently, each for at most ``timeout_s`` seconds."""
    results = await asyncio.gather(*(_run_one(c, timeout_s) for c in checks))
    by_name = {c.name: r for c, r in zip(checks, results, strict=True)}
    failing = [name for name, r in by_name.items() if not r.ok]
    return Readiness(status="not ready" if failing else "ready", failing=failing, checks=by_name)
