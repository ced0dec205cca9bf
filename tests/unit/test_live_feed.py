"""LiveFeed against a real EventRing: one poll loop fans out to every subscriber, and a client
that does not read loses its own oldest events without holding back the publisher or others."""

import asyncio

from actors.event_ring import EventRing
from serve_apps.live_feed import LiveFeed


def feed_over(ring: EventRing, calls: list[str], queue_size: int = 256) -> LiveFeed:
    async def read(key, cursor, timeout):
        calls.append(key)
        return await ring.read(cursor, timeout)
    return LiveFeed(read, queue_size=queue_size, poll_timeout=0.05)


async def take(subscription, n):
    return [await asyncio.wait_for(subscription.__anext__(), 1) for _ in range(n)]


async def test_every_subscriber_gets_each_event_from_one_poll_loop():
    ring, calls = EventRing(), []
    feed = feed_over(ring, calls)
    async with feed.subscribe("van-1") as first, feed.subscribe("van-1") as second:
        ring.publish({"type": "readings", "n": 1})
        assert await take(first, 1) == await take(second, 1) == [{"type": "readings", "n": 1}]
        calls.clear()
        await asyncio.sleep(0.12)
        assert 1 <= len(calls) <= 4, "one loop polls for both subscribers"
    assert feed._pollers == {}, "the loop stops with its last subscriber"


async def test_a_client_that_does_not_read_drops_its_oldest_events_only():
    ring = EventRing()
    feed = feed_over(ring, [], queue_size=3)
    async with feed.subscribe("van-1") as stalled, feed.subscribe("van-1") as reader:
        received = []
        for i in range(10):
            ring.publish({"n": i})  # the publisher never waits
            received += await take(reader, 1)
        assert [e["n"] for e in received] == list(range(10))
        assert [e["n"] for e in await take(stalled, 3)] == [7, 8, 9]
        assert stalled.dropped == 7
