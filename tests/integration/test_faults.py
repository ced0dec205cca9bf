"""Faults on the real stack: broker down, relay and shard actors killed, PostgreSQL restarted.
Each test ends with every acknowledged cancellation applied exactly once by each consumer."""

import asyncio

import pytest
import ray
from aiokafka import AIOKafkaConsumer

from actors.consumers import CONSUMER_EFFECTS
from actors.topology import DELIVERY_AUDIT, RAY_NAMESPACE, booking_router, relay_name
from db.outbox import BOOKING_EVENTS_TOPIC, BOOKING_OUTBOX
from tests.helpers import (
    assert_each_consumer_applied_once, consumer_stats, create_booking, event_ids_of, insert_event,
    pg_restart, restart_consumers, wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.fault]

CANCEL = {"reason": "no_longer_needed"}


async def cancel_all(client, bookings) -> list:
    return await asyncio.gather(*(
        client.post(f"/v1/bookings/{b['booking_id']}/cancel", json=CANCEL) for b in bookings))


@pytest.mark.runs_last
async def test_broker_down_api_keeps_answering_and_every_event_arrives_after(stack, broker, make_client, pool):
    client = make_client("fault-broker")
    bookings = [await create_booking(client) for _ in range(20)]
    # the embedded broker keeps messages in memory: let earlier traffic be consumed first
    await wait_until(lambda: _outbox_empty(pool))
    broker.stop()
    try:
        responses = await cancel_all(client, bookings)
        assert [r.status_code for r in responses] == [200] * 20
        health = await client.get("/healthz")
        assert health.status_code == 503 and health.json()["checks"]["broker"] is False
        await asyncio.sleep(2)  # relays meet the outage and back off
        assert await pool.fetchval("SELECT count(*) FROM booking_outbox WHERE processed_at IS NULL") >= 20
    finally:
        # The embedded broker keeps everything in memory: it comes back without its logs and
        # consumer groups, which a real Kafka keeps. Nobody creates the topics again here: the
        # system controller does (a consumer may have made them first, with too few partitions).
        restart_consumers()
        broker.start()
    event_ids = await event_ids_of(pool, bookings)
    assert len(event_ids) == 20
    # every row is published after the outage, with the broker's ack (acks=all)
    await wait_until(lambda: _outbox_empty(pool), timeout=60)
    # The embedded in-memory Tansu broker sometimes acknowledges records just after its restart
    # that a reader then never gets (docs/known-limitations.md); the delivery audit publishes
    # those again once the groups have read everything else (actors/delivery_audit.py).
    try:
        await assert_each_consumer_applied_once(pool, event_ids, timeout=60)
    except AssertionError as exc:
        in_log = await events_in_log(broker)
        lost = set(event_ids) - {event_id for records in in_log.values() for _, event_id in records}
        consumers = {name: await consumer_stats(name) for name in CONSUMER_EFFECTS}
        audit = await ray.get_actor(DELIVERY_AUDIT, namespace=RAY_NAMESPACE).stats.remote()
        raise AssertionError(f"{exc}; {len(lost)} of 20 events not in the broker's log; consumers: {consumers}; "
                             f"delivery audit: {audit}") from None
    assert await pool.fetchval("SELECT count(*) FROM booking_outbox_dlq") == 0, "an outage is not a poison message"


async def events_in_log(broker) -> dict[int, list[tuple[int, str]]]:
    """The booking-events log as the broker holds it now: partition -> [(offset, event id)]."""
    reader = AIOKafkaConsumer(BOOKING_EVENTS_TOPIC, bootstrap_servers=broker.bootstrap_servers,
                              auto_offset_reset="earliest", enable_auto_commit=False)
    found: dict[int, list[tuple[int, str]]] = {}
    try:
        await reader.start()
        for _ in range(10):
            for tp, records in (await reader.getmany(timeout_ms=300)).items():
                found.setdefault(tp.partition, []).extend(
                    (r.offset, dict(r.headers).get("event_id", b"").decode()) for r in records)
    finally:
        await reader.stop()
    return found


async def _outbox_empty(pool):
    return await pool.fetchval("SELECT count(*) = 0 FROM booking_outbox WHERE processed_at IS NULL")


async def test_relay_killed_mid_batch_loses_nothing_and_duplicates_nothing(stack, pool):
    events = []
    async with pool.acquire() as conn, conn.transaction():  # all at once: the relays are mid-batch at the kill
        for _ in range(600):
            events.append(await insert_event(conn))
    event_ids = [e["event_id"] for e in events]

    async def processed():
        return await pool.fetchval(
            "SELECT count(*) FROM booking_outbox WHERE event_id = ANY($1::uuid[]) AND processed_at IS NOT NULL",
            event_ids)
    kills = 0
    while await processed() < len(event_ids) and kills < 4:
        relay = ray.get_actor(relay_name(BOOKING_OUTBOX, kills % 2), namespace=RAY_NAMESPACE)
        ray.kill(relay, no_restart=False)  # Ray restarts it, and its constructor resumes the loop
        kills += 1
        await asyncio.sleep(0.3)
    assert kills >= 1
    await assert_each_consumer_applied_once(pool, event_ids, timeout=90)


async def test_shard_killed_under_load_every_acknowledged_cancel_applied_once(stack, make_client, pool):
    client = make_client("fault-shard")
    bookings = [await create_booking(client) for _ in range(40)]
    shards = await booking_router().shards()
    pending = asyncio.ensure_future(cancel_all(client, bookings))
    await asyncio.sleep(0.05)
    for shard in shards:
        ray.kill(shard, no_restart=False)
    responses = await pending
    acknowledged = [b for b, r in zip(bookings, responses) if r.status_code == 200]
    assert all(r.status_code in (200, 500) for r in responses), [r.text for r in responses if r.status_code not in (200, 500)]
    # whatever happened in flight, a retry now succeeds and publishes nothing twice
    retried = await cancel_all(client, bookings)
    assert [r.status_code for r in retried] == [200] * len(bookings)
    event_ids = await event_ids_of(pool, bookings)
    assert len(event_ids) == len(bookings) >= len(acknowledged)
    await assert_each_consumer_applied_once(pool, event_ids)


async def test_postgres_restart_errors_while_down_then_recovers_without_restarting_the_stack(
        stack, embedded_postgres, make_client, pool):
    client = make_client("fault-pg")
    before = [await create_booking(client) for _ in range(10)]
    acknowledged = [b for b, r in zip(before, await cancel_all(client, before)) if r.status_code == 200]
    assert len(acknowledged) == 10

    restart = asyncio.get_running_loop().run_in_executor(None, pg_restart, embedded_postgres)
    during = []
    while not restart.done():
        try:
            during.append((await client.post("/v1/bookings", json={
                "resource_id": "car-pg", "starts_at": "2030-12-01T10:00:00Z",
                "ends_at": "2030-12-02T10:00:00Z"})).status_code)
        except Exception as exc:  # noqa: BLE001 - a refused connection is an acceptable outage symptom
            during.append(type(exc).__name__)
        await asyncio.sleep(0.05)
    await restart
    assert all(s in (201, 503) for s in during), during  # 503 UNAVAILABLE with Retry-After, never 500

    async def api_recovered():
        response = await client.post("/v1/bookings", json={
            "resource_id": "car-pg", "starts_at": "2030-12-01T10:00:00Z", "ends_at": "2030-12-02T10:00:00Z"})
        return response if response.status_code == 201 else None
    after = (await wait_until(api_recovered, timeout=60, interval=0.5)).json()
    response = await client.post(f"/v1/bookings/{after['booking_id']}/cancel", json=CANCEL)
    assert response.status_code == 200

    # pools in the test process reconnect too; nothing acknowledged was lost
    await wait_until(lambda: _pool_alive(pool), timeout=30)
    statuses = await pool.fetch("SELECT status FROM bookings WHERE id = ANY($1::uuid[])",
                                [b["booking_id"] for b in acknowledged])
    assert [s["status"] for s in statuses] == ["cancelled"] * 10
    event_ids = await event_ids_of(pool, acknowledged + [after])
    assert len(event_ids) == 11
    await assert_each_consumer_applied_once(pool, event_ids)


async def _pool_alive(pool):
    try:
        return await pool.fetchval("SELECT 1") == 1
    except Exception:
        return False
