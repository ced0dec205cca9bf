"""Kafka consumers of booking events, each in its own consumer group.

Every event is applied exactly once per consumer: the effect and a processed_events row
(consumer, event_id) commit in one transaction, and a redelivered event finds the row and is
skipped. Kafka offsets are committed only after the batch's transactions have committed, so a
crash redelivers rather than loses.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import asyncpg
import ray
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from actors.events import BookingCancelled
from cluster.settings import BOOKING_EVENTS_TOPIC
from db.pool import create_pool

log = logging.getLogger(__name__)


async def notify_user_and_owner(conn: asyncpg.Connection, event: BookingCancelled) -> None:
    """Record one notification for the booking's user and one for the property's owner inbox."""
    body = {"booking_id": str(event.booking_id), "confirmation_code": event.confirmation_code,
            "reason": event.reason, "cancelled_at": event.cancelled_at.isoformat()}
    await conn.executemany(
        """INSERT INTO notifications (event_id, recipient_type, recipient_id, booking_id, kind, body)
           VALUES ($1, $2, $3, $4, 'booking_cancelled', $5)""",
        [(event.event_id, "user", event.user_id, event.booking_id, body),
         (event.event_id, "property_owner", event.resource_id, event.booking_id, body)],
    )


async def release_availability(conn: asyncpg.Connection, event: BookingCancelled) -> None:
    """Free the resource's period held by the cancelled booking."""
    await conn.execute(
        "UPDATE resource_reservations SET released_at = $2 WHERE booking_id = $1 AND released_at IS NULL",
        event.booking_id, event.cancelled_at,
    )


CONSUMER_EFFECTS = {
    "notifications": notify_user_and_owner,
    "property-management": release_availability,
}


def decode(record: ConsumerRecord) -> BookingCancelled | None:
    headers = dict(record.headers or ())
    if headers.get("event_type") != b"BookingCancelled":
        return None
    return BookingCancelled.model_validate(json.loads(record.value))


class BookingEventConsumer:
    """Consume booking-events in group `name` and apply CONSUMER_EFFECTS[name] once per event."""

    def __init__(self, name: str, database_url: str, bootstrap_servers: str):
        self.name = name
        self.effect = CONSUMER_EFFECTS[name]
        self.database_url = database_url
        self.bootstrap_servers = bootstrap_servers
        self.applied = 0
        self.duplicates = 0
        self._pool: asyncpg.Pool | None = None

    async def apply(self, event: BookingCancelled) -> bool:
        """Apply the effect unless this consumer already did; True if applied now."""
        async with self._pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                """INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
                   ON CONFLICT DO NOTHING RETURNING true""",
                self.name, event.event_id,
            )
            if not first:
                self.duplicates += 1
                return False
            await self.effect(conn, event)
        self.applied += 1
        return True

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            BOOKING_EVENTS_TOPIC, bootstrap_servers=self.bootstrap_servers,
            group_id=f"fleetray-{self.name}", enable_auto_commit=False,
            auto_offset_reset="earliest")
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for records in batches.values():
                    for record in records:
                        try:
                            event = decode(record)
                        except ValueError as exc:  # malformed: skip, never block the partition
                            log.error("consumer %s skipped malformed record at %s: %r",
                                      self.name, record.offset, exc)
                            continue
                        if event is not None:
                            await self.apply(event)
                if batches:
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def run(self) -> None:
        """Consume forever, reconnecting after broker or database failures."""
        while True:
            try:
                if self._pool is None:
                    self._pool = await create_pool(self.database_url, min_size=1, max_size=2)
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s failed, restarting: %r", self.name, exc)
                await asyncio.sleep(1)


@ray.remote(max_restarts=-1)
class BookingEventConsumerActor:
    def __init__(self, name: str, database_url: str, bootstrap_servers: str):
        self.consumer = BookingEventConsumer(name, database_url, bootstrap_servers)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self.consumer.run())

    async def stats(self) -> dict[str, Any]:
        return {"applied": self.consumer.applied, "duplicates": self.consumer.duplicates,
                "running": self._task is not None and not self._task.done()}
