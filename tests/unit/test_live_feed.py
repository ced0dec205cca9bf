"""LiveFeed against a real EventRing: one poll loop fans out to every subscriber, a client that
does not read loses its own oldest events without holding back the publisher or others, and a
client back with its last event id gets what it missed when the ring still holds it."""

import asyncio
import json
from datetime import datetime, timezone

from actors.event_ring import EventRing, RingRead
from serve_apps.live_feed import FeedEvent, LiveFeed, Subscription, gap


def feed_over(ring: EventRing, calls: list[str], queue_size: int = 256) -> LiveFeed:
    async def read(key, cursor, timeout):
        calls.append(key)
        return await ring.read(cursor, timeout)
    return LiveFeed(read, queue_size=queue_size, poll_timeout=0.05)


async def take(subscription, n):
    return [(await asyncio.wait_for(subscription.__anext__(), 1)).data for _ in range(n)]


async def take_events(subscription, n):
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


async def test_subscribers_share_one_event_and_its_json_for_sse_and_websocket():
    ring = EventRing()
    feed = feed_over(ring, [])
    async with feed.subscribe("van-1") as first, feed.subscribe("van-1") as second:
        ring.publish({"type": "readings", "at": datetime(2026, 11, 24, 12, tzinfo=timezone.utc)})
        [event], [same] = await take_events(first, 1), await take_events(second, 1)
        assert same is event, "encoded once, whatever the number of clients"
        assert json.loads(event.encoded) == {"type": "readings", "at": "2026-11-24T12:00:00+00:00"}
        assert json.loads(event.socket_message) == {**json.loads(event.encoded), "id": event.id}
    assert json.loads(gap(3).socket_message) == {"type": "gap", "missed": 3}  # a notice has no id


async def test_a_client_that_does_not_read_drops_its_oldest_events_and_is_told_how_many():
    ring = EventRing()
    feed = feed_over(ring, [], queue_size=3)
    async with feed.subscribe("van-1") as stalled, feed.subscribe("van-1") as reader:
        received = []
        for i in range(10):
            ring.publish({"n": i})  # the publisher never waits
            received += await take(reader, 1)
        assert [e["n"] for e in received] == list(range(10))
        assert await take(stalled, 4) == [{"type": "gap", "missed": 7}, {"n": 7}, {"n": 8}, {"n": 9}]
        assert stalled.dropped == 7


async def test_a_client_back_with_its_last_event_id_gets_what_it_missed_once():
    ring = EventRing()
    feed = feed_over(ring, [])
    async with feed.subscribe("van-1") as first:
        ring.publish({"n": 0})
        (seen,) = await take_events(first, 1)
    for i in range(1, 4):  # published while the client was away
        ring.publish({"n": i})
    async with feed.subscribe("van-1", last_event_id=seen.id) as again:
        assert again.resumed
        ring.publish({"n": 4})
        events = await take_events(again, 4)
        assert [e.data["n"] for e in events] == [1, 2, 3, 4]
        assert [e.id for e in events] == [f"{ring.epoch}-{seq}" for seq in (2, 3, 4, 5)]
        assert again._queue.empty()


async def test_an_id_the_ring_cannot_resume_from_starts_afresh():
    ring = EventRing(capacity=2)
    feed = feed_over(ring, [])
    ring.publish({"n": 0})
    for stale in (f"{ring.epoch}-0", "0badc0de-1", "garbage", f"{ring.epoch}-99"):
        for i in range(3):  # the ring holds 2: event 1 of this round is gone
            ring.publish({"n": i})
        async with feed.subscribe("van-1", last_event_id=stale) as subscription:
            assert not subscription.resumed, stale
            ring.publish({"n": "new"})
            assert await take(subscription, 1) == [{"n": "new"}]


def queued_seqs(subscription):
    return [subscription._queue.get_nowait().seq for _ in range(subscription._queue.qsize())]


def test_a_replay_goes_ahead_of_what_the_poll_loop_queued_without_duplicates():
    subscription = Subscription(queue_size=10)
    for seq in (3, 4):
        subscription.offer(FeedEvent({"n": seq}, "e1", seq))
    subscription.replay_first(RingRead(3, [{"n": 2}, {"n": 3}], epoch="e1"))
    assert queued_seqs(subscription) == [2, 3, 4] and subscription.resumed


def test_a_poll_loop_behind_an_empty_replay_does_not_repeat_what_the_client_had():
    """The client saw up to 5, the ring is at 5, the loop was still at 3 when it subscribed."""
    subscription = Subscription(queue_size=10)
    for seq in (4, 5, 6):
        subscription.offer(FeedEvent({"n": seq}, "e1", seq))
    subscription.replay_first(RingRead(5, [], epoch="e1"))
    assert queued_seqs(subscription) == [6] and subscription.resumed
