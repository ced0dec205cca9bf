"""The booking outbox table: claim batches for relays, record outcomes, dead letters, cleanup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

MAX_PUBLISH_ATTEMPTS = 5
NOTIFY_CHANNEL = "booking_outbox"


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    event_id: str
    booking_id: str
    event_type: str
    payload: dict[str, Any]
    retry_count: int


async def claim_batch(conn: asyncpg.Connection, limit: int) -> list[OutboxEntry]:
    """Lock up to `limit` due, unprocessed rows, oldest first; other relays skip them.

    Must run inside a transaction: the row locks last until it ends.
    """
    rows = await conn.fetch(
        """SELECT id, event_id, booking_id, event_type, event_payload, retry_count
             FROM booking_outbox
            WHERE processed_at IS NULL AND next_attempt_at <= now()
            ORDER BY id
            LIMIT $1
              FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [
        OutboxEntry(r["id"], str(r["event_id"]), str(r["booking_id"]), r["event_type"],
                    r["event_payload"], r["retry_count"])
        for r in rows
    ]


async def mark_processed(conn: asyncpg.Connection, ids: list[int]) -> None:
    if ids:
        await conn.execute(
            "UPDATE booking_outbox SET processed_at = now() WHERE id = ANY($1::bigint[])", ids
        )


def backoff_seconds(attempt: int) -> float:
    """Exponential back-off between publish attempts of one row: 1, 2, 4, 8 ... capped at 60 s."""
    return float(min(60, 2 ** (attempt - 1)))


async def record_failure(conn: asyncpg.Connection, entry: OutboxEntry, error: str) -> bool:
    """Count a failed publish, then move the row to the dead-letter table once it has failed
    MAX_PUBLISH_ATTEMPTS times. Returns True when it was dead-lettered."""
    attempts = entry.retry_count + 1
    if attempts >= MAX_PUBLISH_ATTEMPTS:
        await conn.execute(
            """WITH moved AS (DELETE FROM booking_outbox WHERE id = $1 RETURNING *)
               INSERT INTO booking_outbox_dlq (id, event_id, booking_id, event_type, event_payload,
                                               created_at, retry_count, last_error)
               SELECT id, event_id, booking_id, event_type, event_payload, created_at, $2, $3
                 FROM moved""",
            entry.id, attempts, error,
        )
        return True
    await conn.execute(
        """UPDATE booking_outbox
              SET retry_count = $2, last_error = $3,
                  next_attempt_at = now() + make_interval(secs => $4)
            WHERE id = $1""",
        entry.id, attempts, error, backoff_seconds(attempts),
    )
    return False


async def replay_dead_letters(conn: asyncpg.Connection, event_ids: list[str] | None = None) -> int:
    """Move dead letters (all, or the given event ids) back into the outbox with a fresh retry
    budget; the event id is kept so consumers still de-duplicate. Returns how many moved."""
    async with conn.transaction():
        rows = await conn.fetch(
            """WITH moved AS (
                 DELETE FROM booking_outbox_dlq
                  WHERE $1::uuid[] IS NULL OR event_id = ANY($1::uuid[])
              RETURNING *)
               INSERT INTO booking_outbox (event_id, booking_id, event_type, event_payload, created_at)
               SELECT event_id, booking_id, event_type, event_payload, created_at FROM moved
               RETURNING id""",
            event_ids,
        )
    return len(rows)


async def delete_processed_older_than(conn: asyncpg.Connection, days: int = 30) -> int:
    result = await conn.execute(
        "DELETE FROM booking_outbox WHERE processed_at < now() - make_interval(days => $1)", days
    )
    return int(result.split()[-1])


@dataclass(frozen=True)
class OutboxStats:
    size: int
    lag_seconds: float
    dlq_size: int


async def outbox_stats(conn: asyncpg.Connection | asyncpg.Pool) -> OutboxStats:
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM booking_outbox WHERE processed_at IS NULL) AS size,
                  (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)
                     FROM booking_outbox WHERE processed_at IS NULL) AS lag,
                  (SELECT count(*) FROM booking_outbox_dlq) AS dlq"""
    )
    return OutboxStats(row["size"], float(row["lag"]), row["dlq"])
