"""cxstream puts state under the same partition as Kafka's default partitioner puts the event.

Covers :func:`murmur2` against the Java client's reference values and aiokafka's
implementation, and :func:`partition_for` against aiokafka's ``DefaultPartitioner`` for
many keys and partition counts.
"""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.partitioning import murmur2, partition_for

KAFKA = DefaultPartitioner()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Values of org.apache.kafka.common.utils.Utils.murmur2 (Kafka's own unit test).
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


@settings(deadline=None, max_examples=300)
@given(data=st.binary(max_size=64))
def test_murmur2_matches_aiokafka_for_any_bytes(data: bytes) -> None:
    ours = murmur2(data)
    assert -(2**31) <= ours < 2**31
    assert ours & 0xFFFFFFFF == aiokafka_murmur2(data) & 0xFFFFFFFF


@settings(deadline=None, max_examples=300)
@given(key=st.text(max_size=40), partitions=st.integers(1, 128))
def test_partition_matches_kafka_default_partitioner(key: str, partitions: int) -> None:
    all_partitions = list(range(partitions))
    expected = KAFKA(key.encode("utf-8"), all_partitions, all_partitions)
    assert partition_for(key, partitions) == expected


@pytest.mark.parametrize("partitions", [1, 3, 8, 12, 64])
def test_typical_keys_match_kafka(partitions: int) -> None:
    all_partitions = list(range(partitions))
    for i in range(2000):
        for key in (f"o-{i:07d}", f"c-{i}", f"ORD-DE-{i * 7919}"):
            expected = KAFKA(key.encode(), all_partitions, all_partitions)
            assert partition_for(key, partitions) == expected, key


def test_keys_spread_over_all_partitions() -> None:
    hits = {partition_for(f"o-{i}", 8) for i in range(200)}
    assert hits == set(range(8))


def test_non_ascii_keys_are_hashed_as_utf8() -> None:
    key = "bestellung-straße-東京"
    expected = KAFKA(key.encode("utf-8"), list(range(16)), list(range(16)))
    assert partition_for(key, 16) == expected
