"""How often the embedded broker's fetches skip records, and that OffsetGapGuard (actors/
offset_gaps.py) reads them all: two producers write 50-record batches to a 6-partition topic
as fast as they can while four consumer groups read it, two taking fetches as they come, two
through the guard, each doing a little work per fetch (2 or 5 ms) as the booking consumers do.

    .venv/bin/python -m tests.load.offset_gaps [--seconds 60]

Prints a line every 10 s, then per consumer group: records read, holes met, records missing at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

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
    guard = OffsetGapGuard(group)
    guard.follow(consumer)
    offsets: dict[int, set[int]] = {}
    stats[group] = {"read": 0, "offsets": offsets, "guard": guard}
    idle = 0
    try:
        while idle < 4:  # after the producers stop: until four fetches in a row find nothing
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if guarded:
                batches = guard.contiguous(batches)
            for tp, records in batches.items():
                offsets.setdefault(tp.partition, set()).update(r.offset for r in records)
                stats[group]["read"] += len(records)
            if batches:
                await asyncio.sleep(work)  # the transaction a booking consumer would run
                await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
            idle = idle + 1 if stop.is_set() and not batches else 0
    finally:
        await consumer.stop()


def holes(offsets: dict[int, set[int]]) -> int:
    return sum(max(seen) + 1 - len(seen) for seen in offsets.values() if seen)


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
    finally:
        broker.stop()
    print(f"produced {produced:,} records in {args.seconds:.0f} s")
    for group, s in stats.items():
        met = s["guard"].refetched if group.startswith("guarded") else "-"
        print(f"  {group:14}: read {s['read']:,}, holes read again {met}, "
              f"missing {produced - sum(len(o) for o in s['offsets'].values()):,} "
              f"(holes between offsets read: {holes(s['offsets'])})")


if __name__ == "__main__":
    asyncio.run(main())
