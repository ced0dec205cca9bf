"""Fan-out of actor-side event rings to this replica's stream clients (SSE, WebSocket).

However many clients of a replica watch one key (a vehicle, a tenant's alerts), the replica runs
one long-poll loop against the actor for it. Each client gets a bounded queue; a client that
cannot keep up loses its oldest events (and is told how many) instead of slowing anyone else.
Every event carries an id (the actor ring's epoch and sequence number); a client that reconnects
with the last id it saw gets what it missed, while the ring still holds it (SSE's Last-Event-ID).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fastapi.encoders import jsonable_encoder

from actors.event_ring import RingRead

log = logging.getLogger(__name__)

ReadRing = Callable[[str, int, float], Awaitable[RingRead]]


@dataclass(frozen=True)
class FeedEvent:
    """One event as every client of a replica gets it: encoded once, however many read it."""
    data: dict[str, Any]
    epoch: str = ""
    seq: int = 0  # 0: a notice of this feed (a gap), not an event of the ring

    @property
    def id(self) -> str | None:
        """What a client passes back to resume after this event (SSE `id`)."""
        return f"{self.epoch}-{self.seq}" if self.seq else None

    @cached_property
    def encoded(self) -> str:
        """The data as JSON: an SSE event's data."""
        return json.dumps(jsonable_encoder(self.data))

    @cached_property
    def socket_message(self) -> str:
        """The data with the id as `id`, as JSON: a WebSocket message."""
        return json.dumps(jsonable_encoder({**self.data, "id": self.id} if self.id else self.data))


MAX_SEQ_DIGITS = 18  # within a 64-bit counter


def parse_event_id(event_id: str) -> tuple[str, int] | None:
    """(epoch, seq) from an id FeedEvent made, None for anything else (a client's text: a seq of
    thousands of digits is past what int() converts, and str.isdigit() takes non-ASCII digits)."""
    epoch, _, seq = event_id.rpartition("-")
    return (epoch, int(seq)) if epoch and seq.isascii() and seq.isdigit() and len(seq) <= MAX_SEQ_DIGITS else None


def gap(missed: int) -> FeedEvent:
    return FeedEvent({"type": "gap", "missed": missed})


class Subscription:
    def __init__(self, queue_size: int):
        self._queue: asyncio.Queue[FeedEvent] = asyncio.Queue(queue_size)
        self.dropped = 0
        self._dropped_unreported = 0
        self.resumed = False  # the events after the client's last event id were replayed

    def offer(self, event: FeedEvent) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            self._dropped_unreported += 1
        self._queue.put_nowait(event)

    def replay_first(self, read: RingRead) -> None:
        """Put the events of `read` ahead of those queued since subscribing, dropping the queued
        ones of its ring up to its cursor: a poll loop behind the read delivers them too (the
        replayed ones, or ones the client had before it reconnected)."""
        queued = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for event in _numbered(read) + [e for e in queued
                                        if not e.seq or e.epoch != read.epoch or e.seq > read.cursor]:
            self.offer(event)
        self.resumed = True

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> FeedEvent:
        """The next event; first a gap notice when this client's queue overflowed since."""
        if self._dropped_unreported:
            missed, self._dropped_unreported = self._dropped_unreported, 0
            return gap(missed)
        return await self._queue.get()


class LiveFeed:
    def __init__(self, read: ReadRing, queue_size: int = 256, poll_timeout: float = 10.0):
        self._read = read
        self._queue_size = queue_size
        self._poll_timeout = poll_timeout
        self._subscribers: dict[str, set[Subscription]] = {}
        self._pollers: dict[str, asyncio.Task] = {}

    @asynccontextmanager
    async def subscribe(self, key: str, last_event_id: str | None = None) -> AsyncIterator[Subscription]:
        """Events for `key` from now on, or from after `last_event_id` when the actor's ring
        still holds every event since (then `resumed` is true); the poll loop starts with the
        first subscriber of the key and stops with the last. Returns once the loop is watching,
        so nothing after the caller's next step is missed."""
        subscription = Subscription(self._queue_size)
        self._subscribers.setdefault(key, set()).add(subscription)
        try:
            if key not in self._pollers:
                started = asyncio.get_running_loop().create_future()
                self._pollers[key] = asyncio.ensure_future(self._poll(key, started))
                await started  # inside the try: a client gone while waiting still unsubscribes
            position = parse_event_id(last_event_id) if last_event_id else None
            if position:
                await self._replay(key, *position, subscription)
            yield subscription
        finally:
            subscribers = self._subscribers[key]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[key]
                self._pollers.pop(key).cancel()

    async def _replay(self, key: str, epoch: str, seq: int, subscription: Subscription) -> None:
        """Subscribed first, then read: whatever the loop delivers meanwhile is also in the read."""
        try:
            read = await self._read(key, seq, 0.0)
        except Exception as exc:  # the actor is restarting: its ring is new, nothing to replay
            log.warning("live feed %s: replay: %r", key, exc)
            return
        if read.epoch == epoch and not read.missed and seq <= read.cursor:
            subscription.replay_first(read)

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
            events = _numbered(read)
            if read.missed:
                events.insert(0, gap(read.missed))
            for event in events:
                for subscription in self._subscribers.get(key, ()):
                    subscription.offer(event)


def _numbered(read: RingRead) -> list[FeedEvent]:
    first = read.cursor - len(read.events) + 1
    return [FeedEvent(data, read.epoch, first + i) for i, data in enumerate(read.events)]
