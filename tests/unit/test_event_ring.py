import asyncio

from actors.event_ring import EventRing


async def test_a_reader_gets_what_was_published_after_its_cursor():
    ring = EventRing(capacity=4)
    ring.publish("a")
    start = ring.last_seq
    ring.publish("b")
    ring.publish("c")
    read = await ring.read(start, timeout=0.01)
    assert (read.events, read.cursor, read.missed) == (["b", "c"], 3, 0)


async def test_a_waiting_reader_wakes_on_publish():
    ring = EventRing()
    waiting = asyncio.ensure_future(ring.read(ring.last_seq, timeout=5))
    await asyncio.sleep(0.01)
    ring.publish({"rpm": 900})
    read = await asyncio.wait_for(waiting, 1)
    assert read.events == [{"rpm": 900}]


async def test_a_slow_reader_skips_ahead_and_is_told_what_it_missed():
    ring = EventRing(capacity=3)
    for i in range(10):  # the publisher never waits for the reader
        ring.publish(i)
    read = await ring.read(0, timeout=0.01)
    assert (read.events, read.missed, read.cursor) == ([7, 8, 9], 7, 10)


async def test_a_cursor_from_an_older_ring_starts_from_now():
    ring = EventRing()
    ring.publish("x")
    read = await ring.read(99, timeout=0.01)
    assert (read.events, read.cursor, read.epoch) == ([], 1, ring.epoch)
    assert EventRing().epoch != ring.epoch, "a position names one ring"
