"""cluster/broker.py on the real embedded broker: ensure_topics gives every topic its partitions,
also one a client made first with the broker's default count (a consumer subscribing to a
broker that lost its data), so no producer has records acknowledged for partitions that are
not there."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cluster.broker import ensure_topics

pytestmark = pytest.mark.integration


async def partitions_of(bootstrap_servers: str, topic: str) -> set[int]:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await reader.start()
    try:
        await reader.topics()
        return set(reader.partitions_for_topic(topic) or ())
    finally:
        await reader.stop()


async def test_a_missing_topic_is_created_with_its_partitions(broker):
    topic = f"created-{uuid.uuid4().hex[:8]}"
    await ensure_topics(broker.bootstrap_servers, {topic: 6})
    assert await partitions_of(broker.bootstrap_servers, topic) == set(range(6))


async def test_a_topic_a_subscriber_created_with_too_few_partitions_gets_them_all(broker):
    topic = f"auto-{uuid.uuid4().hex[:8]}"
    subscriber = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap_servers, group_id=topic)
    await subscriber.start()  # its metadata request makes the broker create the topic its own way
    try:
        await asyncio.sleep(0.5)
        assert len(await partitions_of(broker.bootstrap_servers, topic)) < 6, "the broker's default count"
        await ensure_topics(broker.bootstrap_servers, {topic: 6})
    finally:
        await subscriber.stop()
    assert await partitions_of(broker.bootstrap_servers, topic) == set(range(6))
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"kept", partition=5)
    finally:
        await producer.stop()
    reader = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
    await reader.start()
    try:
        assert (await reader.end_offsets([TopicPartition(topic, 5)]))[TopicPartition(topic, 5)] == 1
    finally:
        await reader.stop()
