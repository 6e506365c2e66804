"""What the action planner remembers between batches, in Redis or in memory.

The planner decides before the engine commits a batch, and a batch may be run again
after a crash. Every record therefore says *which* decision it holds, so that a re-run
finds its own decision and makes it again identically, while a later batch finds it
and decides nothing:

* **Delay notice per rule and order** (:class:`NoticeClaim`): the decided action and a
  fingerprint (SHA-1) of the order's state as the engine had stored it *before* the
  deciding batch. While that batch has not been committed the stored state is
  unchanged, so the fingerprint matches and the claim returns the recorded action (a
  re-run, however the batch is cut). Once committed, the stored state has moved on: the
  claim returns nothing and marks the record settled.
* **Feedback decisions per action id** (:class:`FeedbackClaim`): the event id of the
  answer that decided it (apology and VIP task once per order: the same action id from
  another answer is refused, from the same answer granted again).
* **Apologies per rule and customer**: the newest (at most :data:`HISTORY_KEEP`)
  apologies as ``[event time, action id, event id]``; an apology is refused when
  another one's answer lies less than the rule's ``per_customer_within`` away in event
  time (either side: answers may arrive out of order).
* **Vouchers per pool**: codes handed out once each, and the code of each action id.

:class:`~cxstream.planning.redis_state.RedisPlannerState` keeps them in Redis (keys and
TTLs there); the record TTL defaults to the settings' ``order_ttl_days``.
:class:`MemoryPlannerState` keeps the same records in dictionaries and reads the order states of a
:class:`~cxstream.memory_store.MemoryStateStore`.

Vouchers: the pool's codes (from the rules) are synchronised once per process into
``free`` in the order listed (codes removed from the rules are withdrawn from ``free``;
a code is never put back once handed out). An action takes the first free code
atomically and keeps it: asking again for the same action id returns the same code, so
re-runs are stable and no code goes to two actions. An exhausted pool gives no code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cxstream.keys import KeyLayout
from cxstream.memory_store import MemoryStateStore
from cxstream.records import ActionRecord
from cxstream.rules.ruleset import VoucherPool

__all__ = [
    "DEFAULT_RECORD_TTL",
    "HISTORY_KEEP",
    "FeedbackClaim",
    "MemoryPlannerState",
    "NoticeClaim",
    "PlannerKeys",
    "PlannerState",
    "fingerprint",
]

#: How long per-order and per-customer records are kept by default (the default order TTL).
DEFAULT_RECORD_TTL = timedelta(days=120)
#: How many apologies per customer and rule are remembered.
HISTORY_KEEP = 16

#: Fingerprint of an order the engine had not stored yet.
_NO_STATE = "-"
#: Fingerprint of a record whose deciding batch is known to be committed.
_SETTLED = "settled"


def fingerprint(raw: str | bytes | None) -> str:
    """The fingerprint of an order's stored JSON (SHA-1 hex, as Redis' ``sha1hex``)."""
    if raw is None:
        return _NO_STATE
    return hashlib.sha1(raw.encode() if isinstance(raw, str) else raw).hexdigest()


@dataclass(frozen=True, slots=True)
class NoticeClaim:
    """Decide ``action`` (a delay notice of ``rule`` for ``order_id``) unless decided."""

    rule: str
    order_id: str
    partition: int
    action: ActionRecord


@dataclass(frozen=True, slots=True)
class FeedbackClaim:
    """Decide ``action_id`` for the answer ``event_id`` of ``customer_id`` at ``ts``.

    With ``period`` (an apology), also at most one per customer and ``rule`` within
    ``period`` of event time; without, only once per action id (a VIP task).
    """

    rule: str
    action_id: str
    event_id: str
    customer_id: str
    partition: int
    ts: datetime
    period: timedelta | None = None


class PlannerState(Protocol):
    """The planner's records (see the module docs for their meaning)."""

    async def notices(
        self, wanted: Sequence[tuple[str, str, int]]
    ) -> dict[tuple[str, str], ActionRecord]:
        """The delay notices recorded for ``(rule, order_id, partition)``, by rule and order."""
        ...

    async def claim_notices(self, claims: Sequence[NoticeClaim]) -> list[ActionRecord | None]:
        """Per claim, in order: the action decided for it (the claim's own, or the one
        recorded by an uncommitted earlier run of the batch), or ``None`` if a committed
        batch decided it already."""
        ...

    async def claim_feedback(self, claims: Sequence[FeedbackClaim]) -> list[bool]:
        """Per claim, checked and recorded in order: whether it is decided."""
        ...

    async def assign_vouchers(
        self, pool: VoucherPool, action_ids: Sequence[str]
    ) -> dict[str, str | None]:
        """A code of ``pool`` for each action id (the same on every call; ``None``:
        the pool is exhausted)."""
        ...


class PlannerKeys:
    """The planner's Redis keys (see the module docs).

    >>> keys = PlannerKeys("cx")
    >>> keys.notice(3, "delay-notice", "o-1")
    'cx:{p3}:plan:notice:delay-notice:o-1'
    >>> keys.voucher_free("ten-euro")
    'cx:{voucher:ten-euro}:free'
    """

    __slots__ = ("layout", "prefix")

    def __init__(self, prefix: str = "cx") -> None:
        self.prefix = prefix
        self.layout = KeyLayout(prefix)

    def notice(self, partition: int, rule: str, order_id: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:plan:notice:{rule}:{order_id}"

    def decided(self, partition: int, action_id: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:plan:act:{action_id}"

    def apologies(self, partition: int, rule: str, customer_id: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:plan:apology:{rule}:{customer_id}"

    def voucher_free(self, pool: str) -> str:
        return f"{self.prefix}:{{voucher:{pool}}}:free"

    def voucher_known(self, pool: str) -> str:
        return f"{self.prefix}:{{voucher:{pool}}}:known"

    def voucher_assigned(self, pool: str) -> str:
        return f"{self.prefix}:{{voucher:{pool}}}:assigned"


# -- the rules of the records, shared by both implementations ---------------------------------


def _apology_allowed(
    history: Sequence[Sequence[Any]], ts: float, period: float, action_id: str
) -> bool:
    return all(entry[1] == action_id or abs(ts - float(entry[0])) >= period for entry in history)


def _with_apology(
    history: Sequence[Sequence[Any]], ts: float, action_id: str, event_id: str
) -> list[list[Any]]:
    entries = [list(e) for e in history]
    entries.append([ts, action_id, event_id])
    entries.sort(key=lambda e: -float(e[0]))
    return entries[:HISTORY_KEEP]


# -- memory -------------------------------------------------------------------------------------


class MemoryPlannerState:
    """The planner's records in dictionaries, next to a :class:`MemoryStateStore`."""

    def __init__(self, store: MemoryStateStore) -> None:
        self.store = store
        #: (rule, order id) -> [fingerprint, action]
        self.notice_records: dict[tuple[str, str], list[Any]] = {}
        #: action id -> event id of the deciding answer
        self.decided: dict[str, str] = {}
        #: (rule, customer id) -> [[ts, action id, event id], ...] newest first
        self.apologies: dict[tuple[str, str], list[list[Any]]] = {}
        #: pool -> free codes, codes ever made free, action id -> code
        self.vouchers_free: dict[str, list[str]] = {}
        self.vouchers_known: dict[str, set[str]] = {}
        self.vouchers_assigned: dict[str, dict[str, str]] = {}

    async def notices(
        self, wanted: Sequence[tuple[str, str, int]]
    ) -> dict[tuple[str, str], ActionRecord]:
        found: dict[tuple[str, str], ActionRecord] = {}
        for rule, order_id, _ in wanted:
            record = self.notice_records.get((rule, order_id))
            if record is not None:
                found[(rule, order_id)] = record[1]
        return found

    async def claim_notices(self, claims: Sequence[NoticeClaim]) -> list[ActionRecord | None]:
        out: list[ActionRecord | None] = []
        for claim in claims:
            current = fingerprint(self.store.orders.get(claim.order_id))
            key = (claim.rule, claim.order_id)
            record = self.notice_records.get(key)
            if record is None:
                self.notice_records[key] = [current, claim.action]
                out.append(claim.action)
            elif record[0] == current:
                out.append(record[1])
            else:
                record[0] = _SETTLED
                out.append(None)
        return out

    async def claim_feedback(self, claims: Sequence[FeedbackClaim]) -> list[bool]:
        out: list[bool] = []
        for claim in claims:
            earlier = self.decided.get(claim.action_id)
            if earlier is not None:
                out.append(earlier == claim.event_id)
                continue
            if claim.period is not None:
                key = (claim.rule, claim.customer_id)
                history = self.apologies.get(key, [])
                ts = claim.ts.timestamp()
                if not _apology_allowed(history, ts, claim.period.total_seconds(), claim.action_id):
                    out.append(False)
                    continue
                self.apologies[key] = _with_apology(history, ts, claim.action_id, claim.event_id)
            self.decided[claim.action_id] = claim.event_id
            out.append(True)
        return out

    def _sync(self, pool: VoucherPool) -> None:
        free = self.vouchers_free.setdefault(pool.name, [])
        known = self.vouchers_known.setdefault(pool.name, set())
        current = set(pool.codes)
        for code in pool.codes:
            if code not in known:
                known.add(code)
                free.append(code)
        free[:] = [code for code in free if code in current]

    async def assign_vouchers(
        self, pool: VoucherPool, action_ids: Sequence[str]
    ) -> dict[str, str | None]:
        self._sync(pool)
        free = self.vouchers_free[pool.name]
        assigned = self.vouchers_assigned.setdefault(pool.name, {})
        out: dict[str, str | None] = {}
        for action_id in action_ids:
            code = assigned.get(action_id)
            if code is None and free:
                code = assigned[action_id] = free.pop(0)
            out[action_id] = code
        return out
