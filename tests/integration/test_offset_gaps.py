"""OffsetGapGuard with a real consumer on the real broker: a fetch that answers past the offset
asked for (which the embedded broker does now and then while a partition is being written;
`python -m tests.bench.offset_gaps` measures how often) loses nothing."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from actors.offset_gaps import OffsetGapGuard
from cluster.broker import ensure_topics

pytestmark = pytest.mark.integration


async def test_records_a_fetch_skipped_are_read_again_once_and_in_order(broker):
    topic = f"gaps-{uuid.uuid4().hex[:8]}"
    await ensure_topics(broker.bootstrap_servers, {topic: 1})
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(topic, str(i).encode(), partition=0)
    finally:
        await producer.stop()
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    guard, seen = OffsetGapGuard("test"), []
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        guard.follow(consumer)
        for _ in range(20):  # fetches enough for 30 records and one hole, with room to spare
            if len(seen) >= 30:
                break
            batches = await guard.getmany(timeout_ms=1000, max_records=10)
            seen += [int(r.value) for r in batches.get(tp, [])]
            if len(seen) == 10 and guard.refetched == 0:
                consumer.seek(tp, 17)  # as a fetch answering from offset 17 when 10 was asked for
    finally:
        await consumer.stop()
    assert seen == list(range(30))
    assert guard.refetched == 1
