"""The stream watermark: the slowest partition's progress, idle partitions left out."""

from __future__ import annotations

from cxstream.watermarks import MemoryWatermarkStore, PartitionWatermarks


def test_watermark_waits_for_every_partition_and_follows_the_slowest() -> None:
    marks = PartitionWatermarks(2)
    marks.advance({0: 10.0})
    assert marks.watermark() is None
    marks.advance({1: 5.0})
    assert marks.watermark() == 5.0
    marks.advance({1: 3.0})  # never back
    assert marks.watermark() == 5.0


def test_idle_partitions_do_not_hold_the_watermark_until_they_report_again() -> None:
    marks = PartitionWatermarks(3)
    marks.advance({0: 10.0, 1: 20.0})
    marks.mark_idle([2])
    assert marks.watermark() == 10.0
    marks.mark_idle([0, 1])
    assert marks.watermark() == 20.0
    marks.advance({2: 15.0})
    assert marks.watermark() == 15.0


async def test_memory_store_moves_forward_only_and_clears_idle_marks() -> None:
    store = MemoryWatermarkStore()
    await store.advance({0: 10.0, 1: 4.0})
    await store.mark_idle([1])
    await store.advance({0: 8.0})
    marks = await store.read(2)
    assert marks.progress == {0: 10.0, 1: 4.0}
    assert marks.watermark() == 10.0
    await store.advance({1: 6.0})
    assert (await store.read(2)).watermark() == 6.0
