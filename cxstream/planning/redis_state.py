"""The planner's records in Redis (:class:`RedisPlannerState`), single node or Cluster.

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

Vouchers: the pool's codes (from the rules) are synchronised once per process into
``free`` in the order listed (codes removed from the rules are withdrawn from ``free``;
a code is never put back once handed out). An action takes the first free code
atomically and keeps it: asking again for the same action id returns the same code, so
re-runs are stable and no code goes to two actions. An exhausted pool gives no code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from cxstream.config import Settings
from cxstream.planning.state import (
    DEFAULT_RECORD_TTL,
    HISTORY_KEEP,
    FeedbackClaim,
    NoticeClaim,
    PlannerKeys,
)
from cxstream.records import ActionRecord
from cxstream.redis_scripts import ScriptPipeline
from cxstream.rules.ruleset import VoucherPool

__all__ = ["RedisPlannerState"]

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
