"""Kafka consumers of booking events, each in its own consumer group.

Every event is applied exactly once per consumer: the effect and a processed_events row
(consumer, event_id) commit in one transaction, and a redelivered event finds the row and is
skipped. Kafka offsets are committed only after the batch's transactions have committed, so a
crash redelivers rather than loses.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
import ray
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition
from opentelemetry.trace import SpanKind, StatusCode

from actors.background import BackgroundLoopActor
from actors.offset_gaps import OffsetGapGuard, log_ends
from actors.tracing import carrier_of_headers, start_span_in, start_tracing
from db.events import BookingCancelled
from db.outbox import BOOKING_EVENTS_TOPIC, TOPIC_METADATA_MAX_AGE_MS
from db.pool import create_pool
from db.processed_events import record_applied

log = logging.getLogger(__name__)

# How long the broker may hold a fetch open waiting for data: bounds consumer latency.
FETCH_MAX_WAIT_MS = 50
TRUNCATION_CHECK_SECONDS = 5.0


async def notify_users_and_owners(conn: asyncpg.Connection, events: list[BookingCancelled]) -> None:
    """Record one notification for each booking's user and one for its property owner's inbox."""
    rows = []
    for e in events:
        body = {"booking_id": str(e.booking_id), "confirmation_code": e.confirmation_code,
                "reason": e.reason, "cancelled_at": e.cancelled_at.isoformat()}
        rows += [(e.event_id, "user", e.user_id, e.booking_id, body),
                 (e.event_id, "property_owner", e.resource_id, e.booking_id, body)]
    await conn.execute(  # one statement for the batch, not one execution per row
        """INSERT INTO notifications (event_id, recipient_type, recipient_id, booking_id, kind, body)
           SELECT event_id, recipient_type, recipient_id, booking_id, 'booking_cancelled', body
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::jsonb[])
                  AS n(event_id, recipient_type, recipient_id, booking_id, body)""",
        *map(list, zip(*rows)))


async def release_availability(conn: asyncpg.Connection, events: list[BookingCancelled]) -> None:
    """Free the resource periods held by the cancelled bookings."""
    await conn.execute(
        """UPDATE resource_reservations r SET released_at = c.cancelled_at
             FROM unnest($1::uuid[], $2::timestamptz[]) AS c(booking_id, cancelled_at)
            WHERE r.booking_id = c.booking_id AND r.released_at IS NULL""",
        [e.booking_id for e in events], [e.cancelled_at for e in events])


CONSUMER_EFFECTS = {
    "notifications": notify_users_and_owners,
    "property-management": release_availability,
}


async def rewind_truncated_partitions(consumer: AIOKafkaConsumer) -> None:
    """Seek to the beginning of any partition whose log now ends before our position.

    That happens when a topic's log is truncated or recreated (the embedded in-memory broker
    after a restart, an unclean leader election). Brokers may answer such fetches with nothing
    rather than OFFSET_OUT_OF_RANGE, which would leave the consumer waiting forever; re-reading
    is safe because every event is de-duplicated by id. Only a partition fetched from since the
    consumer started is judged (ListOffsets alone undercounts on the embedded broker)."""
    fetched = [tp for tp in consumer.assignment() if consumer.highwater(tp) is not None]
    for tp, end in (await log_ends(consumer, fetched)).items():
        if await consumer.position(tp) > end:
            log.warning("partition %s was truncated (end %d); re-reading it from the start", tp, end)
            await consumer.seek_to_beginning(tp)


class PartitionsChanged(Exception):
    """The topic has another number of partitions than when the consumer joined its group."""


def partition_count(consumer: AIOKafkaConsumer) -> int:
    """How many partitions booking-events has, as the consumer's metadata last said."""
    return len(consumer.partitions_for_topic(BOOKING_EVENTS_TOPIC) or ())


def group_id(name: str) -> str:
    """The Kafka consumer group of the consumer named `name` (all its members share it)."""
    return f"fleetray-{name}"


async def group_lag(bootstrap_servers: str, name: str) -> int:
    """Records of booking-events the group has not committed yet, over all partitions (a
    partition it never committed counts from its first offset). The reader names the group to
    read its committed offsets, but subscribes to nothing, so it never joins it."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group_id(name), enable_auto_commit=False)
    await reader.start()
    try:
        await reader.topics()  # fetches the metadata partitions_for_topic reads
        partitions = [TopicPartition(BOOKING_EVENTS_TOPIC, p)
                      for p in sorted(reader.partitions_for_topic(BOOKING_EVENTS_TOPIC) or ())]
        ends = await reader.end_offsets(partitions)
        starts = await reader.beginning_offsets(partitions)
        committed = [await reader.committed(tp) for tp in partitions]
        return sum(max(0, ends[tp] - (starts[tp] if offset is None else offset))
                   for tp, offset in zip(partitions, committed))
    finally:
        await reader.stop()


def decode(record: ConsumerRecord) -> BookingCancelled | None:
    headers = dict(record.headers or ())
    if headers.get("event_type") != b"BookingCancelled":
        return None
    return BookingCancelled.model_validate_json(record.value)  # malformed: a ValidationError, a ValueError


class BookingEventConsumer:
    """Consume booking-events in group `name` and apply CONSUMER_EFFECTS[name] once per event."""

    def __init__(self, name: str, database_url: str, bootstrap_servers: str):
        self.name = name
        self.effect = CONSUMER_EFFECTS[name]
        self.database_url = database_url
        self.bootstrap_servers = bootstrap_servers
        self.applied = 0
        self.duplicates = 0
        self.transactions = 0  # applied / transactions: the mean batch
        self._pool: asyncpg.Pool | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.gaps = OffsetGapGuard(f"consumer {name}")

    async def positions(self) -> dict[int, int]:
        """partition -> next offset to read, for the partitions assigned to this consumer now."""
        consumer = self._consumer
        if consumer is None:
            return {}
        return {tp.partition: await consumer.position(tp) for tp in sorted(consumer.assignment())}

    async def apply(self, events: list[BookingCancelled]) -> int:
        """Apply the effect to the events this consumer has not applied yet, in one
        transaction with their processed_events rows; returns how many were new."""
        async with self._pool.acquire() as conn, conn.transaction():
            fresh_ids = await record_applied(conn, self.name, [e.event_id for e in events])
            fresh = [e for e in events if e.event_id in fresh_ids]
            if fresh:
                await self.effect(conn, fresh)
        self.applied += len(fresh)
        self.duplicates += len(events) - len(fresh)
        self.transactions += 1
        return len(fresh)

    async def _apply_traced(self, events: list[BookingCancelled], carriers: dict[uuid.UUID, dict | None]) -> None:
        """apply(), in one span per traced event: each continues the trace of its record."""
        spans = [start_span_in(carriers[e.event_id], f"{self.name} apply", SpanKind.CONSUMER,
                               **{"messaging.system": "kafka", "messaging.destination.name": BOOKING_EVENTS_TOPIC,
                                  "messaging.consumer.group.name": group_id(self.name),
                                  "messaging.message.id": str(e.event_id)})
                 for e in events]
        try:
            await self.apply(events)
        except BaseException as exc:
            for span in filter(None, spans):
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR)
            raise
        finally:
            for span in filter(None, spans):
                span.end()

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            BOOKING_EVENTS_TOPIC, bootstrap_servers=self.bootstrap_servers,
            group_id=group_id(self.name), enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            metadata_max_age_ms=TOPIC_METADATA_MAX_AGE_MS)
        await consumer.start()
        self._consumer = consumer
        self.gaps.follow(consumer)
        loop = asyncio.get_running_loop()
        next_check = loop.time() + TRUNCATION_CHECK_SECONDS
        joined_with = 0  # partitions of the topic when this consumer first held some
        try:
            while True:
                batches = await self.gaps.getmany(timeout_ms=500, max_records=500)
                # A topic given more partitions (the system controller remakes one a broker
                # created with too few) must be read in full. Kafka's group leader would assign
                # them after its next metadata refresh; the embedded broker answers that rejoin
                # with the old assignment, so the consumer leaves the group and joins afresh.
                if consumer.assignment():
                    partitions = partition_count(consumer)
                    joined_with = joined_with or partitions
                    if partitions != joined_with:
                        raise PartitionsChanged(f"{BOOKING_EVENTS_TOPIC} has {partitions} partitions, "
                                                f"not {joined_with}: joining the group again")
                if not batches and loop.time() >= next_check:
                    await rewind_truncated_partitions(consumer)
                    next_check = loop.time() + TRUNCATION_CHECK_SECONDS
                events, carriers = [], {}
                for records in batches.values():
                    for record in records:
                        try:
                            event = decode(record)
                        except ValueError as exc:  # malformed: skip, never block the partition
                            log.error("consumer %s skipped malformed record at %s: %r",
                                      self.name, record.offset, exc)
                            continue
                        if event is not None:
                            events.append(event)
                            carriers[event.event_id] = carrier_of_headers(record.headers)
                unique = list({e.event_id: e for e in events}.values())  # a batch may hold a redelivery
                if unique:
                    await self._apply_traced(unique, carriers)
                # Commit exactly what was applied, and the ends the guard moved past records the
                # broker never served. A bare commit() would also store the positions of idle
                # partitions, which after a broker lost its log are stale and would be handed
                # back on the next rebalance.
                done = self.gaps.take_passed_ends() | {
                    tp: records[-1].offset + 1 for tp, records in batches.items() if records}
                if done:
                    await consumer.commit(done)
        finally:
            self._consumer = None
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
class BookingEventConsumerActor(BackgroundLoopActor):
    def __init__(self, name: str, database_url: str, bootstrap_servers: str, otlp_endpoint: str | None = None):
        start_tracing(otlp_endpoint, "consumer")
        self.consumer = BookingEventConsumer(name, database_url, bootstrap_servers)
        self.start_when_constructed()

    def loop(self):
        return self.consumer.run()

    async def stats(self) -> dict[str, Any]:
        return {"applied": self.consumer.applied, "duplicates": self.consumer.duplicates,
                "transactions": self.consumer.transactions,
                "refetched": self.consumer.gaps.refetched, "running": self.running,
                "positions": await self.consumer.positions()}
