"""Fan-out of actor-side event rings to this replica's stream clients (SSE, WebSocket).

However many clients of a replica watch one key (a vehicle, a tenant's alerts), the replica runs
one long-poll loop against the actor for it. Each client gets a bounded queue; a client that
cannot keep up loses its oldest events (and is told how many) instead of slowing anyone else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from actors.event_ring import RingRead

log = logging.getLogger(__name__)

ReadRing = Callable[[str, int, float], Awaitable[RingRead]]


class Subscription:
    def __init__(self, queue_size: int):
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self.dropped = 0

    def offer(self, event: dict[str, Any]) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self._queue.get()


class LiveFeed:
    def __init__(self, read: ReadRing, queue_size: int = 256, poll_timeout: float = 10.0):
        self._read = read
        self._queue_size = queue_size
        self._poll_timeout = poll_timeout
        self._subscribers: dict[str, set[Subscription]] = {}
        self._pollers: dict[str, asyncio.Task] = {}

    @asynccontextmanager
    async def subscribe(self, key: str) -> AsyncIterator[Subscription]:
        """Events for `key` from now on; the poll loop starts with the first subscriber of the
        key and stops with the last. Returns once the loop is watching, so nothing after the
        caller's next step is missed."""
        subscription = Subscription(self._queue_size)
        self._subscribers.setdefault(key, set()).add(subscription)
        try:
            if key not in self._pollers:
                started = asyncio.get_running_loop().create_future()
                self._pollers[key] = asyncio.ensure_future(self._poll(key, started))
                await started  # inside the try: a client gone while waiting still unsubscribes
            yield subscription
        finally:
            subscribers = self._subscribers[key]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[key]
                self._pollers.pop(key).cancel()

    async def _poll(self, key: str, started: asyncio.Future) -> None:
        cursor = -1  # "from now": the ring answers with its current position
        while True:
            try:
                read = await self._read(key, cursor, 0.0 if cursor < 0 else self._poll_timeout)
            except Exception as exc:  # the actor is restarting: its new ring starts from now
                log.warning("live feed %s: %r", key, exc)
                await asyncio.sleep(0.5)
                continue
            finally:
                if not started.done():
                    started.set_result(None)
            cursor = read.cursor
            if read.missed:
                read.events.insert(0, {"type": "gap", "missed": read.missed})
            for event in read.events:
                for subscription in self._subscribers.get(key, ()):
                    subscription.offer(event)
