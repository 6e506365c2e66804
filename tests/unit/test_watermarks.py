"""The stream watermark: the slowest input stream's progress, idle streams left out."""

from __future__ import annotations

from cxstream.watermarks import MemoryWatermarkStore, StreamWatermarks


def test_watermark_waits_for_every_stream_and_follows_the_slowest() -> None:
    marks = StreamWatermarks(["a", "b"])
    marks.advance({"a": 10.0})
    assert marks.watermark() is None
    marks.advance({"b": 5.0})
    assert marks.watermark() == 5.0
    marks.advance({"b": 3.0})  # never back
    assert marks.watermark() == 5.0


def test_idle_streams_do_not_hold_the_watermark_until_they_report_again() -> None:
    marks = StreamWatermarks(["a", "b", "c"])
    marks.advance({"a": 10.0, "b": 20.0})
    marks.mark_idle(["c"])
    assert marks.watermark() == 10.0
    marks.mark_idle(["a", "b"])
    assert marks.watermark() == 20.0
    marks.advance({"c": 15.0})
    assert marks.watermark() == 15.0


async def test_memory_store_moves_forward_only_clears_idle_marks_and_reads_what_is_asked() -> None:
    store = MemoryWatermarkStore()
    await store.advance({"a": 10.0, "b": 4.0, "other": 1.0})
    await store.mark_idle(["b"])
    await store.advance({"a": 8.0})
    marks = await store.read(["a", "b"])
    assert marks.progress == {"a": 10.0, "b": 4.0}
    assert marks.watermark() == 10.0
    await store.advance({"b": 6.0})
    assert (await store.read(["a", "b"])).watermark() == 6.0
