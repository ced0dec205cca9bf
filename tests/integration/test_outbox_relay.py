"""ADR-023 outbox relay tests against a real PostgreSQL and a real Kafka-protocol broker."""

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from actors.consumers import BookingEventConsumer
from actors.outbox_relay import OutboxRelay
from db import outbox
from db.events import BookingCancelled
from db.outbox import BOOKING_EVENTS_TOPIC
from tests.helpers import insert_event

pytestmark = pytest.mark.integration


async def read_topic(bootstrap: str, event_ids: set[str], timeout: float = 15) -> list:
    """Every message on booking-events whose event_id header is in event_ids."""
    consumer = AIOKafkaConsumer(BOOKING_EVENTS_TOPIC, bootstrap_servers=bootstrap,
                                group_id=f"test-{uuid.uuid4().hex}", auto_offset_reset="earliest")
    await consumer.start()
    found = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                found += [r for r in records if dict(r.headers).get("event_id", b"").decode() in event_ids]
            if {dict(r.headers)["event_id"].decode() for r in found} >= event_ids:
                await asyncio.sleep(0.3)  # let any duplicate arrive too
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    found += [r for r in records if dict(r.headers).get("event_id", b"").decode() in event_ids]
                break
    finally:
        await consumer.stop()
    return found


async def test_relay_publishes_events_with_the_stored_event_id(private_database_url, private_pool, broker):
    events = [await insert_event(private_pool) for _ in range(3)]
    relay = OutboxRelay(private_database_url, broker.bootstrap_servers)
    while await relay.drain_once():
        pass
    ids = {e["event_id"] for e in events}
    records = await read_topic(broker.bootstrap_servers, ids)
    assert sorted(dict(r.headers)["event_id"].decode() for r in records) == sorted(ids)
    for r in records:
        payload = json.loads(r.value)
        assert r.key.decode() == payload["booking_id"]
        assert dict(r.headers)["event_type"] == b"BookingCancelled"
        assert dict(r.headers)["event_id"].decode() == payload["event_id"]
    processed = await private_pool.fetchval(
        "SELECT count(*) FROM booking_outbox WHERE event_id = ANY($1::uuid[]) AND processed_at IS NOT NULL", list(ids))
    assert processed == 3
    await relay._reset_producer()
    await relay._pool.close()


async def test_relay_counts_its_claims_and_those_that_found_nothing(private_database_url, private_pool, broker):
    await insert_event(private_pool)
    relay = OutboxRelay(private_database_url, broker.bootstrap_servers)
    while await relay.drain_once():
        pass
    assert relay.empty_claims == 1 and relay.claims >= 2
    await relay._reset_producer()
    await relay._pool.close()


async def test_relay_counts_a_failing_message_and_backs_it_off(private_database_url, private_pool, broker):
    event = await insert_event(private_pool, notes="x" * 900)
    relay = OutboxRelay(private_database_url, broker.bootstrap_servers, max_request_size=600)
    await relay.drain_once()
    row = await private_pool.fetchrow(
        "SELECT retry_count, last_error, next_attempt_at > now() AS backed_off FROM booking_outbox WHERE event_id = $1",
        uuid.UUID(event["event_id"]))
    assert row["retry_count"] == 1 and "MessageSizeTooLarge" in row["last_error"] and row["backed_off"]
    assert await relay.drain_once() == 0, "a backed-off row is not retried at once"
    await relay._reset_producer()
    await relay._pool.close()


async def test_fifth_failure_moves_to_dead_letters_and_replay_delivers_it(private_database_url, private_pool, broker):
    event = await insert_event(private_pool, notes="y" * 900)
    event_id = uuid.UUID(event["event_id"])
    failing = OutboxRelay(private_database_url, broker.bootstrap_servers, max_request_size=600)
    for attempt in range(1, 6):
        await private_pool.execute("UPDATE booking_outbox SET next_attempt_at = now() WHERE event_id = $1", event_id)
        await failing.drain_once()
        in_outbox = await private_pool.fetchval("SELECT retry_count FROM booking_outbox WHERE event_id = $1", event_id)
        assert in_outbox == (attempt if attempt < 5 else None)
    dead = await private_pool.fetchrow("SELECT retry_count, last_error FROM booking_outbox_dlq WHERE event_id = $1", event_id)
    assert dead["retry_count"] == 5 and "MessageSizeTooLarge" in dead["last_error"]

    async with private_pool.acquire() as conn:
        assert await outbox.replay_dead_letters(conn, outbox.BOOKING_OUTBOX, [str(event_id)]) == 1
    healthy = OutboxRelay(private_database_url, broker.bootstrap_servers)
    while await healthy.drain_once():
        pass
    records = await read_topic(broker.bootstrap_servers, {str(event_id)})
    assert len(records) == 1
    assert await private_pool.fetchval("SELECT count(*) FROM booking_outbox_dlq WHERE event_id = $1", event_id) == 0
    for relay in (failing, healthy):
        await relay._reset_producer()
        await relay._pool.close()


async def test_unreachable_broker_keeps_the_retry_budget(private_database_url, private_pool):
    event = await insert_event(private_pool)
    relay = OutboxRelay(private_database_url, "127.0.0.1:1", publish_timeout=1)
    await relay.drain_once()
    row = await private_pool.fetchrow("SELECT retry_count, processed_at FROM booking_outbox WHERE event_id = $1",
                              uuid.UUID(event["event_id"]))
    assert (row["retry_count"], row["processed_at"]) == (0, None)
    await relay._pool.close()
    # leave nothing behind for other tests' relays to trip over
    await private_pool.execute("UPDATE booking_outbox SET processed_at = now() WHERE event_id = $1", uuid.UUID(event["event_id"]))


async def test_consumer_applies_each_event_once_even_when_redelivered(private_database_url, private_pool, broker):
    event = BookingCancelled.model_validate(await insert_event(private_pool))
    await private_pool.execute(
        """INSERT INTO resource_reservations (booking_id, tenant_id, resource_id, starts_at, ends_at)
           SELECT id, tenant_id, resource_id, starts_at, ends_at FROM bookings WHERE id = $1""", event.booking_id)
    for name in ("notifications", "property-management"):
        consumer = BookingEventConsumer(name, private_database_url, broker.bootstrap_servers)
        from db.pool import create_pool
        consumer._pool = await create_pool(private_database_url, min_size=1, max_size=1)
        assert await consumer.apply([event]) == 1
        assert await consumer.apply([event]) == 0
        assert (consumer.applied, consumer.duplicates, consumer.transactions) == (1, 1, 2)
        await consumer._pool.close()
    notes = await private_pool.fetch("SELECT recipient_type, recipient_id FROM notifications WHERE event_id = $1", event.event_id)
    assert sorted((n["recipient_type"], n["recipient_id"]) for n in notes) == [("property_owner", "room-9"), ("user", "alice")]
    released = await private_pool.fetchval("SELECT released_at FROM resource_reservations WHERE booking_id = $1", event.booking_id)
    assert released == event.cancelled_at
    # clean the outbox row so relays of later tests do not publish it
    await private_pool.execute("UPDATE booking_outbox SET processed_at = now() WHERE event_id = $1", event.event_id)


async def test_cleanup_deletes_only_processed_rows_older_than_the_retention(private_pool):
    old, recent, pending = [await insert_event(private_pool) for _ in range(3)]
    await private_pool.execute("UPDATE booking_outbox SET processed_at = now() - interval '31 days' WHERE event_id = $1",
                               uuid.UUID(old["event_id"]))
    await private_pool.execute("UPDATE booking_outbox SET processed_at = now() - interval '29 days' WHERE event_id = $1",
                               uuid.UUID(recent["event_id"]))
    await private_pool.execute("UPDATE booking_outbox SET created_at = now() - interval '60 days' WHERE event_id = $1",
                               uuid.UUID(pending["event_id"]))
    async with private_pool.acquire() as conn:
        assert await outbox.delete_processed_older_than(conn, outbox.BOOKING_OUTBOX, 30) == 1
    left = {str(r["event_id"]) for r in await private_pool.fetch("SELECT event_id FROM booking_outbox")}
    assert old["event_id"] not in left and {recent["event_id"], pending["event_id"]} <= left
    await private_pool.execute("UPDATE booking_outbox SET processed_at = now() WHERE processed_at IS NULL")


async def test_concurrent_relays_publish_each_event_once(private_database_url, private_pool, broker):
    events = [await insert_event(private_pool) for _ in range(300)]
    relays = [OutboxRelay(private_database_url, broker.bootstrap_servers, batch_size=25) for _ in range(3)]

    async def drain(relay):
        while await relay.drain_once():
            pass
    await asyncio.gather(*(drain(r) for r in relays))
    assert sum(r.published for r in relays) == 300
    assert all(r.published > 0 for r in relays), "every relay took a share"
    records = await read_topic(broker.bootstrap_servers, {e["event_id"] for e in events})
    assert len(records) == 300, "no event published twice"
    for relay in relays:
        await relay._reset_producer()
        await relay._pool.close()
