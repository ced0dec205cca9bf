"""How often the embedded broker's fetches skip records, and that OffsetGapGuard (actors/
offset_gaps.py) reads them all: two producers write 50-record batches to a 6-partition topic
as fast as they can while four consumer groups read it, two taking fetches as they come, two
through the guard, each doing a little work per fetch (2 or 5 ms) as the booking consumers do.

    .venv/bin/python -m tests.bench.offset_gaps [--seconds 60]

Prints a line every 10 s; then what the broker's log holds (read again from the start), and per
consumer group: records read, holes read again, the log's records it never read.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from actors.offset_gaps import OffsetGapGuard
from cluster.broker import EmbeddedBroker, ensure_topics

TOPIC = "offset-gaps"


async def produce(servers: str, stop: asyncio.Event) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5)
    await producer.start()
    sent = 0
    try:
        while not stop.is_set():
            await asyncio.gather(*[await producer.send(TOPIC, b"x" * 300, key=uuid.uuid4().bytes)
                                   for _ in range(50)])
            sent += 50
    finally:
        await producer.stop()
    return sent


async def consume(servers: str, group: str, guarded: bool, work: float, stop: asyncio.Event,
                  stats: dict) -> None:
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=servers, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50)
    await consumer.start()
    guard = OffsetGapGuard(group) if guarded else None
    if guard:
        guard.follow(consumer)
    offsets: dict[int, set[int]] = {}
    stats[group] = {"read": 0, "offsets": offsets, "guard": guard}
    idle = 0
    try:
        while idle < 4:  # after the producers stop: until four fetches in a row find nothing
            options = {"timeout_ms": 500, "max_records": 500}
            batches = await (guard.getmany(**options) if guard else consumer.getmany(**options))
            for tp, records in batches.items():
                offsets.setdefault(tp.partition, set()).update(r.offset for r in records)
                stats[group]["read"] += len(records)
            if batches:
                await asyncio.sleep(work)  # the transaction a booking consumer would run
                await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
            idle = idle + 1 if stop.is_set() and not batches else 0
    finally:
        await consumer.stop()


async def read_log(servers: str) -> dict[int, set[int]]:
    """partition -> the offsets the broker holds, read from the beginning without a group."""
    reader = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    await reader.start()
    held: dict[int, set[int]] = {}
    try:
        partitions = [TopicPartition(TOPIC, p) for p in reader.partitions_for_topic(TOPIC) or ()]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        while batches := await reader.getmany(timeout_ms=1000, max_records=10_000):
            for tp, records in batches.items():
                held.setdefault(tp.partition, set()).update(r.offset for r in records)
    finally:
        await reader.stop()
    return held


def missing(held: dict[int, set[int]], read: dict[int, set[int]]) -> int:
    return sum(len(offsets - read.get(partition, set())) for partition, offsets in held.items())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    broker = EmbeddedBroker()
    servers = broker.start()
    try:
        await ensure_topics(servers, {TOPIC: 6})
        stop, stats = asyncio.Event(), {}
        producers = [asyncio.create_task(produce(servers, stop)) for _ in range(2)]
        consumers = [asyncio.create_task(consume(servers, f"{kind} {work * 1000:.0f} ms", kind == "guarded", work,
                                                 stop, stats))
                     for kind in ("unguarded", "guarded") for work in (0.002, 0.005)]
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < args.seconds:
            await asyncio.sleep(min(10.0, args.seconds - elapsed))
            print(f"  {time.monotonic() - started:4.0f} s, records/s read since the start: " + ", ".join(
                f"{group} {s['read'] / (time.monotonic() - started):,.0f}" for group, s in stats.items()),
                flush=True)
        stop.set()
        produced = sum(await asyncio.gather(*producers))
        await asyncio.gather(*consumers)
        held = await read_log(servers)
    finally:
        broker.stop()
    in_log = sum(len(offsets) for offsets in held.values())
    print(f"produced {produced:,} records in {args.seconds:.0f} s (acknowledged); the broker's log holds "
          f"{in_log:,}, with {sum(max(o) + 1 - len(o) for o in held.values() if o)} offsets missing between them")
    for group, s in stats.items():
        met = s["guard"].refetched if s["guard"] else "-"
        print(f"  {group:14}: read {s['read']:,}, holes read again {met}, "
              f"missing {missing(held, s['offsets']):,} of the log's records")


if __name__ == "__main__":
    asyncio.run(main())
