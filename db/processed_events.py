"""What each reader of an outbox's topic has applied, by event id (processed_events): a reader
de-duplicates by it, and the delivery audit (db/delivery_audit.py) compares it with what the
outbox published."""

from __future__ import annotations

import uuid

import asyncpg


async def record_applied(conn: asyncpg.Connection | asyncpg.Pool, reader: str,
                         event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Record `event_ids` as applied by `reader`; returns those it had not applied before. In a
    transaction with the effect, the effect happens once per event."""
    return {r["event_id"] for r in await conn.fetch(
        """INSERT INTO processed_events (consumer, event_id)
           SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id""", reader, event_ids)}
