"""The delivery audit (actors/delivery_audit.py, db/delivery_audit.py) on the session's stack:
an event the outbox marked published that no consumer group received (what a broker losing
acknowledged records leaves) is published again after the grace period and applied once by
each group; what a group applied, or what is younger than the grace period, is left alone."""

import uuid

import pytest

from actors import delivery_audit
from actors.topology import DELIVERY_AUDIT, actor
from db.delivery_audit import unapplied_events
from db.pool import create_pool
from tests.helpers import assert_each_consumer_applied_once, insert_event, wait_until

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
        return {ids[i] for i in (await unapplied_events(pool, group, 300, since)).row_ids if i in ids}
    try:
        assert await found("notifications") == set()
        assert await found("property-management") == {old["event_id"]}
    finally:
        await pool.close()


async def test_a_group_that_lags_is_left_to_catch_up_and_served_once_it_has(private_database_url, monkeypatch):
    pool = await create_pool(private_database_url, min_size=1, max_size=2)
    try:
        event = await published_but_never_sent(pool, published_seconds_ago=600)
        lag = {"notifications": 3, "property-management": 3}

        async def group_lag(bootstrap_servers, group):  # the broker's answer, set by the test
            return lag[group]
        monkeypatch.setattr(delivery_audit, "group_lag", group_lag)
        audit = delivery_audit.DeliveryAudit(pool, "broker-not-asked:9092", grace_seconds=5)

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
