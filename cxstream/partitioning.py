"""Kafka's default partitioner (murmur2), so state is laid out like the topics.

cxstream keeps per-order state under a Redis hash tag derived from the same
partition number the producer's default partitioner gives the event key. A
worker that owns partition *p* of the input topics therefore writes only keys
tagged ``{p<p>}``, and each batch's state update touches one slot per partition.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["murmur2", "partition_for"]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """The 32-bit murmur2 hash exactly as Kafka's Java client computes it.

    >>> murmur2(b"21")
    -973932308
    """
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    for i in range(0, length - length % 4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    tail = length & ~3
    extra = length % 4
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


@lru_cache(maxsize=65536)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner assigns to a string key.

    >>> partition_for("o-1", 8) == partition_for("o-1", 8)
    True
    """
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions
