"""OffsetGapGuard with a real consumer on the real broker: a fetch that answers past the offset
asked for (which the embedded broker does now and then while a partition is being written;
`python -m tests.bench.offset_gaps` measures how often) loses nothing, and records a restarted
embedded broker acknowledged but never serves do not hold a consumer group short of the end."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from actors.offset_gaps import OffsetGapGuard
from cluster.broker import EmbeddedBroker, ensure_topics

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


async def test_a_group_reaches_the_end_of_records_acknowledged_before_the_restarted_broker_had_its_topic(tmp_path):
    topic, tp = "restarted", TopicPartition("restarted", 0)
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    broker.start()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap_servers, group_id="restarted",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        await ensure_topics(broker.bootstrap_servers, {topic: 1})
        await producer.start()
        await producer.send_and_wait(topic, b"before the restart", partition=0)
        broker.stop()
        await asyncio.sleep(1)  # its clients meet the outage
        broker.start()
        # a relay's producer still knows the topic and sends, again after an error, before the
        # topic is created again
        acknowledged = 0
        for _ in range(50):
            try:
                await producer.send_and_wait(topic, str(acknowledged).encode(), partition=0)
                acknowledged += 1
            except KafkaError:
                await asyncio.sleep(0.1)
            if acknowledged == 3:
                break
        await ensure_topics(broker.bootstrap_servers, {topic: 1})
        await consumer.start()
        guard, committed = OffsetGapGuard("test"), None
        guard.follow(consumer)
        for _ in range(20):
            batches = await guard.getmany(timeout_ms=500)
            done = guard.take_passed_ends() | {p: rs[-1].offset + 1 for p, rs in batches.items()}
            if done:
                await consumer.commit(done)
            end = (await consumer.end_offsets([tp]))[tp]
            committed = await consumer.committed(tp)
            if end and committed == end:
                break
            await asyncio.sleep(0)
        assert acknowledged == 3 and end >= 3 and committed == end
        for _ in range(6):  # and it stays there: the broker does not send it back to the start
            await guard.getmany(timeout_ms=500)
        assert await consumer.position(tp) == end and guard.take_passed_ends() == {}
    finally:
        await consumer.stop()
        await producer.stop()
        broker.stop()
