"""The fleet alert feed: follows the `vehicle-alerts` topic and keeps each tenant's recent alerts
in a ring that `GET /v1/fleet/stream` readers long-poll.

It reads the topic, not the vehicles, so it sees exactly what the outbox published, from every
shard. It joins no consumer group (it reads every partition from the latest offset): a live
feed, not a processing pipeline, so it commits no offsets and a restart resumes at "now". It
records the id of each alert it streamed (processed_events, as the feed's), so that the
delivery audit (actors/delivery_audit.py) publishes again an alert it never received (lost by
the broker, or published while the feed restarted), and it streams an alert once however often
it is delivered. While the database is away it streams what it receives and records it later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import asyncpg
import ray
from aiokafka import AIOKafkaConsumer

from actors.background import BackgroundLoopActor
from actors.event_ring import RingRead, RingRegistry
from actors.offset_gaps import OffsetGapGuard, log_ends
from db.errors import DATABASE_UNAVAILABLE
from db.outbox import TOPIC_METADATA_MAX_AGE_MS, VEHICLE_ALERTS_TOPIC
from db.pool import create_pool
from db.processed_events import record_applied

log = logging.getLogger(__name__)

FEED_READER = "fleet-alert-feed"  # its name in processed_events
MAX_UNRECORDED = 100_000  # ids kept while the database is away


@ray.remote(max_restarts=-1)
class FleetAlertFeedActor(BackgroundLoopActor):
    def __init__(self, bootstrap_servers: str, database_url: str):
        self.bootstrap_servers = bootstrap_servers
        self.database_url = database_url
        self.rings = RingRegistry(capacity=1000)
        self.received = 0
        self.gaps = OffsetGapGuard("fleet alert feed")
        self._consumer: AIOKafkaConsumer | None = None
        self._pool: asyncpg.Pool | None = None
        self._unrecorded: list[uuid.UUID] = []
        self.start_when_constructed()

    async def loop(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                VEHICLE_ALERTS_TOPIC, bootstrap_servers=self.bootstrap_servers, group_id=None,
                enable_auto_commit=False, auto_offset_reset="latest", fetch_max_wait_ms=50,
                metadata_max_age_ms=TOPIC_METADATA_MAX_AGE_MS)
            try:
                if self._pool is None:
                    self._pool = await create_pool(self.database_url, min_size=1, max_size=2)
                await consumer.start()
                self._consumer = consumer
                self.gaps.follow(consumer)
                while True:
                    batches = await self.gaps.getmany(timeout_ms=1000)
                    events = [json.loads(record.value) for records in batches.values() for record in records]
                    self.received += len(events)
                    for event in await self._not_streamed_before(events):
                        self.rings.publish(event["tenant_id"], {"type": "alert", **event})
            except Exception as exc:  # a broker or database restart or outage: reconnect
                log.warning("fleet alert feed stopped, starting again: %r", exc)
                await asyncio.sleep(1)
            finally:
                self._consumer = None
                await consumer.stop()

    async def _not_streamed_before(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record the events as the feed's; returns those it had not recorded before (all of
        them while the database is away: their ids are recorded with a later batch)."""
        if not events and not self._unrecorded:
            return []
        pending = self._unrecorded + [uuid.UUID(e["event_id"]) for e in events]
        try:
            fresh = await record_applied(self._pool, FEED_READER, pending)
        except DATABASE_UNAVAILABLE as exc:
            log.warning("fleet alert feed cannot record what it streams yet: %r", exc)
            self._unrecorded = pending[-MAX_UNRECORDED:]
            return events
        self._unrecorded = []
        once = {e["event_id"]: e for e in events}.values()  # a batch may hold a redelivery too
        return [e for e in once if uuid.UUID(e["event_id"]) in fresh]

    async def lag(self) -> int | None:
        """Records of the topic the feed has not read yet; None while it is not connected."""
        consumer = self._consumer
        if consumer is None or not consumer.assignment():
            return None
        ends = await log_ends(consumer, consumer.assignment())
        return sum([max(0, end - await consumer.position(tp)) for tp, end in ends.items()])

    async def watch(self, tenant_id: str, cursor: int, timeout: float) -> RingRead:
        return await self.rings.read(tenant_id, cursor, timeout)

    async def stats(self) -> dict:
        return {"received": self.received, "refetched": self.gaps.refetched, "running": self.running}
