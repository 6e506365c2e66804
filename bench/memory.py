"""Redis memory of cxstream's state, per segment series, per order and per event id.

Walks the keys under one key prefix with SCAN and adds up ``MEMORY USAGE`` (exact,
``SAMPLES 0``) per key kind of :class:`cxstream.keys.KeyLayout`:

* segment series ``<prefix>:{s:<series>}:agg:<bucket>`` (one counter hash per
  event-time bucket), ``...:buckets`` (sorted set of bucket numbers) and ``...:wm``
  (applied-position watermarks), plus each series' share of ``<prefix>:series``;
* order states ``<prefix>:{p<n>}:order:<id>``, customer profiles ``...:cust:<id>``;
* dedup sets ``<prefix>:{p<n>}:seen:<day>``, divided by their number of members.

The projection to full retention multiplies the per-bucket cost (counter hash plus
its member in the bucket index) by ``retention_days * 86400 / bucket_seconds``, as if
the series had a bucket for every slot; ``projected_bytes_at_fill`` scales by the
share of slots the measured series actually filled instead. Redis' allocator and
encodings (listpack vs. hashtable/skiplist past the ``*-max-listpack-*`` limits)
make these figures approximate; they are for the server the benchmark talked to.

Run on its own against a Redis that holds a worker's keys::

    python -m bench.memory --redis-url redis://127.0.0.1:6379/0 --prefix cx
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import redis

from cxstream.config import Settings

__all__ = ["MemoryReport", "measure_memory"]

_CHUNK = 1000


@dataclass(slots=True)
class MemoryReport:
    """Bytes of Redis memory by kind of state (``None`` where there were no such keys)."""

    prefix: str
    bucket_seconds: int
    retention_days: float
    series: int
    series_bytes: int
    agg_keys: int
    agg_bytes: int
    bucket_index_bytes: int
    bucket_index_members: int
    watermark_bytes: int
    series_index_bytes: int
    observed_bucket_slots: int
    bytes_per_series: float | None
    bytes_per_bucket: float | None
    projected_bytes_per_series: float | None
    projected_bytes_at_fill: float | None
    orders: int
    bytes_per_order: float | None
    customers: int
    bytes_per_customer: float | None
    seen_ids: int
    bytes_per_seen_id: float | None
    used_memory: int


def _scan(client: redis.Redis, match: str) -> Iterator[list[str]]:
    chunk: list[str] = []
    for key in client.scan_iter(match=match, count=_CHUNK):
        chunk.append(key)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _usage(client: redis.Redis, keys: list[str]) -> list[int]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return [int(v or 0) for v in pipe.execute()]


def _per(total: int, count: int) -> float | None:
    return total / count if count else None


def measure_memory(client: redis.Redis, prefix: str, settings: Settings) -> MemoryReport:
    """Measure the memory of every key under ``prefix`` (``client`` must decode responses)."""
    series_re = re.compile(rf"^{re.escape(prefix)}:\{{s:(.*)\}}:(agg:(-?\d+)|buckets|wm)$")
    per_series: dict[str, int] = defaultdict(int)
    buckets_seen: list[int] = []
    agg_keys = agg_bytes = zset_bytes = zset_members = wm_bytes = 0
    for keys in _scan(client, f"{prefix}:{{s:*"):
        sizes = _usage(client, keys)
        zsets = []
        for key, size in zip(keys, sizes, strict=True):
            match = series_re.match(key)
            if match is None:
                continue
            per_series[match.group(1)] += size
            kind = match.group(2)
            if match.group(3) is not None:
                agg_keys += 1
                agg_bytes += size
                buckets_seen.append(int(match.group(3)))
            elif kind == "buckets":
                zset_bytes += size
                zsets.append(key)
            else:
                wm_bytes += size
        if zsets:
            pipe = client.pipeline(transaction=False)
            for key in zsets:
                pipe.zcard(key)
            zset_members += sum(int(n) for n in pipe.execute())

    index_key = f"{prefix}:series"
    index_bytes = int(client.memory_usage(index_key, samples=0) or 0)
    series = len(per_series)
    series_bytes = sum(per_series.values()) + index_bytes
    slots = (max(buckets_seen) - min(buckets_seen) + 1) if buckets_seen else 0
    full = settings.retention_days * 86400 / settings.bucket_seconds
    per_bucket = _per(agg_bytes, agg_keys)
    per_member = _per(zset_bytes, zset_members) or 0.0
    fixed = (wm_bytes + index_bytes) / series if series else 0.0
    projected = fill_projected = None
    if per_bucket is not None and series:
        projected = full * (per_bucket + per_member) + fixed
        fill = agg_keys / (series * slots) if slots else 0.0
        fill_projected = full * fill * (per_bucket + per_member) + fixed

    def total(match: str) -> tuple[int, int]:
        count = size = 0
        for keys in _scan(client, match):
            count += len(keys)
            size += sum(_usage(client, keys))
        return count, size

    orders, order_bytes = total(f"{prefix}:{{p*}}:order:*")
    customers, customer_bytes = total(f"{prefix}:{{p*}}:cust:*")
    seen_ids = seen_bytes = 0
    for keys in _scan(client, f"{prefix}:{{p*}}:seen:*"):
        seen_bytes += sum(_usage(client, keys))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.scard(key)
        seen_ids += sum(int(n) for n in pipe.execute())
    info = client.info("memory")
    return MemoryReport(
        prefix=prefix,
        bucket_seconds=settings.bucket_seconds,
        retention_days=settings.retention_days,
        series=series,
        series_bytes=series_bytes,
        agg_keys=agg_keys,
        agg_bytes=agg_bytes,
        bucket_index_bytes=zset_bytes,
        bucket_index_members=zset_members,
        watermark_bytes=wm_bytes,
        series_index_bytes=index_bytes,
        observed_bucket_slots=slots,
        bytes_per_series=_per(series_bytes, series),
        bytes_per_bucket=per_bucket,
        projected_bytes_per_series=projected,
        projected_bytes_at_fill=fill_projected,
        orders=orders,
        bytes_per_order=_per(order_bytes, orders),
        customers=customers,
        bytes_per_customer=_per(customer_bytes, customers),
        seen_ids=seen_ids,
        bytes_per_seen_id=_per(seen_bytes, seen_ids),
        used_memory=int(info.get("used_memory", 0)),  # type: ignore[union-attr]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", default=None, help="key prefix (default: the configured one)")
    args = parser.parse_args(argv)
    settings = Settings(redis_url=args.redis_url)
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    try:
        report = measure_memory(client, args.prefix or settings.key_prefix, settings)
    finally:
        client.close()
    print(json.dumps(asdict(report), indent=2))


if __name__ == "__main__":
    main()
