"""A bounded, sequence-numbered buffer of recent events that readers poll with a cursor.

Publishing never waits for readers, so a slow or stuck stream client cannot stall the actor that
publishes (a vehicle, the fleet alert feed). A reader that falls more than `capacity` events
behind skips ahead and is told how many it missed. Each ring has a random epoch, so a position
(epoch, seq) names one event even across rings re-created after an actor restart.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RingRead:
    cursor: int            # pass back to read the events after these
    events: list[Any]
    missed: int = 0        # events that dropped out of the ring before this reader got them
    epoch: str = ""        # the ring's: the events are numbered cursor - len(events) + 1 .. cursor


class EventRing:
    def __init__(self, capacity: int = 256):
        self._events: deque[Any] = deque(maxlen=capacity)
        self._last_seq = 0
        self.epoch = secrets.token_hex(4)
        self._changed = asyncio.Event()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def publish(self, event: Any) -> None:
        self._last_seq += 1
        self._events.append(event)
        self._changed.set()
        self._changed = asyncio.Event()

    def _after(self, cursor: int) -> RingRead:
        if cursor > self._last_seq or cursor < 0:  # a cursor from an earlier ring: start from now
            return RingRead(self._last_seq, [], epoch=self.epoch)
        first_seq = self._last_seq - len(self._events) + 1
        missed = max(0, first_seq - 1 - cursor)
        skip = max(0, cursor + 1 - first_seq)
        return RingRead(self._last_seq, list(self._events)[skip:], missed, self.epoch)

    async def read(self, cursor: int, timeout: float) -> RingRead:
        """Events after `cursor`, waiting up to `timeout` seconds for the first one."""
        if cursor == self._last_seq:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return self._after(cursor)


class RingRegistry:
    """Rings by key (a vehicle id, a tenant id), created when a reader first watches a key and
    dropped once nobody has read it for `idle_seconds`: unwatched keys hold no buffer at all."""

    def __init__(self, capacity: int = 256, idle_seconds: float = 60.0):
        self.capacity = capacity
        self.idle_seconds = idle_seconds
        self._rings: dict[str, EventRing] = {}
        self._last_read: dict[str, float] = {}
        self._next_sweep = 0.0

    def watching(self, key: str) -> bool:
        return key in self._rings

    def publish(self, key: str, event: Any) -> None:
        ring = self._rings.get(key)
        if ring is not None:
            ring.publish(event)

    async def read(self, key: str, cursor: int, timeout: float) -> RingRead:
        loop = asyncio.get_running_loop()
        ring = self._rings.setdefault(key, EventRing(self.capacity))
        self._last_read[key] = loop.time()
        try:
            return await ring.read(cursor, timeout)
        finally:
            self._last_read[key] = now = loop.time()
            if now >= self._next_sweep:
                self._drop_idle(now)

    def _drop_idle(self, now: float) -> None:
        self._next_sweep = now + self.idle_seconds
        for key in [k for k, at in self._last_read.items() if now - at > self.idle_seconds]:
            del self._rings[key], self._last_read[key]
