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

:class:`RedisPlannerState` keeps the per-order and per-customer records under the
state partition hash tag of the order or the customer (``{p<P>}``, the same partition
the engine stores the order or profile under, see :mod:`cxstream.keys`), and checks
and sets each in one Lua script, so two workers never both decide for one customer:

=====================================================  ======================================
key                                                    value, TTL
=====================================================  ======================================
``<prefix>:{p<P(order)>}:plan:notice:<rule>:<order>``  hash ``fp``, ``action`` (JSON); record TTL
``<prefix>:{p<P(customer)>}:plan:act:<action_id>``     event id of the deciding answer; record TTL
``<prefix>:{p<P(customer)>}:plan:apology:<rule>:<c>``  JSON list of apologies; max(record TTL,
                                                       the rule's period)
``<prefix>:{voucher:<pool>}:free``                     list of codes not handed out; no TTL
``<prefix>:{voucher:<pool>}:known``                    set of codes ever put in ``free``; no TTL
``<prefix>:{voucher:<pool>}:assigned``                 hash action id -> code; no TTL (at most
                                                       one entry per code of the pool)
=====================================================  ======================================

The record TTL defaults to the settings' ``order_ttl_days``. :class:`MemoryPlannerState`
keeps the same records in dictionaries and reads the order states of a
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

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from cxstream.config import Settings
from cxstream.keys import KeyLayout
from cxstream.memory_store import MemoryStateStore
from cxstream.records import ActionRecord
from cxstream.redis_scripts import ScriptPipeline
from cxstream.rules.ruleset import VoucherPool

__all__ = [
    "DEFAULT_RECORD_TTL",
    "HISTORY_KEEP",
    "FeedbackClaim",
    "MemoryPlannerState",
    "NoticeClaim",
    "PlannerKeys",
    "PlannerState",
    "RedisPlannerState",
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


# -- Redis --------------------------------------------------------------------------------------

# KEYS: 1 notice record (hash), 2 the engine's order state. ARGV: 1 action JSON, 2 ttl.
# Returns the decided action JSON, or nil if a committed batch decided it already.
_CLAIM_NOTICE = """
local state = redis.call('GET', KEYS[2])
local fp = '-'
if state then fp = redis.sha1hex(state) end
local recorded = redis.call('HGET', KEYS[1], 'fp')
if recorded then
  if recorded == fp then return redis.call('HGET', KEYS[1], 'action') end
  if recorded ~= 'settled' then redis.call('HSET', KEYS[1], 'fp', 'settled') end
  return false
end
redis.call('HSET', KEYS[1], 'fp', fp, 'action', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return ARGV[1]
"""

# KEYS: 1 decided record (string: event id), 2 apology history (only with a period).
# ARGV: 1 event id, 2 action id, 3 ttl, 4 event time (epoch s), 5 period (s), 6 history
# ttl, 7 history size. Returns 1 if decided, 0 if not.
_CLAIM_FEEDBACK = """
local earlier = redis.call('GET', KEYS[1])
if earlier then
  if earlier == ARGV[1] then return 1 end
  return 0
end
if #KEYS > 1 then
  local ts = tonumber(ARGV[4])
  local period = tonumber(ARGV[5])
  local raw = redis.call('GET', KEYS[2])
  local history = {}
  if raw then history = cjson.decode(raw) end
  for _, entry in ipairs(history) do
    if entry[2] ~= ARGV[2] and math.abs(ts - tonumber(entry[1])) < period then return 0 end
  end
  table.insert(history, {ts, ARGV[2], ARGV[1]})
  table.sort(history, function(a, b) return tonumber(a[1]) > tonumber(b[1]) end)
  local kept = {}
  for i = 1, math.min(#history, tonumber(ARGV[7])) do kept[i] = history[i] end
  redis.call('SET', KEYS[2], cjson.encode(kept), 'EX', tonumber(ARGV[6]))
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
return 1
"""

# KEYS: 1 free codes (list), 2 known codes (set). ARGV: the pool's codes in order.
_SYNC_POOL = """
local current = {}
for i = 1, #ARGV do
  current[ARGV[i]] = true
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then redis.call('RPUSH', KEYS[1], ARGV[i]) end
end
for _, code in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if not current[code] then redis.call('LREM', KEYS[1], 0, code) end
end
return redis.call('LLEN', KEYS[1])
"""

# KEYS: 1 free codes (list), 2 assigned (hash). ARGV: 1 action id. Returns the code or nil.
_ASSIGN_VOUCHER = """
local code = redis.call('HGET', KEYS[2], ARGV[1])
if code then return code end
code = redis.call('LPOP', KEYS[1])
if not code then return false end
redis.call('HSET', KEYS[2], ARGV[1], code)
return code
"""

_SCRIPTS = {
    "notice": _CLAIM_NOTICE,
    "feedback": _CLAIM_FEEDBACK,
    "sync": _SYNC_POOL,
    "voucher": _ASSIGN_VOUCHER,
}

_Call = tuple[str, list[str], list[Any]]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisPlannerState:
    """The planner's records in Redis (single node or Cluster); every script touches the
    keys of one hash tag."""

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        *,
        key_prefix: str = "cx",
        record_ttl: timedelta = DEFAULT_RECORD_TTL,
    ) -> None:
        self.client = client
        self.keys = PlannerKeys(key_prefix)
        self.record_ttl_s = max(1, int(record_ttl.total_seconds()))
        self.round_trips = 0
        self._runner = ScriptPipeline(client, _SCRIPTS)
        self._synced: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, client: aioredis.Redis | RedisCluster | None = None
    ) -> RedisPlannerState:
        """Records of the deployment ``settings`` describe, kept as long as orders."""
        from cxstream.redis_client import connect_redis

        return cls(
            client if client is not None else connect_redis(settings),
            key_prefix=settings.key_prefix,
            record_ttl=timedelta(days=settings.order_ttl_days),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def _run(self, calls: Sequence[_Call]) -> list[Any]:
        """Run the scripts in one pipeline (in order); reload them once if Redis lost them
        (every script here may safely run twice)."""
        if not calls:
            return []

        def fill(pipe: Any, shas: dict[str, str]) -> None:
            for name, keys, args in calls:
                pipe.execute_command("EVALSHA", shas[name], len(keys), *keys, *args)

        results = await self._runner.execute(fill)
        self.round_trips += 1
        return results

    async def notices(
        self, wanted: Sequence[tuple[str, str, int]]
    ) -> dict[tuple[str, str], ActionRecord]:
        if not wanted:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for rule, order_id, partition in wanted:
            pipe.hget(self.keys.notice(partition, rule, order_id), "action")
        results: list[Any] = await pipe.execute()
        self.round_trips += 1
        found: dict[tuple[str, str], ActionRecord] = {}
        for (rule, order_id, _), raw in zip(wanted, results, strict=True):
            if raw is not None:
                found[(rule, order_id)] = ActionRecord.model_validate_json(_text(raw))
        return found

    async def claim_notices(self, claims: Sequence[NoticeClaim]) -> list[ActionRecord | None]:
        calls: list[_Call] = [
            (
                "notice",
                [
                    self.keys.notice(c.partition, c.rule, c.order_id),
                    self.keys.layout.order(c.partition, c.order_id),
                ],
                [c.action.to_json(), self.record_ttl_s],
            )
            for c in claims
        ]
        results = await self._run(calls)
        return [
            None if raw is None else ActionRecord.model_validate_json(_text(raw)) for raw in results
        ]

    async def claim_feedback(self, claims: Sequence[FeedbackClaim]) -> list[bool]:
        calls: list[_Call] = []
        for c in claims:
            keys = [self.keys.decided(c.partition, c.action_id)]
            args: list[Any] = [c.event_id, c.action_id, self.record_ttl_s]
            if c.period is not None:
                period = c.period.total_seconds()
                keys.append(self.keys.apologies(c.partition, c.rule, c.customer_id))
                args += [
                    repr(c.ts.timestamp()),
                    repr(period),
                    max(self.record_ttl_s, int(period) + 1),
                    HISTORY_KEEP,
                ]
            calls.append(("feedback", keys, args))
        return [bool(int(r)) for r in await self._run(calls)]

    async def assign_vouchers(
        self, pool: VoucherPool, action_ids: Sequence[str]
    ) -> dict[str, str | None]:
        if not action_ids:
            return {}
        free = self.keys.voucher_free(pool.name)
        calls: list[_Call] = []
        synced = self._synced.get(pool.name) == pool.codes
        if not synced:
            calls.append(("sync", [free, self.keys.voucher_known(pool.name)], list(pool.codes)))
        assigned = self.keys.voucher_assigned(pool.name)
        calls.extend(("voucher", [free, assigned], [a]) for a in action_ids)
        results = await self._run(calls)
        if not synced:
            self._synced[pool.name] = pool.codes
            results = results[1:]
        return {
            a: None if code is None else _text(code)
            for a, code in zip(action_ids, results, strict=True)
        }
