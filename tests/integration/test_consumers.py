"""actors/consumers.py's consumer on a real embedded broker of its own (the shared one carries
the stack's groups) and a private database."""

import asyncio

import pytest

from actors.consumers import BookingEventConsumer
from cluster.broker import EmbeddedBroker, ensure_topics
from db.outbox import BOOKING_EVENTS_TOPIC
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(tmp_path):
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    broker.start()
    yield broker
    broker.stop()


async def test_a_consumer_that_joined_a_topic_made_too_small_reads_every_partition_once_it_grows(
        own_broker, private_database_url):
    """As after the broker lost its data: the consumer's own subscription made the broker create
    the topic with its default count (4); the system controller then gives it its 6. The broker
    answers a rejoin with the old assignment, so only joining afresh reads partitions 4 and 5."""
    consumer = BookingEventConsumer("notifications", private_database_url, own_broker.bootstrap_servers)
    running = asyncio.ensure_future(consumer.run())

    async def held() -> set[int]:
        return set(await consumer.positions())
    try:
        assert len(await wait_until(held)) < 6, "the broker's default count"
        await ensure_topics(own_broker.bootstrap_servers, {BOOKING_EVENTS_TOPIC: 6})

        async def holds_all() -> bool:
            return await held() == set(range(6))
        await wait_until(holds_all, timeout=30)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
