"""The Lua scripts of :class:`~cxstream.redis_store.RedisStateStore`.

Each runs atomically on the Redis node that owns its keys; the keys one script touches
share a hash tag (see :mod:`cxstream.keys`), so the scripts also run on a Redis Cluster.
"""

from __future__ import annotations

__all__ = ["APPLY_SERIES", "APPLY_SERIES_GROUPS", "COMMIT_PARTITION", "READ_BUCKETS"]

# KEYS: 1 batch counter, 2 journal hash, 3 commit tokens hash, 4.. the partition's seen
#       sets, then the keys of the order states and profiles to set.
# ARGV: 1 commit token, 2 dedup ttl, 3 journal payload ("" for none), 4 done JSON
#       [[batch number, token]] (applied earlier: delete their entries), 5 order ttl,
#       6 profile ttl, 7 number of order states, 8 number of seen sets S, 9.. 8+S how many
#       ids go to each seen set, then those ids (set by set), then the values (order states,
#       then profiles; one per key after the seen sets, same order).
# Returns the batch number of this commit (the earlier one if the token was seen).
COMMIT_PARTITION = """
for _, done in ipairs(cjson.decode(ARGV[4])) do
  redis.call('HDEL', KEYS[2], done[1])
  if done[2] ~= ARGV[1] then redis.call('HDEL', KEYS[3], done[2]) end
end
local previous = redis.call('HGET', KEYS[3], ARGV[1])
if previous then return tonumber(previous) end
local dedup_ttl = tonumber(ARGV[2])
local sets = tonumber(ARGV[8])
local a = 9 + sets
for i = 1, sets do
  local key = KEYS[3 + i]
  local last = a + tonumber(ARGV[8 + i]) - 1
  for j = a, last, 500 do
    redis.call('SADD', key, unpack(ARGV, j, math.min(j + 499, last)))
  end
  redis.call('EXPIRE', key, dedup_ttl)
  a = last + 1
end
local k = 3 + sets
local last_order = a + tonumber(ARGV[7]) - 1
for i = a, last_order do
  k = k + 1
  redis.call('SET', KEYS[k], ARGV[i], 'EX', ARGV[5])
end
for i = last_order + 1, #ARGV do
  k = k + 1
  redis.call('SET', KEYS[k], ARGV[i], 'EX', ARGV[6])
end
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[3], ARGV[1], n)
redis.call('EXPIRE', KEYS[3], dedup_ttl)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], n, ARGV[3]) end
return n
"""

# Adds a series' groups, summed per bucket, if none of them was applied to it yet (the
# usual case: one group per partition of one batch). Returns how many groups it applied
# (0 if all were applied before), or -1 if only some of them were new: then the caller
# runs APPLY_SERIES_GROUPS.
# KEYS: 1 watermarks hash, 2 bucket index (sorted set), 3.. bucket hashes.
# ARGV: 1 ttl, 2 buckets to keep, 3 number of groups G, 4.. 3+2G partition and batch
#       number of each group (a partition's groups in increasing batch number), then for
#       each bucket hash in KEYS order: its bucket number, how many counters C, and C
#       counter names and (non-zero) deltas.
APPLY_SERIES = """
local groups = tonumber(ARGV[3])
local fields, marks = {}, {}
for i = 1, groups do
  fields[i] = ARGV[2 + 2 * i]
  marks[2 * i - 1] = ARGV[2 + 2 * i]
  marks[2 * i] = ARGV[3 + 2 * i]
end
local fresh = 0
for i = 1, groups, 500 do
  local last = math.min(i + 499, groups)
  local known = redis.call('HMGET', KEYS[1], unpack(fields, i, last))
  for j = i, last do
    if tonumber(ARGV[3 + 2 * j]) > tonumber(known[j - i + 1] or '0') then fresh = fresh + 1 end
  end
end
if fresh == 0 then return 0 end
if fresh < groups then return -1 end
for i = 1, 2 * groups, 1000 do
  redis.call('HSET', KEYS[1], unpack(marks, i, math.min(i + 999, 2 * groups)))
end
local ttl = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local index = {}
local newest = nil
local a = 4 + 2 * groups
for k = 3, #KEYS do
  local key = KEYS[k]
  local bucket = ARGV[a]
  local last = a + 1 + 2 * tonumber(ARGV[a + 1])
  for j = a + 2, last, 2 do redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1]) end
  redis.call('EXPIRE', key, ttl)
  index[#index + 1] = bucket
  index[#index + 1] = bucket
  local number = tonumber(bucket)
  if newest == nil or number > newest then newest = number end
  a = last + 1
end
if newest ~= nil then
  for i = 1, #index, 1000 do
    redis.call('ZADD', KEYS[2], unpack(index, i, math.min(i + 999, #index)))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (newest - keep))
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[1], ttl)
end
return groups
"""

# Adds each group that is new to the series on its own (the general case, for a series
# whose groups were applied in part, as after a crash during recovery).
# KEYS: 1 watermarks hash, 2 bucket index (sorted set), 3.. bucket hashes.
# ARGV: 1 ttl, 2 buckets to keep, 3 bucket numbers JSON (one per bucket key, same order),
#       4 groups JSON [[partition, batch number, {bucket: {counter: delta}}], ...]
#       (a partition's groups in increasing batch number).
APPLY_SERIES_GROUPS = """
local ttl = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local key_of = {}
for i, bucket in ipairs(cjson.decode(ARGV[3])) do key_of[tostring(bucket)] = i + 2 end
local sums = {}
local applied = 0
for _, group in ipairs(cjson.decode(ARGV[4])) do
  local field = tostring(group[1])
  local n = group[2]
  local mark = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if n > mark then
    for bucket, deltas in pairs(group[3]) do
      local k = key_of[tostring(bucket)]
      local per_key = sums[k]
      if per_key == nil then per_key = {}; sums[k] = per_key end
      for name, delta in pairs(deltas) do per_key[name] = (per_key[name] or 0) + delta end
    end
    redis.call('HSET', KEYS[1], field, n)
    applied = applied + 1
  end
end
local newest = nil
for k, per_key in pairs(sums) do
  local key = KEYS[k]
  for name, delta in pairs(per_key) do
    if delta ~= 0 then redis.call('HINCRBY', key, name, delta) end
  end
  redis.call('EXPIRE', key, ttl)
  local bucket = tonumber(string.match(key, ':agg:(-?%d+)$'))
  redis.call('ZADD', KEYS[2], bucket, bucket)
  if newest == nil or bucket > newest then newest = bucket end
end
if newest ~= nil then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (newest - keep))
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[1], ttl)
end
return applied
"""


# KEYS: the bucket hashes of one series. Returns each one's fields and values.
READ_BUCKETS = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return out
"""
