"""Transactional outboxes: claim batches for relays, record outcomes, dead letters, cleanup.

Two outboxes share one shape (see migrations 0001 and 0004): booking events and vehicle alerts.
Each is described by an OutboxTable; its dead-letter table and NOTIFY channel follow its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

BOOKING_EVENTS_TOPIC = "booking-events"
VEHICLE_ALERTS_TOPIC = "vehicle-alerts"
# How soon a client of these topics sees partitions added to them (by the system controller,
# after a broker lost a topic and remade it with too few, or by an operator): a consumer holds
# no partition it has not seen, so its group would never read what is published there.
# aiokafka's default is 5 minutes.
TOPIC_METADATA_MAX_AGE_MS = 5_000
MAX_PUBLISH_ATTEMPTS = 5


@dataclass(frozen=True)
class OutboxTable:
    """One outbox: rows of `name` are published to `topic`, keyed by `key_column`."""

    name: str
    key_column: str
    topic: str

    @property
    def dlq(self) -> str:
        return f"{self.name}_dlq"

    @property
    def channel(self) -> str:
        """The NOTIFY channel its insert trigger signals."""
        return self.name


BOOKING_OUTBOX = OutboxTable("booking_outbox", "booking_id", BOOKING_EVENTS_TOPIC)
VEHICLE_ALERT_OUTBOX = OutboxTable("vehicle_alert_outbox", "vehicle_id", VEHICLE_ALERTS_TOPIC)
OUTBOXES = {"bookings": BOOKING_OUTBOX, "alerts": VEHICLE_ALERT_OUTBOX}


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    event_id: str
    key: str
    event_type: str
    payload: dict[str, Any]
    retry_count: int
    trace_context: dict[str, str] | None = None  # W3C, of the transaction that wrote the event


async def insert_events(conn: asyncpg.Connection, table: OutboxTable,
                        events: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    """Add events as (event_id, key, event_type, payload); call inside the transaction that
    makes the change they describe, so both commit or neither does."""
    if events:
        await conn.executemany(
            f"""INSERT INTO {table.name} (event_id, {table.key_column}, event_type, event_payload)
                VALUES ($1, $2, $3, $4)""",
            events)


async def claim_batch(conn: asyncpg.Connection, table: OutboxTable, limit: int) -> list[OutboxEntry]:
    """Lock up to `limit` due, unprocessed rows, oldest first; other relays skip them.

    Must run inside a transaction: the row locks last until it ends.
    """
    rows = await conn.fetch(
        f"""SELECT id, event_id, {table.key_column} AS key, event_type, event_payload, retry_count,
                   trace_context
              FROM {table.name}
             WHERE processed_at IS NULL AND next_attempt_at <= now()
             ORDER BY id
             LIMIT $1
               FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [
        OutboxEntry(r["id"], str(r["event_id"]), str(r["key"]), r["event_type"],
                    r["event_payload"], r["retry_count"], r["trace_context"])
        for r in rows
    ]


async def mark_processed(conn: asyncpg.Connection, table: OutboxTable, ids: list[int]) -> None:
    """processed_at is the moment of marking (clock_timestamp), not the transaction's start
    (now()), which precedes the publish by as long as the broker took: the delivery audit
    (db/delivery_audit.py) reads rows by processed_at and must not find one dated before the
    last time it looked."""
    if ids:
        await conn.execute(
            f"UPDATE {table.name} SET processed_at = clock_timestamp() WHERE id = ANY($1::bigint[])", ids)


def backoff_seconds(attempt: int) -> float:
    """Exponential back-off between publish attempts of one row: 1, 2, 4, 8 ... capped at 60 s."""
    return float(min(60, 2 ** (attempt - 1)))


async def record_failure(conn: asyncpg.Connection, table: OutboxTable, entry: OutboxEntry,
                         error: str) -> bool:
    """Count a failed publish, then move the row to the dead-letter table once it has failed
    MAX_PUBLISH_ATTEMPTS times. Returns True when it was dead-lettered."""
    attempts = entry.retry_count + 1
    if attempts >= MAX_PUBLISH_ATTEMPTS:
        await conn.execute(
            f"""WITH moved AS (DELETE FROM {table.name} WHERE id = $1 RETURNING *)
                INSERT INTO {table.dlq} (id, event_id, {table.key_column}, event_type, event_payload,
                                         created_at, retry_count, last_error, trace_context)
                SELECT id, event_id, {table.key_column}, event_type, event_payload, created_at, $2, $3,
                       trace_context
                  FROM moved""",
            entry.id, attempts, error,
        )
        return True
    await conn.execute(
        f"""UPDATE {table.name}
               SET retry_count = $2, last_error = $3,
                   next_attempt_at = now() + make_interval(secs => $4)
             WHERE id = $1""",
        entry.id, attempts, error, backoff_seconds(attempts),
    )
    return False


async def replay_dead_letters(conn: asyncpg.Connection, table: OutboxTable,
                              event_ids: list[str] | None = None) -> int:
    """Move dead letters (all, or the given event ids) back into the outbox with a fresh retry
    budget; the event id is kept so consumers still de-duplicate. Returns how many moved."""
    async with conn.transaction():
        rows = await conn.fetch(
            f"""WITH moved AS (
                  DELETE FROM {table.dlq}
                   WHERE $1::uuid[] IS NULL OR event_id = ANY($1::uuid[])
               RETURNING *)
                INSERT INTO {table.name} (event_id, {table.key_column}, event_type, event_payload, created_at,
                                          trace_context)
                SELECT event_id, {table.key_column}, event_type, event_payload, created_at, trace_context
                  FROM moved
                RETURNING id""",
            event_ids,
        )
    return len(rows)


async def delete_processed_older_than(conn: asyncpg.Connection, table: OutboxTable, days: int = 30) -> int:
    result = await conn.execute(
        f"DELETE FROM {table.name} WHERE processed_at < now() - make_interval(days => $1)", days)
    return int(result.split()[-1])


@dataclass(frozen=True)
class OutboxStats:
    size: int
    lag_seconds: float
    dlq_size: int


async def outbox_stats(conn: asyncpg.Connection | asyncpg.Pool, table: OutboxTable) -> OutboxStats:
    row = await conn.fetchrow(
        f"""SELECT (SELECT count(*) FROM {table.name} WHERE processed_at IS NULL) AS size,
                   (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)
                      FROM {table.name} WHERE processed_at IS NULL) AS lag,
                   (SELECT count(*) FROM {table.dlq}) AS dlq"""
    )
    return OutboxStats(row["size"], float(row["lag"]), row["dlq"])
