"""The dispatcher: every decided action delivered effectively once, or reported failed.

:class:`ActionDispatcher` takes an :class:`~cxstream.records.ActionRecord`, picks a
notifier for it, and delivers it under a record in an
:class:`~cxstream.notify.idempotency.IdempotencyStore`:

1. **Claim.** The action's record is read and, if there is none, a lease
   (``sending``, ``lease_s``) is taken atomically. An action that was already sent or
   skipped is not sent again (status ``duplicate``, with the earlier delivery). If
   another dispatcher holds the lease, this one waits until the lease turns into a
   result (``duplicate``) or expires (then it takes over).
2. **Send.** The notifier is called. A retryable failure (connection, timeout, 429,
   5xx, SMTP 4xx) is retried with capped exponential backoff (at least the server's
   ``Retry-After``) until ``max_attempts`` tries or ``max_elapsed_s`` have passed; the
   lease is renewed before each try. A permanent failure ends at once.
3. **Record.** Only after the notifier returned is the result written (``sent`` or
   ``skipped``, with the delivery reference, kept ``idempotency_ttl_hours``). After a
   failure the lease is released and the result is ``failed`` with the error: the
   caller puts the action on the ``cx.actions.deadletter`` topic
   (:meth:`DispatchResult.deadletter_record`). Failures are not recorded, so an action
   dispatched again later (e.g. from the dead-letter topic once the configuration is
   fixed) is tried again.

**The guarantee.** Recording after success means an action is never reported
delivered without having been sent, and never sent twice by dispatchers that see each
other's records, whether they run one after the other or at the same time. The one
window for a duplicate is a crash (or lost connection to the store) *after* the
notifier succeeded and *before* the result was written, or a request that timed out
after the server had in fact accepted it and is then retried: the action is sent again
once the lease expires (with several deliveries running at once, every action in
flight at the crash is in that window). For Slack this is a second identical message (Slack has no
idempotency key for ``chat.postMessage``), so the window is kept to one Redis write. For
email the repeat has the same ``Message-ID`` (derived from the action id), so
receivers that deduplicate by Message-ID show one message; the webhook repeats its
``Idempotency-Key``. A crash *before* the send leaves only a lease, which expires, and
the action is sent by whoever dispatches it next. Errors of the store itself
(:class:`~cxstream.notify.idempotency.IdempotencyStoreError`) propagate: nothing was
sent, or the send is retried by the caller under the same window as above.

**Routing.** The notifier is the first configured one among: ``receivers[receiver]``
and ``receiver`` itself (``detail["receiver"]``), ``routes[action.type]`` (by default
Slack for ``slack_alert`` and ``vip_apology_task``, email for ``delay_notice`` and
``apology_email``, the webhook for ``digest``), then ``fallback``. An action with none is
``unrouted`` and not recorded.

A resolved alert group's ``detail["update_of"]`` names the firing action; its recorded
delivery is passed to the notifier as ``previous``, so the Slack message is updated in
place.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cxstream.clock import Clock, SystemClock
from cxstream.notify.base import Delivery, Notifier, NotifyError, PermanentError
from cxstream.notify.idempotency import IdempotencyStore, IdempotencyStoreError, record_of
from cxstream.notify.settings import DispatchSettings
from cxstream.records import ActionRecord
from cxstream.retry import Backoff

__all__ = ["DEFAULT_ROUTES", "ActionDispatcher", "DispatchResult", "DispatchStatus"]

log = logging.getLogger("cxstream.notify.dispatch")

DispatchStatus = Literal["sent", "skipped", "duplicate", "failed", "unrouted"]
Sleep = Callable[[float], Awaitable[None]]

#: Notifier name per action type when the receiver names none.
DEFAULT_ROUTES: Mapping[str, str] = {
    "slack_alert": "slack",
    "vip_apology_task": "slack",
    "delay_notice": "email",
    "apology_email": "email",
    "digest": "webhook",
}


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What became of one action.

    ``sent`` / ``skipped``: delivered now (or deliberately not, e.g. opt-out);
    ``duplicate``: delivered before (``delivery`` is the earlier one); ``failed``: gave up
    (``error``; ``retryable`` says whether the last failure was a transient one that
    outlasted the limits); ``unrouted``: no notifier is configured for it.
    """

    action_id: str
    status: DispatchStatus
    notifier: str | None = None
    delivery: Delivery | None = None
    error: str | None = None
    retryable: bool = False
    attempts: int = 0

    def deadletter_record(self, action: ActionRecord) -> dict[str, Any]:
        """The value for the ``cx.actions.deadletter`` topic: the action and the failure."""
        return {
            "action": action.as_dict(),
            "notifier": self.notifier,
            "error": self.error,
            "retryable": self.retryable,
            "attempts": self.attempts,
        }


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ActionDispatcher:
    """Routes actions to notifiers and delivers each effectively once.

    ``sleep`` and ``clock`` (``monotonic`` for the retry limits, ``now`` for the
    recorded time) are injectable so tests run without waiting; ``poll_s`` is how often
    a dispatcher waiting for another's lease looks again.
    """

    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        store: IdempotencyStore,
        *,
        settings: DispatchSettings | None = None,
        receivers: Mapping[str, str] | None = None,
        routes: Mapping[str, str] = DEFAULT_ROUTES,
        fallback: str | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        poll_s: float = 0.5,
        owner: str | None = None,
    ) -> None:
        self.notifiers = dict(notifiers)
        self.store = store
        self.settings = settings or DispatchSettings()
        self.receivers = dict(receivers or {})
        self.routes = dict(routes)
        self.fallback = fallback
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._poll_s = poll_s
        self.owner = owner or _default_owner()
        self._backoff = Backoff(self.settings.retry_initial_s, self.settings.retry_max_s)

    def notifier_for(self, action: ActionRecord) -> Notifier | None:
        """The notifier that delivers ``action`` (``None``: none configured)."""
        receiver = action.detail.get("receiver")
        candidates: list[str | None] = []
        if isinstance(receiver, str):
            candidates += [self.receivers.get(receiver), receiver]
        candidates += [self.routes.get(action.type), self.fallback]
        for name in candidates:
            if name is not None and name in self.notifiers:
                return self.notifiers[name]
        return None

    async def previous_delivery(self, action: ActionRecord) -> Delivery | None:
        """The recorded delivery of the action named by ``detail["update_of"]``."""
        earlier = action.detail.get("update_of")
        if not isinstance(earlier, str) or not earlier:
            return None
        record = await self.store.get(earlier)
        return record.delivery if record is not None and record.state == "sent" else None

    async def aclose(self) -> None:
        """Close every notifier (their HTTP sessions)."""
        for notifier in self.notifiers.values():
            await notifier.aclose()

    async def dispatch(
        self, action: ActionRecord, *, previous: Delivery | None = None
    ) -> DispatchResult:
        """Deliver ``action`` unless it was delivered before; see the module docstring.

        ``previous`` overrides the lookup of ``detail["update_of"]``.
        """
        notifier = self.notifier_for(action)
        if notifier is None:
            log.warning("%s (%s): no notifier configured", action.action_id, action.type)
            return DispatchResult(action.action_id, "unrouted", error="no notifier configured")
        started = self._clock.monotonic()
        settings = self.settings
        while True:
            claim = await self.store.claim(action.action_id, self.owner, settings.lease_s)
            if claim.status == "done":
                assert claim.record is not None
                return DispatchResult(
                    action.action_id,
                    "duplicate",
                    notifier=claim.record.delivery.notifier,
                    delivery=claim.record.delivery,
                )
            if claim.status == "claimed":
                break
            if self._clock.monotonic() - started >= settings.max_elapsed_s:
                return DispatchResult(
                    action.action_id,
                    "failed",
                    notifier=notifier.name,
                    error="another dispatcher kept the action leased",
                    retryable=True,
                )
            await self._sleep(self._poll_s)
        if previous is None:
            previous = await self.previous_delivery(action)
        return await self._deliver(action, notifier, previous, started)

    async def _deliver(
        self,
        action: ActionRecord,
        notifier: Notifier,
        previous: Delivery | None,
        started: float,
    ) -> DispatchResult:
        settings = self.settings
        attempts = 0
        while True:
            attempts += 1
            if attempts > 1:
                await self.store.extend(action.action_id, self.owner, settings.lease_s)
            try:
                delivery = await notifier.send(action, previous=previous)
            except NotifyError as exc:
                error: NotifyError = exc
            except Exception as exc:
                log.exception("%s: %s failed unexpectedly", action.action_id, notifier.name)
                error = PermanentError(f"{type(exc).__name__}: {exc}")
            else:
                await self._record(action, delivery)
                log.info("%s: %s via %s", action.action_id, delivery.status, notifier.name)
                return DispatchResult(
                    action.action_id,
                    delivery.status,
                    notifier=notifier.name,
                    delivery=delivery,
                    attempts=attempts,
                )
            elapsed = self._clock.monotonic() - started
            exhausted = attempts >= settings.max_attempts or elapsed >= settings.max_elapsed_s
            if not error.retryable or exhausted:
                await self.store.release(action.action_id, self.owner)
                log.warning(
                    "%s: %s gave up after %d attempt(s): %s",
                    action.action_id,
                    notifier.name,
                    attempts,
                    error,
                )
                return DispatchResult(
                    action.action_id,
                    "failed",
                    notifier=notifier.name,
                    error=str(error),
                    retryable=error.retryable,
                    attempts=attempts,
                )
            wait = max(self._backoff.delay(attempts - 1), error.retry_after or 0.0)
            wait = max(0.0, min(wait, settings.max_elapsed_s - elapsed))
            log.info(
                "%s: %s attempt %d failed (%s), retrying in %.1fs",
                action.action_id,
                notifier.name,
                attempts,
                error,
                wait,
            )
            await self._sleep(wait)

    async def _record(self, action: ActionRecord, delivery: Delivery) -> None:
        """Write the result, retrying the store a few times: the action is sent now."""
        ttl_s = self.settings.idempotency_ttl_hours * 3600.0
        record = record_of(delivery, self._clock.now())
        for attempt in range(self.settings.max_attempts):
            try:
                await self.store.record(action.action_id, record, ttl_s)
                return
            except IdempotencyStoreError:
                if attempt + 1 >= self.settings.max_attempts:
                    raise
                log.warning("%s: recording the delivery failed, retrying", action.action_id)
                await self._sleep(self._backoff.delay(attempt))
