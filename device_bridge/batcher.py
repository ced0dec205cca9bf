"""Bounded batching between adapter readers and vehicle actors.

Readings wait in a bounded queue; when it is full the oldest reading is dropped and counted
(fresh data matters more than old data on a live dashboard). Trouble-code reports are never
dropped: they go to their own queue and always leave with the next batch. A batch leaves when
it reaches max_batch or when its oldest item has waited max_delay seconds.
"""

from __future__ import annotations

import asyncio
from collections import deque

from db.readings import DtcReport, Reading


class ReadingBatcher:
    def __init__(self, max_batch: int = 500, max_delay: float = 0.05, max_queued: int = 50_000):
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.readings: deque[Reading] = deque(maxlen=max_queued)
        self.reports: deque[DtcReport] = deque()
        self.dropped = 0
        self._ready = asyncio.Event()

    def add_reading(self, reading: Reading) -> None:
        if len(self.readings) == self.readings.maxlen:
            self.dropped += 1  # deque(maxlen) discards the oldest on append
        self.readings.append(reading)
        if len(self.readings) == 1 or len(self.readings) >= self.max_batch:
            self._ready.set()  # the first item starts the max_delay clock; a full batch ends it

    def add_report(self, report: DtcReport) -> None:
        self.reports.append(report)
        self._ready.set()

    async def next_batch(self) -> tuple[list[Reading], list[DtcReport]]:
        """Wait until a batch is due (full, or its oldest item is max_delay old), then take it."""
        while not self.readings and not self.reports:
            self._ready.clear()
            await self._ready.wait()
        if len(self.readings) < self.max_batch and not self.reports:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), self.max_delay)
            except asyncio.TimeoutError:
                pass
        count = min(self.max_batch, len(self.readings))
        readings = [self.readings.popleft() for _ in range(count)]
        reports = list(self.reports)
        self.reports.clear()
        return readings, reports
