"""The fleet alert feed: follows the `vehicle-alerts` topic and keeps each tenant's recent alerts
in a ring that `GET /v1/fleet/stream` readers long-poll.

It reads the topic, not the vehicles, so it sees exactly what the outbox published, from every
shard. It joins no consumer group (every copy reads every partition from the latest offset): a
live feed, not a processing pipeline, so it commits nothing and a restart resumes at "now".
"""

from __future__ import annotations

import asyncio
import json
import logging

import ray
from aiokafka import AIOKafkaConsumer

from actors.background import BackgroundLoopActor
from actors.event_ring import RingRead, RingRegistry
from actors.offset_gaps import OffsetGapGuard
from db.outbox import VEHICLE_ALERTS_TOPIC

log = logging.getLogger(__name__)


@ray.remote(max_restarts=-1)
class FleetAlertFeedActor(BackgroundLoopActor):
    def __init__(self, bootstrap_servers: str):
        self.bootstrap_servers = bootstrap_servers
        self.rings = RingRegistry(capacity=1000)
        self.received = 0
        self.gaps = OffsetGapGuard("fleet alert feed")
        self.start_when_constructed()

    async def loop(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                VEHICLE_ALERTS_TOPIC, bootstrap_servers=self.bootstrap_servers, group_id=None,
                enable_auto_commit=False, auto_offset_reset="latest", fetch_max_wait_ms=50)
            try:
                await consumer.start()
                self.gaps.follow(consumer)
                while True:
                    batches = await self.gaps.getmany(timeout_ms=1000)
                    for records in batches.values():
                        for record in records:
                            event = json.loads(record.value)
                            self.received += 1
                            self.rings.publish(event["tenant_id"], {"type": "alert", **event})
            except Exception as exc:  # broker restart or outage: reconnect
                log.warning("fleet alert feed lost the broker: %r", exc)
                await asyncio.sleep(1)
            finally:
                await consumer.stop()

    async def watch(self, tenant_id: str, cursor: int, timeout: float) -> RingRead:
        return await self.rings.read(tenant_id, cursor, timeout)

    async def stats(self) -> dict:
        return {"received": self.received, "refetched": self.gaps.refetched, "running": self.running}
