"""The delivery audit (actors/delivery_audit.py, db/delivery_audit.py) on the session's stack:
an event the outbox marked published that no consumer group received (what a broker losing
acknowledged records leaves) is published again after the grace period and applied once by
each group, and an alert the fleet feed never received is streamed once; what a group applied,
or what is younger than the grace period, is left alone."""

import asyncio
import json
import uuid
from datetime import datetime, timezone

import pytest
from httpx_sse import aconnect_sse

from actors import delivery_audit
from actors.fleet_alert_feed import FEED_READER
from actors.topology import DELIVERY_AUDIT, actor
from db.delivery_audit import unapplied_events
from db.events import VehicleAlertEvent
from db.outbox import BOOKING_OUTBOX
from db.pool import create_pool
from tests.helpers import assert_each_consumer_applied_once, insert_event, unique, wait_until

pytestmark = pytest.mark.integration


async def published_but_never_sent(pool, published_seconds_ago: float) -> dict:
    """An outbox row marked published without reaching the broker: a lost record. (The audit
    on the stack looks only at rows published since its last round, so the stack's test
    dates it now.)"""
    async with pool.acquire() as conn, conn.transaction():
        event = await insert_event(conn, notes="lost on the way")
        await conn.execute(
            "UPDATE booking_outbox SET processed_at = clock_timestamp() - make_interval(secs => $2) WHERE event_id = $1",
            uuid.UUID(event["event_id"]), published_seconds_ago)
    return event


async def test_an_event_no_group_received_is_published_again_and_applied_once(stack, pool):
    async def republished() -> int:  # once, for the first group audited: the other gets it with it
        return sum(g["republished"] for g in (await actor(DELIVERY_AUDIT).stats.remote())["groups"].values())
    before = await republished()
    event = await published_but_never_sent(pool, published_seconds_ago=0)
    await assert_each_consumer_applied_once(pool, [event["event_id"]], timeout=60)
    assert await republished() > before


async def test_an_alert_the_fleet_feed_never_received_is_published_again_and_streamed_once(stack, pool,
                                                                                          make_client):
    tenant = unique("feed-audit")
    now = datetime.now(timezone.utc)
    alert = VehicleAlertEvent(event_type="VehicleAlertRaised", vehicle_id=unique("van"), tenant_id=tenant,
                              alert_key="coolant_high", severity="critical", message="lost on the way", value=120.0,
                              raised_at=now, occurred_at=now)
    async with aconnect_sse(make_client("boss", tenant=tenant), "GET", "/v1/fleet/stream") as source:
        await pool.execute(  # marked published, never sent: what a lost record leaves
            """INSERT INTO vehicle_alert_outbox (event_id, vehicle_id, event_type, event_payload, processed_at)
               VALUES ($1, $2, $3, $4, clock_timestamp())""",
            alert.event_id, alert.vehicle_id, alert.event_type, alert.model_dump(mode="json"))

        async def streamed():
            async for sse in source.aiter_sse():
                if sse.event == "alert":
                    return json.loads(sse.data)
        received = await asyncio.wait_for(streamed(), 60)
    assert (received["event_id"], received["message"]) == (str(alert.event_id), "lost on the way")
    assert await pool.fetchval("SELECT count(*) FROM processed_events WHERE consumer = $1 AND event_id = $2",
                               FEED_READER, alert.event_id) == 1


async def test_only_events_past_the_grace_period_and_unapplied_by_the_group_are_found(private_database_url):
    pool = await create_pool(private_database_url, min_size=1, max_size=2)  # no audit runs here
    old = await published_but_never_sent(pool, published_seconds_ago=600)
    young = await published_but_never_sent(pool, published_seconds_ago=1)
    await pool.execute("INSERT INTO processed_events (consumer, event_id) VALUES ('notifications', $1)",
                       uuid.UUID(old["event_id"]))
    ids = {r["id"]: r["event_id"] for r in await pool.fetch(
        "SELECT id, event_id::text FROM booking_outbox WHERE event_id = ANY($1::uuid[])",
        [old["event_id"], young["event_id"]])}

    async def found(group: str) -> set[str]:
        since = await pool.fetchval("SELECT now() - interval '1 hour'")
        return {ids[i] for i in (await unapplied_events(pool, BOOKING_OUTBOX, group, 300, since)).row_ids
                if i in ids}
    try:
        assert await found("notifications") == set()
        assert await found("property-management") == {old["event_id"]}
    finally:
        await pool.close()


async def test_a_group_that_lags_is_left_to_catch_up_and_served_once_it_has(private_database_url):
    pool = await create_pool(private_database_url, min_size=1, max_size=2)
    try:
        event = await published_but_never_sent(pool, published_seconds_ago=600)
        lag = {"notifications": 3, "property-management": 3, FEED_READER: None}

        async def reader_lag(reader):  # the broker's answer, set by the test
            return lag[reader]
        audit = delivery_audit.DeliveryAudit(pool, reader_lag, grace_seconds=5)

        async def published() -> bool:
            return await pool.fetchval("SELECT processed_at IS NOT NULL FROM booking_outbox WHERE event_id = $1",
                                       uuid.UUID(event["event_id"]))
        await audit.audit()
        assert audit.stats()["notifications"]["unapplied"] >= 1
        assert audit.stats()["notifications"]["oldest_unapplied_seconds"] >= 600
        assert await published(), "not sent again while the group lags"

        lag["notifications"] = 0
        await audit.audit()
        assert not await published(), "handed back to the relays"
        assert audit.stats()["notifications"]["republished"] >= 1
        assert audit.stats()["property-management"]["republished"] == 0
    finally:
        await pool.close()
