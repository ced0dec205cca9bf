"""Bridge batching: bounded by size and time, oldest readings dropped first, codes never."""

import asyncio
from datetime import datetime, timezone

from db.readings import DtcReport, Reading
from device_bridge.batcher import ReadingBatcher

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def reading(n: int) -> Reading:
    return Reading("v1", "RPM", float(n), "revolutions_per_minute", NOW)


async def test_a_full_batch_leaves_at_once_and_a_partial_one_after_max_delay():
    batcher = ReadingBatcher(max_batch=3, max_delay=0.05)
    for n in range(4):
        batcher.add_reading(reading(n))
    readings, _ = await asyncio.wait_for(batcher.next_batch(), 0.01)
    assert [r.value for r in readings] == [0, 1, 2]
    loop = asyncio.get_running_loop()
    started = loop.time()
    readings, _ = await batcher.next_batch()
    assert [r.value for r in readings] == [3] and loop.time() - started >= 0.04


async def test_overload_drops_oldest_readings_and_counts_them_but_never_codes():
    batcher = ReadingBatcher(max_batch=100, max_delay=0.01, max_queued=5)
    for n in range(8):
        batcher.add_reading(reading(n))
    for _ in range(3):
        batcher.add_report(DtcReport("v1", (("P0301", "Cylinder 1 Misfire Detected"),), NOW))
    readings, reports = await batcher.next_batch()
    assert [r.value for r in readings] == [3, 4, 5, 6, 7]
    assert batcher.dropped == 3
    assert len(reports) == 3


async def test_waits_for_work():
    batcher = ReadingBatcher(max_batch=10, max_delay=0.01)
    task = asyncio.ensure_future(batcher.next_batch())
    await asyncio.sleep(0.05)
    assert not task.done()
    batcher.add_reading(reading(1))
    readings, _ = await asyncio.wait_for(task, 1)
    assert len(readings) == 1
