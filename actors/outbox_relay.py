"""Outbox relay: drains one outbox table to its Kafka topic (the Watermill forwarder pattern).

Each batch is claimed with FOR UPDATE SKIP LOCKED inside a transaction that stays open until
the broker has acknowledged (acks=all) and the rows are marked processed, so several relays
never publish the same row in the normal case. A relay killed mid-batch leaves its rows
unprocessed; they are published again and consumers drop the duplicate by event id.

Failures are split in two: a broker that cannot be reached (a retriable Kafka error) is an
outage, so the relay backs off and the rows keep their retry budget; an error specific to a
message (too large, rejected) counts against that row, and after MAX_PUBLISH_ATTEMPTS the row
moves to the dead-letter table. Relays wake on LISTEN/NOTIFY and poll as a fallback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import asyncpg
import ray
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry.trace import SpanKind

from actors import metrics
from actors.background import BackgroundLoopActor
from actors.tracing import headers_with_context, span_in, start_tracing
from db import outbox
from db.pool import connect, create_pool

log = logging.getLogger(__name__)

MAX_OUTAGE_BACKOFF_SECONDS = 5.0
CLEANUP_SECONDS = 3600.0  # how often a relay deletes its outbox's old processed rows
RETENTION_DAYS = 30


def is_outage(exc: BaseException) -> bool:
    """A broker-level problem (not reachable, timed out, no leader) rather than a bad message."""
    return isinstance(exc, asyncio.TimeoutError) or (
        isinstance(exc, KafkaError) and getattr(exc, "retriable", False))


def kafka_record(entry: outbox.OutboxEntry) -> dict[str, Any]:
    """The Kafka message of an outbox row: key = the entity id (booking, vehicle), so one entity's
    events stay in order on one partition; headers carry the stored event id and, when traced,
    the current span's W3C trace context (traceparent)."""
    return {
        "key": entry.key.encode(),
        "value": json.dumps(entry.payload, separators=(",", ":")).encode(),
        "headers": headers_with_context(
            [("event_type", entry.event_type.encode()), ("event_id", entry.event_id.encode())]),
    }


class OutboxRelay:
    """The relay loop, independent of Ray so it can be driven directly in tests."""

    def __init__(self, database_url: str, bootstrap_servers: str,
                 table: outbox.OutboxTable = outbox.BOOKING_OUTBOX, *, batch_size: int = 100,
                 poll_seconds: float = 1.0, publish_timeout: float = 10.0,
                 max_request_size: int = 1_048_576, coalesce_seconds: float = 0.002):
        self.database_url = database_url
        self.bootstrap_servers = bootstrap_servers
        self.table = table
        self.metrics = metrics.OUTBOX_METRICS[table.name]
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.publish_timeout = publish_timeout
        self.max_request_size = max_request_size
        self.coalesce_seconds = coalesce_seconds
        self.published = 0
        self.dead_lettered = 0
        self.claims = 0  # claim transactions, and those that found no row (another relay took them)
        self.empty_claims = 0
        self._wake = asyncio.Event()
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._outage_backoff = 0.0

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers, acks="all", linger_ms=1,
                request_timeout_ms=int(self.publish_timeout * 1000),
                max_request_size=self.max_request_size, metadata_max_age_ms=outbox.TOPIC_METADATA_MAX_AGE_MS)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _reset_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:  # a broken producer may not stop cleanly; it is discarded anyway
                log.debug("producer stop failed", exc_info=True)

    async def _publish(self, entries: list[outbox.OutboxEntry]) -> list[BaseException | None]:
        """Send a batch and wait for the broker's acks; one outcome (None = acked) per entry."""
        try:
            producer = await self._ensure_producer()
        except Exception as exc:
            return [exc] * len(entries)
        outcomes: list[BaseException | None] = [None] * len(entries)
        pending: dict[asyncio.Future, int] = {}
        for i, entry in enumerate(entries):
            try:
                with span_in(entry.trace_context, f"{self.table.topic} publish", SpanKind.PRODUCER,
                             **{"messaging.system": "kafka", "messaging.destination.name": self.table.topic,
                                "messaging.message.id": entry.event_id}):
                    pending[await producer.send(self.table.topic, **kafka_record(entry))] = i
            except Exception as exc:  # rejected before sending, e.g. too large, or no metadata
                outcomes[i] = exc
        if pending:
            done, not_done = await asyncio.wait(pending, timeout=self.publish_timeout)
            for fut in done:
                outcomes[pending[fut]] = fut.exception()
            for fut in not_done:
                fut.cancel()
                outcomes[pending[fut]] = asyncio.TimeoutError("no ack from the broker in time")
        return outcomes

    async def drain_once(self) -> int:
        """Publish one batch; returns how many rows it settled (published or failed)."""
        if self._pool is None:
            self._pool = await create_pool(self.database_url, min_size=1, max_size=2)
        async with self._pool.acquire() as conn, conn.transaction():
            entries = await outbox.claim_batch(conn, self.table, self.batch_size)
            self.claims += 1
            if not entries:
                self.empty_claims += 1
                return 0
            outcomes = await self._publish(entries)
            done = [e.id for e, err in zip(entries, outcomes) if err is None]
            await outbox.mark_processed(conn, self.table, done)
            for entry, err in zip(entries, outcomes):
                if err is None:
                    self.metrics.published.inc(tags={"status": "success"})
                    self.metrics.retry_count.observe(entry.retry_count)
                    continue
                self.metrics.published.inc(tags={"status": "error"})
                if is_outage(err):
                    continue  # the row keeps its budget; the relay backs off below
                if await outbox.record_failure(conn, self.table, entry, repr(err)):
                    self.dead_lettered += 1
                    log.error("event %s moved to dead-letter table: %r", entry.event_id, err)
        self.published += len(done)
        if any(err is not None and is_outage(err) for err in outcomes):
            await self._reset_producer()
            self._outage_backoff = min(MAX_OUTAGE_BACKOFF_SECONDS, max(0.2, self._outage_backoff * 2))
            log.warning("broker unavailable; relay backs off %.1fs", self._outage_backoff)
            await asyncio.sleep(self._outage_backoff)
        else:
            self._outage_backoff = 0.0
        return len(entries)

    async def _listen_forever(self) -> None:
        """Keep a LISTEN connection open (reconnecting after database restarts)."""
        while True:
            try:
                conn = await connect(self.database_url)
                try:
                    await conn.add_listener(self.table.channel, lambda *_: self._wake.set())
                    self._wake.set()  # catch up on anything committed while not listening
                    while not conn.is_closed():
                        await asyncio.sleep(1)
                finally:
                    await conn.close()
            except Exception as exc:  # a database restart surfaces as any of a dozen asyncpg errors
                log.warning("outbox LISTEN connection lost: %r", exc)
                await asyncio.sleep(1)

    async def run(self) -> None:
        listener = asyncio.ensure_future(self._listen_forever())
        try:
            while True:
                # Cleared before draining: a NOTIFY that arrives mid-drain (for a row this
                # batch did not see) then ends the wait below at once instead of being lost.
                self._wake.clear()
                try:
                    settled = await self.drain_once()
                except Exception as exc:  # the database restarting or a command timing out: try again
                    log.warning("outbox drain failed: %r", exc)
                    await asyncio.sleep(1)
                    continue
                if settled >= self.batch_size:
                    continue  # more may be waiting
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                    await asyncio.sleep(self.coalesce_seconds)  # let concurrent commits join the batch
                except asyncio.TimeoutError:
                    pass
        finally:
            listener.cancel()
            await self._reset_producer()
            if self._pool is not None:
                await self._pool.close()


@ray.remote(max_restarts=-1)
class OutboxRelayActor(BackgroundLoopActor):
    """A relay as a Ray actor, restarted by Ray if it dies. Besides draining its outbox it deletes
    the rows published more than RETENTION_DAYS ago, hourly (idempotent, so every relay of a
    table may do it)."""

    def __init__(self, database_url: str, bootstrap_servers: str, table: outbox.OutboxTable,
                 batch_size: int, poll_seconds: float, otlp_endpoint: str | None = None):
        start_tracing(otlp_endpoint, "relay")
        self.relay = OutboxRelay(database_url, bootstrap_servers, table, batch_size=batch_size,
                                 poll_seconds=poll_seconds)
        self.start_when_constructed()

    async def loop(self) -> None:
        await asyncio.gather(self.relay.run(), self._clean_up_forever())

    async def _clean_up_forever(self) -> None:
        table = self.relay.table
        while True:
            try:
                conn = await connect(self.relay.database_url)
                try:
                    deleted = await outbox.delete_processed_older_than(conn, table, RETENTION_DAYS)
                finally:
                    await conn.close()
                log.info("%s cleanup deleted %d processed rows", table.name, deleted)
            except Exception:  # the database down or restarting: next hour
                log.warning("%s cleanup failed", table.name, exc_info=True)
            await asyncio.sleep(CLEANUP_SECONDS)

    async def stats(self) -> dict[str, Any]:
        return {"published": self.relay.published, "dead_lettered": self.relay.dead_lettered,
                "claims": self.relay.claims, "empty_claims": self.relay.empty_claims, "running": self.running}

    async def broker_reachable(self) -> bool:
        """True when the relay's producer can fetch cluster metadata right now."""
        try:
            producer = await asyncio.wait_for(self.relay._ensure_producer(), 3)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 3)
            return True
        except Exception:
            await self.relay._reset_producer()
            return False
